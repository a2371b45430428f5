package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// newTransport is the upstream transport of an http listener: keep-alive
// with enough idle connections for a few hundred concurrent clients, no
// transparent compression (Accept-Encoding passes through untouched).
func newTransport(cfg ListenerConfig) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// newReverseProxy builds the httputil.ReverseProxy of an http listener state.
func (l *listener) newReverseProxy(st *listenerState) *httputil.ReverseProxy {
	rp := &httputil.ReverseProxy{
		Rewrite:      st.rewrite,
		Transport:    st.transport,
		BufferPool:   bufPool{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { l.proxyError(w, r, st, err) },
		ErrorLog:     slog.NewLogLogger(l.srv.log.Handler(), slog.LevelWarn),
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		relayedHeaders(resp.Header, st)
		return nil
	}
	return rp
}

// rewrite points the outgoing request at the upstream and sets the
// forwarding headers from the PROXY header. ReverseProxy already removed
// the headers Connection names and its own hop-by-hop list before calling
// Rewrite; dropRequestHeader's set (the one the fast path applies) is
// removed here.
func (st *listenerState) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	if st.upstreamBase {
		pr.SetURL(st.upstream)
	} else {
		out.URL.Scheme = st.upstream.Scheme
		out.URL.Host = st.upstream.Host
	}
	out.Host = pr.In.Host
	stripRequestHeaders(out.Header, st.cfg.UnderscoresInHeaders)
	fc := connFrom(pr.In.Context())
	if fc == nil {
		return
	}
	setForwarded(out.Header, fc, st)
}

// setForwarded sets the forwarding headers from the connection's PROXY
// information. The value slices are shared per connection and never mutated.
func setForwarded(h http.Header, fc *frontConn, st *listenerState) {
	h["X-Forwarded-For"] = fc.xff
	h["X-Real-Ip"] = fc.xff
	h["X-Forwarded-Proto"] = st.protoVal
	h["X-Forwarded-Port"] = fc.port
	if fc.vpceVal != nil {
		h["X-Amzn-Vpce-Id"] = fc.vpceVal
	}
}

// proxyError maps an upstream failure to a status in one place: dial
// refused → 502, timeouts → 504, client gone → 499 in the log, nothing sent.
func (l *listener) proxyError(w http.ResponseWriter, r *http.Request, st *listenerState, err error) {
	if tb, ok := r.Body.(*timedBody); (ok && tb.expired) || errors.Is(err, errBodyTimeout) {
		// Logged and counted where it expired (net/http then cancels the
		// request, so err may only say "canceled"); the upstream
		// connection went with the aborted request.
		w.Header()["Connection"] = closeVal
		http.Error(w, http.StatusText(http.StatusRequestTimeout), http.StatusRequestTimeout)
		return
	}
	status, reason := classifyUpstreamError(r.Context(), err)
	if reason == "client_gone" {
		if rec, ok := w.(*recorder); ok {
			rec.status = status
		}
		return
	}
	l.metrics.upstreamError(reason)
	if l.srv.log.Enabled(r.Context(), slog.LevelWarn) {
		l.srv.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error",
			slog.String("listener", l.name), slog.String("upstream", st.cfg.Upstream),
			slog.String("reason", reason), slog.Int("status", status), slog.String("error", err.Error()))
	}
	w.Header()["Content-Type"] = textVal
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

// StatusClientClosed is logged (never sent) when the client went away
// before the upstream answered, as nginx's 499.
const StatusClientClosed = 499

// classifyUpstreamError returns the status and metric reason of an upstream error.
func classifyUpstreamError(ctx context.Context, err error) (int, string) {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return StatusClientClosed, "client_gone"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		if op.Timeout() {
			return http.StatusGatewayTimeout, "dial_timeout"
		}
		return http.StatusBadGateway, "dial"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout, "timeout"
	}
	return http.StatusBadGateway, "other"
}

// bufPool lends 32 KiB copy buffers to ReverseProxy.
type bufPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufPool) Put(b []byte) { copyBufs.Put(&b) }
