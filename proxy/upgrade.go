package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// errUpgradeBody refuses upgrade requests that carry a body.
var errUpgradeBody = errors.New("proxy: upgrade request with a body")

// serveUpgrade relays a protocol switch (WebSocket) without
// httputil.ReverseProxy, so that after the 101 both directions are copied
// between raw TCP sockets by pump (no buffer held while idle). It
// reports whether a tunnel took over (and will write the access log line).
func (l *listener) serveUpgrade(w http.ResponseWriter, r *http.Request, st *listenerState, fc *frontConn, start time.Time) bool {
	// An upgrade that does not become a tunnel ends its connection, as on
	// the fast path: the client may already have sent frames after it.
	w.Header()["Connection"] = closeVal
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		l.metrics.reject("upgrade_with_body")
		http.Error(w, errUpgradeBody.Error(), http.StatusBadRequest)
		return false
	}
	ctx := r.Context()
	bc, err := st.dialer.DialContext(ctx, "tcp", st.transport.addr)
	if err != nil {
		l.proxyError(w, r, st, fmt.Errorf("dial upstream %s: %w", st.upstream.Host, err))
		return false
	}
	if err := bc.SetDeadline(time.Now().Add(st.cfg.UpstreamTimeout)); err != nil {
		_ = bc.Close()
		l.proxyError(w, r, st, fmt.Errorf("set upstream deadline: %w", err))
		return false
	}
	if _, err := bc.Write(buildUpgradeRequest(r, fc, st)); err != nil {
		_ = bc.Close()
		l.proxyError(w, r, st, fmt.Errorf("write upgrade request to %s: %w", st.upstream.Host, err))
		return false
	}
	br := bufio.NewReaderSize(bc, 2048)
	resp, err := http.ReadResponse(br, r)
	if err != nil {
		_ = bc.Close()
		l.proxyError(w, r, st, fmt.Errorf("read upgrade response from %s: %w", st.upstream.Host, err))
		return false
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The app declined the upgrade: relay its answer as a normal response.
		defer bc.Close()
		defer resp.Body.Close()
		_ = bc.SetDeadline(time.Now().Add(st.cfg.UpstreamTimeout))
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		relayedHeaders(h, st)
		h["Connection"] = closeVal
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return false
	}
	_ = bc.SetDeadline(time.Time{})

	client, crw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = bc.Close()
		l.proxyError(w, r, st, fmt.Errorf("hijack client connection: %w", err))
		return false
	}
	// 101 head, then anything the app already sent after it.
	head := make([]byte, 0, 256)
	head = append(head, "HTTP/1.1 101 Switching Protocols\r\n"...)
	head = appendHeaders(head, resp.Header)
	head = append(head, "\r\n"...)
	down := new(wsFrames)
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		down.feed(early)
		head = append(head, early...)
	}
	if _, err := client.Write(head); err != nil {
		_ = bc.Close()
		_ = client.Close()
		return true
	}
	// Bytes the client sent right after its request go upstream first.
	if n := crw.Reader.Buffered(); n > 0 {
		early, _ := crw.Reader.Peek(n)
		if _, err := bc.Write(early); err != nil {
			_ = bc.Close()
			_ = client.Close()
			return true
		}
	}
	// Then bytes the fast path had buffered and net/http had not read yet.
	if rc, ok := client.(*replayConn); ok {
		if early := rc.buffered(); len(early) > 0 {
			if _, err := bc.Write(early); err != nil {
				_ = bc.Close()
				_ = client.Close()
				return true
			}
		}
	}
	l.startWebSocket(fc, bc, st, httpEntry(l, r, fc, start), down)
	return true
}

// startWebSocket turns a switched connection into a tunnel (pump, two
// goroutines) that logs e, as a session, when it ends; both paths call it
// once the 101 and any early bytes are relayed. down has seen the frames the
// app sent with its 101 (wsclose.go).
func (l *listener) startWebSocket(fc *frontConn, bc net.Conn, st *listenerState, e entry, down *wsFrames) {
	e.status, e.tunnel = http.StatusSwitchingProtocols, true
	upstream, _ := bc.(*net.TCPConn)
	t := &tunnel{l: l, fc: fc, upstream: upstream, up: bc, start: e.start, idle: st.cfg.TunnelIdleTimeout,
		sendTimeout: st.cfg.SendTimeout, e: e, down: down}
	l.metrics.request(http.StatusSwitchingProtocols)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.LogAttrs(context.Background(), slog.LevelDebug, "websocket open", slog.String("listener", l.name),
			slog.String("client", fc.src.String()))
	}
	t.run()
}

// buildUpgradeRequest writes the request head for the upstream: the
// original request line and headers minus hop-by-hop and spoofable ones,
// plus the forwarding headers and Connection: Upgrade.
func buildUpgradeRequest(r *http.Request, fc *frontConn, st *listenerState) []byte {
	h := r.Header.Clone()
	upgrade := h["Upgrade"]
	stripRequestHeaders(h, st.cfg.UnderscoresInHeaders)
	setForwarded(h, fc, st)
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, ' ')
	if st.upstreamBase {
		b = append(b, joinBase(st.upstream.Path, r.RequestURI)...)
	} else {
		b = append(b, r.RequestURI...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\nConnection: Upgrade\r\n"...)
	for _, v := range upgrade {
		b = append(b, "Upgrade: "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	b = appendHeaders(b, h)
	return append(b, "\r\n"...)
}

// appendHeaders appends "Key: value\r\n" lines. Values parsed by net/http
// hold no CR or LF; those set here are ours.
func appendHeaders(b []byte, h http.Header) []byte {
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// joinBase prefixes the upstream's base path to a request URI.
func joinBase(base, uri string) string {
	if len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + uri
}
