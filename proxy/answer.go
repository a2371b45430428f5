package proxy

import (
	"bufio"
	"net/http"
	"strconv"
)

// What a request gets, decided once for both parsers (route), and the
// proxy's own answers, written once (the app's answers are relayed by
// relayResponse in exchange.go).

// routeKind is what serves a request.
type routeKind uint8

const (
	routeProxy       routeKind = iota // relayed to the app
	routeHealth                       // the health path, answered by the proxy
	routeNoHeader                     // 400: a required PROXY header is missing
	routeConflicting                  // 400: both Content-Length and Transfer-Encoding
	routeRedirect                     // 301 to https
	routeUpgrade                      // a WebSocket upgrade: a tunnel on 101
)

// route is the one decision of both paths, in this order: the health path
// (with or without a PROXY header), the missing header, conflicting
// framing, the redirect listener, a WebSocket upgrade (webSocketUpgrade),
// then the app.
func route[T string | []byte](st *listenerState, target T, noHeader, conflicting, webSocket bool) routeKind {
	switch {
	case pathIs(target, st.health):
		return routeHealth
	case noHeader:
		return routeNoHeader
	case conflicting:
		return routeConflicting
	case st.cfg.Mode == ModeRedirect:
		return routeRedirect
	case webSocket && st.cfg.Mode == ModeHTTP:
		return routeUpgrade
	}
	return routeProxy
}

// pathIs reports whether the target's path (before any query) is path,
// byte for byte: "/health%7A" is not "/healthz" on either path.
func pathIs[T string | []byte](target T, path string) bool {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			target = target[:i]
			break
		}
	}
	return string(target) == path
}

// finish counts a served request and writes its access-log line.
func (l *listener) finish(f *httpConn, e *entry, status int, sent int64) {
	took, upstream := l.requestDone(f, status, sent, e.start)
	if a := l.srv.accessLog(); a != nil {
		e.status, e.bytes, e.duration, e.upstream = status, sent, took, upstream
		a.Write(e)
	}
}

// answer writes one of the proxy's own text/plain answers; text gets a
// final newline, and the answer to a HEAD (isHead, or the request being
// answered, f.headReq) none: its Content-Length is the GET's, as RFC 9110
// §9.3.2 says, and a kept-alive client would read stray bytes into its next
// response. It returns the status and the body bytes sent.
func (l *listener) answer(f *httpConn, status int, text string, keepAlive, isHead bool) (int, int64) {
	isHead = isHead || f.headReq
	bw := f.bw
	writeStatusLine(bw, status)
	_, _ = bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(text) + 1))
	if !keepAlive {
		_, _ = bw.WriteString("\r\nConnection: close")
	}
	_, _ = bw.WriteString("\r\n\r\n")
	var sent int64
	if !isHead {
		_, _ = bw.WriteString(text)
		_ = bw.WriteByte('\n')
		sent = int64(len(text) + 1)
	}
	_ = bw.Flush()
	return status, sent
}

// writeStatusLine writes "HTTP/1.1 <code> <reason>\r\n" for the proxy's
// own answers.
func writeStatusLine(bw *bufio.Writer, status int) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(status))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(status))
	_, _ = bw.WriteString("\r\n")
}

// refuse answers a request the proxy will not serve, counts why, and
// closes the connection.
func (l *listener) refuse(f *httpConn, reason string, status int, text string) (int, int64) {
	l.metrics.reject(reason)
	return l.answer(f, status, text, false, false)
}

// refuseNoHeader answers a request without the PROXY header a required
// listener wants.
func (l *listener) refuseNoHeader(f *httpConn) (int, int64) {
	l.metrics.headerError(reasonMissing) // counted once: as a header error, not also as a rejection
	return l.answer(f, http.StatusBadRequest, "PROXY protocol header required", false, false)
}
