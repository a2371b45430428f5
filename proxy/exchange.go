package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// The exchange with the upstream, for both parsers: a pooled connection
// (transport.go), the request head (request.go) and body, and the answer
// relayed as read (relayResponse, with response.go's rules).

// fastProxy relays one request the fast path parsed to the upstream and
// its response back. It returns the status, body bytes sent and whether
// the connection stays open.
func (l *listener) fastProxy(f *httpConn, head []byte, st *listenerState, keepAlive bool) (int, int64, bool) {
	out := l.fastRequest(f, head, st, nil)
	isHead := f.head.method.end == 4
	_, _ = f.br.Discard(f.head.size)
	return l.relay(f, out, nil, st, isHead, false, keepAlive, true)
}

// fastRequest builds the upstream request head of the request f.head
// parsed in head, in f.out (request.go's writer).
func (l *listener) fastRequest(f *httpConn, head []byte, st *listenerState, upgrade []byte) []byte {
	h := &f.head
	out := appendRequestLine(f.out[:0], head[h.method.start:h.method.end], head[h.target.start:h.target.end], st)
	out = appendSpanFields(out, head, h.fwd[:h.nfwd], h.order[:h.nfwd])
	out = appendRequestTail(out, st, f.fc, upgrade, noBodyFraming)
	f.out = out
	return out
}

// relay runs one exchange with the upstream for either parser: the head
// out, the body (nil: none), the answer relayed by relayResponse. A
// replayable request (an idempotent method, no body) whose pooled
// connection turns out stale is retried once (retryOnFresh). dechunk: the
// client speaks HTTP/1.0 (no chunked answers).
func (l *listener) relay(f *httpConn, out []byte, body *clientBody, st *listenerState, isHead, dechunk, keepAlive, replayable bool) (int, int64, bool) {
	t := st.transport
	defer l.upstreamDone(f, time.Now(), len(out), body)
	for attempt := 0; ; attempt++ {
		uc, reused, err := t.get(context.Background(), attempt > 0)
		if err != nil {
			return l.answerUpstreamError(f, st, err, keepAlive && body == nil)
		}
		f.upstream.Store(uc) // closed by a hard close (wakeIdleConns) if the app stalls
		status, sent, ok, err := l.exchange(f, uc, st, out, body, isHead, dechunk, keepAlive)
		f.upstream.Store(nil)
		if err == nil {
			return status, sent, ok
		}
		_ = uc.c.Close()
		if errors.Is(err, errClientGone) {
			return StatusClientClosed, 0, false
		}
		if body != nil && body.err != nil { // the client failed, not the app
			return l.answerBodyError(f, body)
		}
		if retryOnFresh(replayable, reused, attempt, err) {
			continue
		}
		if status != 0 { // the response had started: nothing more can be sent
			return status, sent, false
		}
		return l.answerUpstreamError(f, st, err, keepAlive && (body == nil || body.done))
	}
}

// exchange writes the request (head, then body) on uc, reads the response
// head and streams the response. A non-nil error with status 0 means
// nothing was sent to the client.
func (l *listener) exchange(f *httpConn, uc *upConn, st *listenerState, out []byte, body *clientBody, isHead, dechunk, keepAlive bool) (int, int64, bool, error) {
	t := st.transport
	readTimeout := st.cfg.upstreamReadTimeout()
	// upstream_timeout counts from here, or from the body's end; the waits
	// for the answer are upstreamReader's.
	uc.rd.arm(f, t.headerTimeout, readTimeout, time.Now())
	released := false
	defer func() {
		if !released {
			uc.rd.disarm()
		}
	}()
	if _, err := uc.bw.Write(out); err != nil {
		return 0, 0, false, errUpstreamClosed
	}
	early := false // the app answered before it read the whole body
	if body != nil {
		// The head goes first, so that the app sees the request while the
		// body streams.
		if err := uc.bw.Flush(); err != nil {
			return 0, 0, false, errUpstreamClosed
		}
		if err := sendBody(uc, body, t.headerTimeout); err != nil {
			// An app may answer an upload before reading it (401, 413) and
			// stop reading: its answer, already sent, is relayed (as
			// httputil.ReverseProxy did), and neither connection is reused.
			if body.err != nil || !uc.answered() {
				return 0, 0, false, fmt.Errorf("send request body: %w", err)
			}
			early, keepAlive = true, false
		}
		uc.rd.arm(f, t.headerTimeout, readTimeout, time.Now())
	}
	if !early {
		if err := uc.bw.Flush(); err != nil {
			return 0, 0, false, errUpstreamClosed
		}
	}
	var rh respHead
	interimUnknown := false // a 1xx whose end is unknown (ignoredBody): no reuse
	for {
		b, err := readFastHead(uc.br)
		if err != nil {
			switch {
			case errors.Is(err, errNotFast):
				return 0, 0, false, errors.New("proxy: upstream response head over 4 KiB or with bare LF line ends")
			case uc.br.Buffered() == 0 && (errors.Is(err, io.EOF) || isConnReset(err)):
				return 0, 0, false, errUpstreamClosed // nothing of an answer: a stale pooled connection
			}
			return 0, 0, false, fmt.Errorf("read answer head: %w", err)
		}
		if err := parseRespHead(b, &rh, false); err != nil {
			return 0, 0, false, err
		}
		if rh.status >= 200 {
			break
		}
		interimUnknown = interimUnknown || ignoredBody(false, rh.status, rh.length, rh.chunked)
		_, _ = uc.br.Discard(rh.size) // 1xx informational: not relayed
	}
	uc.rd.headRead()
	sent, keepAlive, reuse, err := l.relayResponse(f, uc.br, &rh, st, isHead, dechunk, keepAlive)
	if errors.Is(err, errNothingSent) {
		return 0, 0, false, err // answered 502 by relay
	}
	if err != nil {
		// Upstream or client failed mid-body: neither connection is reusable.
		_ = uc.c.Close()
		return rh.status, sent, false, nil //nolint:nilerr // the response has started: nothing to report to the client but a closed connection
	}
	// Disarmed before the pool may hand the connection to another
	// exchange: a disarm after would end that one's waits (its client
	// checks and upstream_read_timeout), and raced with it.
	uc.rd.disarm()
	released = true
	t.release(uc, reuse && !early && !interimUnknown)
	return rh.status, sent, keepAlive, nil
}

// errNothingSent: the app's answer turned out broken (errBadResponse)
// before any byte of it reached the client, who gets a 502 instead.
var errNothingSent = fmt.Errorf("%w, before anything was sent to the client", errBadResponse)

// clientCheck is how often a client is looked at while a read of the app's
// answer waits (upstreamread.go), head or streamed body: one that closed
// or reset its connection ends the exchange
// (499 in the log, the app's connection closed, as net/http's Server
// cancels the request and nginx ends it), so a long poll whose client left
// does not hold a worker of the app until it answers.
const clientCheck = time.Second

// errClientGone: the client closed its connection while the app had not
// answered.
var errClientGone = errors.New("proxy: the client went away before the app answered")

// sendBody copies a request body to the upstream in the framing its head
// announced. Each read from the client waits at most body_timeout
// (clientBody), each write to the upstream at most timeout.
func sendBody(uc *upConn, b *clientBody, timeout time.Duration) error {
	var w io.Writer = uc.bw
	var cw io.WriteCloser
	if b.chunked {
		cw = httputil.NewChunkedWriter(uc.bw)
		w = cw
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := b.Read(buf)
		if n > 0 {
			if timeout > 0 {
				_ = uc.c.SetWriteDeadline(time.Now().Add(timeout))
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if werr := uc.bw.Flush(); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if cw != nil {
		if err := cw.Close(); err != nil {
			return err
		}
		if _, err := uc.bw.WriteString("\r\n"); err != nil { // no trailers
			return err
		}
	}
	return nil
}

// copyBufs lends 32 KiB copy buffers to request bodies.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relayResponse writes the response head parsed in rh (still buffered in
// br) and its body to the client. It reports the body bytes, whether the
// client connection stays open and whether the upstream one can be reused.
//
// dechunk is for an HTTP/1.0 client, which cannot read a chunked body:
// the body goes without its chunking, Transfer-Encoding and Trailer, and
// the connection closes after it.
func (l *listener) relayResponse(f *httpConn, br *bufio.Reader, rh *respHead, st *listenerState, isHead, dechunk, keepAlive bool) (int64, bool, bool, error) {
	b, _ := br.Peek(rh.size)
	noBody := isHead || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified
	untilEOF := !noBody && !rh.chunked && rh.length < 0
	dechunk = dechunk && rh.chunked && !noBody
	if untilEOF || dechunk {
		keepAlive = false
	}
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(b[rh.statusLine.start:rh.statusLine.end])
	_, _ = bw.WriteString("\r\n")
	for _, k := range rh.relay[:rh.nrelay] {
		if dechunk && chunkingField(b[k.start:k.end]) {
			continue
		}
		_, _ = bw.Write(b[k.start:k.end])
	}
	if st.hstsVal != nil { // response.go's rules: the listener's HSTS replaces the app's
		_, _ = bw.WriteString("Strict-Transport-Security: ")
		_, _ = bw.WriteString(st.hstsVal[0])
		_, _ = bw.WriteString("\r\n")
	} else {
		for _, k := range rh.hsts[:rh.nhsts] {
			_, _ = bw.Write(b[k.start:k.end])
		}
	}
	if !keepAlive {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	_, _ = br.Discard(rh.size)

	var sent int64
	var err error
	switch {
	case noBody:
	case dechunk:
		sent, err = copyStream(bw, br, httputil.NewChunkedReader(br))
	case rh.chunked:
		before := bw.Buffered() // the head, nothing of it flushed yet
		var written int64
		sent, written, err = copyChunked(bw, br)
		if errors.Is(err, errBadResponse) && int64(bw.Buffered()) == int64(before)+written {
			// Broken before anything reached the client: nothing is sent
			// and the client gets the proxy's 502 instead.
			bw.Reset(f.fc)
			return 0, keepAlive, false, fmt.Errorf("relay chunked answer: %w", errNothingSent)
		}
	case rh.length >= 0:
		sent, err = io.CopyN(bw, br, rh.length)
	default:
		sent, err = copyStream(bw, br, struct{ io.Reader }{br}) // Read by Read: br's WriteTo would write before its buffer is consumed
	}
	if err != nil {
		_ = bw.Flush()
		return sent, false, false, err
	}
	if ferr := bw.Flush(); ferr != nil {
		keepAlive = false
	}
	return sent, keepAlive, !rh.close && !untilEOF && !dechunk && !ignoredBody(isHead, rh.status, rh.length, rh.chunked), nil
}

// copyStream copies a body of unknown length (until EOF, or de-chunked
// from br) to the client as the app sends it: whenever br holds nothing
// more, what was written is flushed (the streaming rule, copyChunked's
// too: a stream, server-sent events or a long poll, is not held until
// 4 KiB pile up).
func copyStream(bw *bufio.Writer, br *bufio.Reader, src io.Reader) (int64, error) {
	if br.Buffered() == 0 {
		if err := bw.Flush(); err != nil { // the head, before waiting for the body
			return 0, err
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(streamWriter{bw, br}, src, *bp)
}

// streamWriter flushes bw after a write when br has nothing more buffered
// (copyStream).
type streamWriter struct {
	bw *bufio.Writer
	br *bufio.Reader
}

func (s streamWriter) Write(p []byte) (int, error) {
	n, err := s.bw.Write(p)
	if err == nil && s.br.Buffered() == 0 {
		err = s.bw.Flush()
	}
	return n, err
}

// chunkingField reports a Transfer-Encoding or Trailer header line.
func chunkingField(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	name := string(line[:max(colon, 0)]) // compared only
	return equalFold(name, "transfer-encoding") || equalFold(name, "trailer")
}
