package proxy

import (
	"net/http"
	"sync"
	"time"
)

// ServeHTTP is the handler of redirect and http listeners: health path,
// required-header enforcement, then the listener's mode.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fc := connFrom(r.Context())
	if fc == nil { // not reachable through our listeners; refuse rather than guess an address
		http.Error(w, "no connection information", http.StatusInternalServerError)
		return
	}
	fc.requests.Add(1)
	// Every request takes its verdict, in order, whether or not it is used.
	conflicting := true
	if ft := framingFrom(r.Context()); ft != nil {
		conflicting = ft.conflicting()
	}
	st := l.state.Load()
	rec := recorderPool.Get().(*recorder)
	rec.ResponseWriter, rec.status, rec.bytes = w, 0, 0
	start := time.Now()
	logIt := true

	switch {
	case r.URL.Path == st.health:
		writeHealth(rec, r, l.healthDraining())
	case !fc.hasHeader && fc.st.required:
		l.metrics.reject("missing_proxy_header")
		l.metrics.headerError(reasonMissing)
		rec.Header()["Connection"] = closeVal
		http.Error(rec, "PROXY protocol header required", http.StatusBadRequest)
	case len(r.TransferEncoding) > 0 && conflicting:
		l.metrics.reject("conflicting_framing")
		rec.Header()["Connection"] = closeVal
		http.Error(rec, "conflicting Content-Length and Transfer-Encoding", http.StatusBadRequest)
	case st.cfg.Mode == ModeRedirect:
		l.serveRedirect(rec, r, st)
	case isUpgrade(r):
		// The tunnel logs its own line when the session ends.
		logIt = !l.serveUpgrade(rec, r, st, fc, start)
	default:
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = limitBody(r.Body, fc, st.cfg.BodyTimeout)
		}
		st.rp.ServeHTTP(rec, r)
	}

	if logIt {
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		l.countRequest(status, rec.bytes)
		if a := l.srv.accessLog(); a != nil {
			e := httpEntry(l, r, fc, start)
			e.status, e.bytes, e.duration = status, rec.bytes, time.Since(start)
			a.Write(&e)
		}
	}
	rec.ResponseWriter = nil
	recorderPool.Put(rec)
}

var (
	closeVal   = []string{"close"}
	textVal    = []string{"text/plain; charset=utf-8"}
	noStoreVal = []string{"no-store"}
)

// httpEntry is the access-log entry of a request net/http parsed.
func httpEntry(l *listener, r *http.Request, fc *frontConn, start time.Time) entry {
	return l.newEntry(fc, start, r.Method, r.RequestURI, r.Proto, r.Host,
		headerValue(r.Header, "Referer"), headerValue(r.Header, "User-Agent"))
}

// recorder captures the status and body size of a response for the access
// log and metrics. Pooled: no allocation per request.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

var recorderPool = sync.Pool{New: func() any { return new(recorder) }}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
		noSniff(r.ResponseWriter.Header())
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		noSniff(r.ResponseWriter.Header())
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// noSniff keeps net/http from adding a Content-Type the answer did not
// have (response.go's rules; ReverseProxy cannot say it: it copies values).
func noSniff(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush supports streaming responses (ReverseProxy flushes through
// ResponseController, older callers type-assert http.Flusher).
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// isUpgrade reports a WebSocket upgrade request (webSocketUpgrade). Any
// other Upgrade is removed, so that ReverseProxy does not switch protocols
// either.
func isUpgrade(r *http.Request) bool {
	up := r.Header["Upgrade"]
	if len(up) == 0 {
		return false
	}
	conn := false
	for _, v := range r.Header["Connection"] {
		conn = conn || hasToken(v, "upgrade")
	}
	if len(up) == 1 && webSocketUpgrade(r.Method, conn, up[0]) {
		return true
	}
	delete(r.Header, "Upgrade")
	return false
}
