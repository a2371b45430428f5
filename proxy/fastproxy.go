package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// The fast path's exchange with the upstream: the request head it writes,
// the pooled connection it uses (transport.go, shared with net/http's
// path), and the answer it relays as read.

// fastProxy relays one request to the upstream and its response back. It
// returns the status, body bytes sent and whether the connection stays open.
func (l *listener) fastProxy(f *fastConn, head []byte, st *listenerState, keepAlive bool) (int, int64, bool) {
	h := &f.head
	out := l.fastRequest(f, head, st, nil)
	isHead := h.method.end == 4
	_, _ = f.br.Discard(h.size)

	t := st.transport
	for attempt := 0; ; attempt++ {
		uc, reused, err := t.get(context.Background(), attempt > 0)
		if err != nil {
			return l.fastError(f, st, err, keepAlive)
		}
		status, sent, ok, err := l.fastExchange(f, uc, st, out, isHead, keepAlive)
		if err == nil {
			return status, sent, ok
		}
		_ = uc.c.Close()
		if retryOnFresh(reused, attempt, err) {
			continue
		}
		if status != 0 { // the response had started: nothing more can be sent
			return status, sent, false
		}
		return l.fastError(f, st, err, keepAlive)
	}
}

// fastRequest builds the upstream request head in f.out: request line,
// the client's headers minus hop-by-hop and spoofable ones, the forwarding
// headers and, for upgrades, Connection/Upgrade.
func (l *listener) fastRequest(f *fastConn, head []byte, st *listenerState, upgrade []byte) []byte {
	h := &f.head
	fc := f.fc
	out := f.out[:0]
	out = append(out, head[h.method.start:h.method.end]...)
	out = append(out, ' ')
	if st.upstreamBase {
		base := st.upstream.Path
		if base[len(base)-1] == '/' {
			base = base[:len(base)-1]
		}
		out = append(out, base...)
	}
	out = append(out, head[h.target.start:h.target.end]...)
	out = append(out, " HTTP/1.1\r\n"...)
	for _, k := range h.fwd[:h.nfwd] {
		out = append(out, head[k.start:k.end]...)
	}
	fwd, n := st.forwarded(fc)
	for _, fh := range fwd[:n] {
		out = append(out, fh.name...)
		out = append(out, ": "...)
		out = append(out, fh.value[0]...)
		out = append(out, "\r\n"...)
	}
	if upgrade != nil {
		out = append(out, "Connection: Upgrade\r\nUpgrade: "...)
		out = append(out, upgrade...)
		out = append(out, "\r\n"...)
	}
	out = append(out, "\r\n"...)
	f.out = out
	return out
}

// fastExchange writes the request on uc, reads the response head and
// streams the response. A non-nil error with status 0 means nothing was
// sent to the client.
func (l *listener) fastExchange(f *fastConn, uc *upConn, st *listenerState, out []byte, isHead, keepAlive bool) (int, int64, bool, error) {
	t := st.transport
	if t.headerTimeout > 0 {
		_ = uc.c.SetDeadline(time.Now().Add(t.headerTimeout))
	}
	if _, err := uc.bw.Write(out); err != nil {
		return 0, 0, false, errUpstreamClosed
	}
	if err := uc.bw.Flush(); err != nil {
		return 0, 0, false, errUpstreamClosed
	}
	var rh respHead
	for {
		if _, err := uc.br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) || isConnReset(err) {
				return 0, 0, false, errUpstreamClosed
			}
			return 0, 0, false, err
		}
		b, err := readFastHead(uc.br)
		if err != nil {
			if errors.Is(err, errNotFast) {
				return 0, 0, false, errors.New("proxy: upstream response head over 4 KiB or with bare LF line ends")
			}
			return 0, 0, false, err
		}
		if err := parseRespHead(b, &rh, false); err != nil {
			return 0, 0, false, err
		}
		if rh.status >= 200 {
			break
		}
		_, _ = uc.br.Discard(rh.size) // 1xx informational: not relayed
	}
	if t.headerTimeout > 0 && !bodyBuffered(uc.br, &rh, isHead) {
		// The body still has to be read: no deadline on streaming it. A
		// body already in the buffer reads nothing more, and every use of
		// a pooled connection sets its deadline first, so the timer is
		// left alone (one timer update fewer per request).
		_ = uc.c.SetDeadline(time.Time{})
	}
	sent, keepAlive, reuse, err := l.relayResponse(f, uc.br, &rh, st, isHead, keepAlive)
	if err != nil {
		// Upstream or client failed mid-body: neither connection is reusable.
		_ = uc.c.Close()
		return rh.status, sent, false, nil //nolint:nilerr // the response has started: nothing to report to the client but a closed connection
	}
	t.release(uc, reuse)
	return rh.status, sent, keepAlive, nil
}

// bodyBuffered reports whether the whole response (head and body) parsed
// in rh is already in br, so relaying it reads nothing from the socket.
func bodyBuffered(br *bufio.Reader, rh *respHead, isHead bool) bool {
	if isHead || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified {
		return true
	}
	return !rh.chunked && rh.length >= 0 && int64(br.Buffered()) >= int64(rh.size)+rh.length
}

// relayResponse writes the response head parsed in rh (still buffered in
// br) and its body to the client. It reports the body bytes, whether the
// client connection stays open and whether the upstream one can be reused.
func (l *listener) relayResponse(f *fastConn, br *bufio.Reader, rh *respHead, st *listenerState, isHead, keepAlive bool) (int64, bool, bool, error) {
	b, _ := br.Peek(rh.size)
	noBody := isHead || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified
	untilEOF := !noBody && !rh.chunked && rh.length < 0
	if untilEOF {
		keepAlive = false
	}
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(b[rh.statusLine.start:rh.statusLine.end])
	_, _ = bw.WriteString("\r\n")
	for _, k := range rh.relay[:rh.nrelay] {
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
	case rh.chunked:
		sent, err = copyChunked(bw, br)
	case rh.length >= 0:
		sent, err = io.CopyN(bw, br, rh.length)
	default:
		sent, err = io.Copy(bw, br)
	}
	if err != nil {
		_ = bw.Flush()
		return sent, false, false, err
	}
	if ferr := bw.Flush(); ferr != nil {
		keepAlive = false
	}
	return sent, keepAlive, !rh.close && !untilEOF && !ignoredBody(isHead, rh.status, rh.length, rh.chunked), nil
}
