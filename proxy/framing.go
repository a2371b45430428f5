package proxy

import (
	"bytes"
	"sync"
)

// framingTracker follows the request framing of the bytes a connection
// feeds net/http, so that each handler can tell whether its request head
// carried both Content-Length and Transfer-Encoding: net/http drops the
// Content-Length of such a request before any handler sees it, and RFC 9112
// §6.1 wants it refused. It reads what net/http reads, in the same order,
// whatever the segmentation: a head split across reads, or behind a
// pipelined request and its body. It parses heads (lines end in LF, CR
// optional, as net/http reads them), then skips bodies by their framing
// (chunked when Transfer-Encoding is present, else Content-Length bytes).
// Each head queues one verdict; the handler of that request takes it
// (conflicting). When it loses track (a line over framingMaxLine that
// matters, a chunk size it cannot read: input net/http refuses too), every
// later verdict is "conflicting", so nothing it cannot vouch for passes.
type framingTracker struct {
	mu       sync.Mutex // Write (net/http's reader) and conflicting (its handler) run in turn, but on other goroutines for a background read
	state    framingState
	line     []byte // the current line, up to framingMaxLine bytes
	long     bool   // the current line exceeded framingMaxLine
	first    bool   // the current head's next line is its request line
	skip     bool   // the current head is "OPTIONS *", which net/http answers without our handler
	cl, te   bool   // the current head's Content-Length and Transfer-Encoding lines
	length   int64  // the current head's Content-Length
	remain   int64  // body bytes left (framingBody, framingChunkData)
	verdicts []bool // one per head not yet taken by a handler: both framings
	lost     bool
}

type framingState uint8

const (
	framingHead      framingState = iota // request line and header lines
	framingBody                          // remain bytes of a Content-Length body
	framingChunkSize                     // a chunk-size line
	framingChunkData                     // remain bytes of chunk data
	framingChunkEnd                      // the CRLF after chunk data
	framingTrailers                      // trailer lines up to an empty line
)

// framingMaxLine bounds the bytes of a line kept: enough for any
// Content-Length or chunk-size line net/http accepts (it trims only
// spaces and tabs around values; longer lines with those names are lost).
const framingMaxLine = 256

func newFramingTracker() *framingTracker {
	return &framingTracker{first: true}
}

// Write feeds bytes net/http read.
func (t *framingTracker) Write(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(b) > 0 && !t.lost {
		switch t.state {
		case framingBody, framingChunkData:
			n := int64(len(b))
			if n > t.remain {
				n = t.remain
			}
			t.remain -= n
			b = b[n:]
			if t.remain == 0 {
				if t.state == framingBody {
					t.state = framingHead
				} else {
					t.state = framingChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(b, '\n')
			chunk := b
			if i >= 0 {
				chunk = b[:i]
			}
			if room := framingMaxLine - len(t.line); room > 0 {
				t.line = append(t.line, chunk[:min(room, len(chunk))]...)
			}
			if len(t.line)+len(chunk) > framingMaxLine {
				t.long = true
			}
			if i < 0 {
				return
			}
			b = b[i+1:]
			line := bytes.TrimSuffix(t.line, []byte("\r"))
			t.endLine(line)
			t.line, t.long = t.line[:0], false
		}
	}
}

// endLine handles one complete line (without its line end) outside bodies.
func (t *framingTracker) endLine(line []byte) {
	switch t.state {
	case framingHead:
		if t.first {
			t.first = false
			t.skip = bytes.HasPrefix(line, []byte("OPTIONS * "))
			return
		}
		if len(line) == 0 && !t.long {
			t.endHead()
			return
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || line[0] == ' ' || line[0] == '\t' {
			return // obs-fold continuation or malformed (net/http refuses the latter)
		}
		name := string(line[:colon]) // compared, not kept
		switch {
		case equalFold(name, "content-length"):
			if t.long {
				t.lost = true
				return
			}
			if !t.cl { // net/http refuses differing values; equal ones are one
				n, ok := parseUnsigned(bytes.Trim(line[colon+1:], " \t"), 10)
				if !ok {
					t.lost = true // net/http answers 400 and closes
					return
				}
				t.length = n
			}
			t.cl = true
		case equalFold(name, "transfer-encoding"):
			t.te = true
		}
	case framingChunkSize:
		size := line
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i]
		}
		n, ok := parseUnsigned(bytes.Trim(size, " \t"), 16)
		if !ok || t.long {
			t.lost = true
			return
		}
		if n == 0 {
			t.state = framingTrailers
			return
		}
		t.remain, t.state = n, framingChunkData
	case framingChunkEnd:
		if len(line) != 0 {
			t.lost = true
			return
		}
		t.state = framingChunkSize
	case framingTrailers:
		if len(line) == 0 && !t.long {
			t.state = framingHead
			t.first = true
		}
	}
}

func (t *framingTracker) endHead() {
	if !t.skip {
		t.verdicts = append(t.verdicts, t.cl && t.te)
	}
	switch {
	case t.te:
		t.state = framingChunkSize
	case t.cl && t.length > 0:
		t.state, t.remain = framingBody, t.length
	}
	t.first, t.skip, t.cl, t.te, t.length = true, false, false, false, 0
}

// conflicting takes the verdict of the oldest head not yet taken: whether
// it carried both Content-Length and Transfer-Encoding (or the tracker
// cannot tell). Each handler call takes exactly one.
func (t *framingTracker) conflicting() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verdicts) == 0 {
		return true // lost, or a head it never saw: it cannot vouch for it
	}
	v := t.verdicts[0]
	t.verdicts = t.verdicts[1:]
	return v
}
