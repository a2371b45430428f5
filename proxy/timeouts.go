package proxy

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Client-side timeouts of http listeners (nginx's client_body_timeout and
// send_timeout): a client that trickles a body or stops reading holds an
// app connection, and a worker of the app, only this long between two
// reads or writes. On expiry both sides are closed, the event is logged
// and counted in elbguard_proxy_rejected_total.

// errBodyTimeout: no byte of a request body for body_timeout (clientBody).
var errBodyTimeout = errors.New("proxy: body_timeout: the client sent no body bytes in time")

// errSendTimeout: the client read nothing for send_timeout.
var errSendTimeout = errors.New("proxy: send_timeout: the client read nothing in time")

// clientTimedOut logs and counts a body_timeout or send_timeout.
func (l *listener) clientTimedOut(fc *frontConn, setting string, d time.Duration) {
	l.metrics.reject(setting)
	l.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "client timeout: closing both sides",
		slog.String("listener", l.name), slog.String("client", fc.src.String()),
		slog.String("setting", setting), slog.Duration("timeout", d))
}
