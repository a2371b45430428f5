package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
)

// Request bodies, for both parsers (every request with a body is read by
// net/http's parser, and proxyParsed calls these): client_max_body_size
// (413), and with request_buffering on (the default, nginx's
// proxy_request_buffering on) the whole body read before the app is
// contacted — in memory up to client_body_buffer_size, the rest in a
// temporary file in a private directory (0700), the file 0600 and unlinked
// as soon as it is created — then sent with its Content-Length, even when
// the client chunked it. Many apps behind a load balancer (Unicorn, Puma,
// gunicorn's sync workers, PHP-FPM) have a handful of workers: a client
// that trickles a body must hold none of them.

// errBodyTooLarge: the body exceeds client_max_body_size (413).
var errBodyTooLarge = errors.New("proxy: request body over client_max_body_size")

// bufferedBody is a request body read whole: the first
// client_body_buffer_size bytes in mem, the rest in file.
type bufferedBody struct {
	mem  []byte
	file *os.File // nil while the body fits in memory
	size int64
	rd   bytes.Reader
}

var bufferedBodies = sync.Pool{New: func() any {
	return &bufferedBody{mem: make([]byte, 0, DefaultClientBodyBufferSize)}
}}

// bodyTemp is the private directory of buffered bodies' files, created
// once per process (os.MkdirTemp: mode 0700, in $TMPDIR; the systemd
// unit's PrivateTmp makes it the service's own).
var bodyTemp struct {
	once sync.Once
	dir  string
	err  error
}

// spareBodyFiles keeps a few emptied body files (truncated to nothing) for
// the next large bodies: creating and unlinking a file costs two directory
// updates per request.
var spareBodyFiles = make(chan *os.File, 32)

// bodyTempFile creates a temporary file (mode 0600) and unlinks it at
// once: nothing else can open it, and it goes when it is closed, whatever
// happens to the process. An emptied spare one is taken first.
func bodyTempFile() (*os.File, error) {
	select {
	case file := <-spareBodyFiles:
		return file, nil
	default:
	}
	bodyTemp.once.Do(func() {
		bodyTemp.dir, bodyTemp.err = os.MkdirTemp("", "elbguard-proxy-bodies-")
	})
	if bodyTemp.err != nil {
		return nil, fmt.Errorf("create request body directory: %w", bodyTemp.err)
	}
	file, err := os.CreateTemp(bodyTemp.dir, "body-")
	if err != nil {
		return nil, fmt.Errorf("create request body file: %w", err)
	}
	if err := os.Remove(file.Name()); err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("unlink request body file: %w", err)
	}
	return file, nil
}

// bufferBody reads body whole (bufferedBody), bounded by
// client_max_body_size. On error the client's failure is in body (err,
// expired, malformed, tooLarge) unless the temporary file failed.
func bufferBody(body *clientBody, memMax int) (*bufferedBody, error) {
	bb := bufferedBodies.Get().(*bufferedBody)
	if cap(bb.mem) < memMax {
		bb.mem = make([]byte, 0, memMax)
	}
	mem := bb.mem[:0]
	var spill *[]byte
	defer func() {
		if spill != nil {
			copyBufs.Put(spill)
		}
	}()
	for {
		var n int
		var err error
		if len(mem) < memMax {
			n, err = body.Read(mem[len(mem):memMax])
			mem = mem[:len(mem)+n]
		} else {
			if bb.file == nil {
				if bb.file, err = bodyTempFile(); err != nil {
					bb.mem = mem
					bb.close()
					return nil, err
				}
				spill = copyBufs.Get().(*[]byte)
			}
			n, err = body.Read(*spill)
			if n > 0 {
				if _, werr := bb.file.Write((*spill)[:n]); werr != nil {
					bb.mem = mem
					bb.close()
					return nil, fmt.Errorf("write request body file: %w", werr)
				}
			}
		}
		bb.size += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bb.mem = mem
			bb.close()
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
	bb.mem = mem
	if bb.file != nil {
		if _, err := bb.file.Seek(0, io.SeekStart); err != nil {
			bb.close()
			return nil, fmt.Errorf("rewind request body file: %w", err)
		}
	}
	return bb, nil
}

// reader reads the buffered body from its start.
func (bb *bufferedBody) reader() io.Reader {
	bb.rd.Reset(bb.mem)
	if bb.file == nil {
		return &bb.rd
	}
	return io.MultiReader(&bb.rd, bb.file)
}

// close releases the memory and the file.
func (bb *bufferedBody) close() {
	if bb.file != nil {
		spare := false
		if bb.file.Truncate(0) == nil {
			if _, err := bb.file.Seek(0, io.SeekStart); err == nil {
				select {
				case spareBodyFiles <- bb.file:
					spare = true
				default:
				}
			}
		}
		if !spare {
			_ = bb.file.Close()
		}
		bb.file = nil
	}
	bb.rd.Reset(nil)
	bb.size = 0
	bb.mem = bb.mem[:0]
	bufferedBodies.Put(bb)
}

// tooLargeDeclared reports a Content-Length over client_max_body_size:
// refused before a byte of the body is read (and before a 100 Continue).
func tooLargeDeclared(framing bodyFraming, st *listenerState) bool {
	return !framing.chunked && framing.length > st.cfg.ClientMaxBodySize
}

// answerBodyError answers a client whose body failed, on either path
// (buffered or streamed): 413 over client_max_body_size, 408 after
// body_timeout, 400 for a broken framing, nothing when the client went
// away. The connection closes: the rest of the body is still on it.
func (l *listener) answerBodyError(f *httpConn, body *clientBody) (int, int64, bool) {
	switch {
	case body.tooLarge:
		s, n := l.refuse(f, "body_too_large", http.StatusRequestEntityTooLarge, http.StatusText(http.StatusRequestEntityTooLarge))
		return s, n, false
	case body.expired:
		s, n := l.answer(f, http.StatusRequestTimeout, http.StatusText(http.StatusRequestTimeout), false, false)
		return s, n, false
	case body.malformed:
		s, n := l.refuse(f, "bad_body", http.StatusBadRequest, http.StatusText(http.StatusBadRequest))
		return s, n, false
	}
	return StatusClientClosed, 0, false
}
