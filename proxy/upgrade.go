package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// errUpgradeBody refuses upgrade requests that carry a body.
var errUpgradeBody = errors.New("proxy: upgrade request with a body")

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
