package proxy

import (
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

// bufPool lends 32 KiB copy buffers to ReverseProxy.
type bufPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufPool) Put(b []byte) { copyBufs.Put(&b) }
