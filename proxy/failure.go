package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
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

// errorBody is the text/plain body of the proxy's own error answers.
func errorBody(status int) string { return http.StatusText(status) + "\n" }

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
	status := l.upstreamFailed(r.Context(), st, err)
	if status == StatusClientClosed {
		if rec, ok := w.(*recorder); ok {
			rec.status = status
		}
		return
	}
	w.Header()["Content-Type"] = textVal
	w.WriteHeader(status)
	_, _ = w.Write([]byte(errorBody(status)))
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

// fastError answers an upstream failure (502, or 504 on timeouts) like
// proxyError does on the net/http path.
func (l *listener) fastError(f *fastConn, st *listenerState, err error, keepAlive bool) (int, int64, bool) {
	status := l.upstreamFailed(context.Background(), st, err)
	body := errorBody(status)
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(status))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(http.StatusText(status))
	_, _ = bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(body)))
	if !keepAlive {
		_, _ = bw.WriteString("\r\nConnection: close")
	}
	_, _ = bw.WriteString("\r\n\r\n")
	_, _ = bw.WriteString(body)
	if bw.Flush() != nil {
		keepAlive = false
	}
	return status, int64(len(body)), keepAlive
}
