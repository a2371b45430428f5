package proxy

import (
	"net/http"
	"strconv"
)

// The health path is answered by the proxy itself on every redirect and
// http listener, with or without a PROXY header, on both paths, and on the
// admin listener: 200 "ok", or 503 "shutting down" (closing the
// connection) once the server or the listener drains, so the load balancer
// takes the instance out before the listeners close.

var (
	okBody   = []byte("ok\n")
	downBody = []byte("shutting down\n")
)

// healthAnswer is the health path's status and body.
func healthAnswer(draining bool) (int, []byte) {
	if draining {
		return http.StatusServiceUnavailable, downBody
	}
	return http.StatusOK, okBody
}

// healthDraining reports whether the listener's health path answers 503.
func (l *listener) healthDraining() bool { return l.srv.draining.Load() || l.draining.Load() }

// serveHealth answers the admin listener's health path.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, r, s.draining.Load())
}

// writeHealth writes the health answer through net/http (the admin
// listener).
func writeHealth(w http.ResponseWriter, r *http.Request, draining bool) {
	status, body := healthAnswer(draining)
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if draining {
		h["Connection"] = []string{"close"}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// answerHealth writes the health answer on a front listener (both
// parsers). It returns the status, the body bytes sent and whether the
// connection stays open.
func (l *listener) answerHealth(f *httpConn, isHead, keepAlive bool) (int, int64, bool) {
	draining := l.healthDraining()
	status, body := healthAnswer(draining)
	keepAlive = keepAlive && !draining
	bw := f.bw
	writeStatusLine(bw, status)
	_, _ = bw.WriteString("Cache-Control: no-store\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(body)))
	_, _ = bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\n")
	if !keepAlive {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	var sent int64
	if !isHead {
		_, _ = bw.Write(body)
		sent = int64(len(body))
	}
	if bw.Flush() != nil {
		keepAlive = false
	}
	return status, sent, keepAlive
}
