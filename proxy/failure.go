package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// Upstream failures map to a status in one place (as caddy's
// reverseproxy: 502 by default, 504 on timeouts), are counted and logged
// once, and answered with the same body on both paths.

// upstreamFailed maps err to the status the client gets, and counts and
// logs it; StatusClientClosed (the client went away first) is neither
// counted as an upstream error nor answered.
func (l *listener) upstreamFailed(ctx context.Context, st *listenerState, err error) int {
	status, reason := classifyUpstreamError(ctx, err)
	if status == StatusClientClosed {
		return status
	}
	l.metrics.upstreamError(reason)
	if l.srv.log.Enabled(ctx, slog.LevelWarn) {
		l.srv.log.LogAttrs(ctx, slog.LevelWarn, "upstream error",
			slog.String("listener", l.name), slog.String("upstream", st.cfg.Upstream),
			slog.String("reason", reason), slog.Int("status", status), slog.String("error", err.Error()))
	}
	return status
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

// answerUpstreamError answers an upstream failure (502, or 504 on
// timeouts; nothing when the client went away first).
func (l *listener) answerUpstreamError(f *httpConn, st *listenerState, err error, keepAlive bool) (int, int64, bool) {
	status := l.upstreamFailed(context.Background(), st, err)
	if status == StatusClientClosed {
		return status, 0, false
	}
	_, sent := l.answer(f, status, http.StatusText(status), keepAlive, false)
	if f.bw.Buffered() > 0 {
		keepAlive = false
	}
	return status, sent, keepAlive
}
