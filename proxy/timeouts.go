package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Client-side timeouts of http listeners (nginx's client_body_timeout and
// send_timeout): a client that trickles a body or stops reading holds an
// app connection, and a worker of the app, only this long between two
// reads or writes. On expiry both sides are closed, the event is logged
// and counted in elbguard_proxy_rejected_total.

// errBodyTimeout: no byte of a request body for body_timeout.
var errBodyTimeout = errors.New("proxy: body_timeout: the client sent no body bytes in time")

// errSendTimeout: the client read nothing for send_timeout.
var errSendTimeout = errors.New("proxy: send_timeout: the client read nothing in time")

// timedBody bounds the wait for each read of a request body. After a
// timeout the expired deadline stays, so net/http's own reads of what is
// left fail at once and it closes the connection; after the body's end
// the deadline is cleared for net/http's background read.
type timedBody struct {
	body    io.ReadCloser
	fc      *frontConn
	timeout time.Duration
	done    bool
	expired bool // body_timeout expired
}

// limitBody wraps r's body (when it has one) with body_timeout.
func limitBody(body io.ReadCloser, fc *frontConn, timeout time.Duration) io.ReadCloser {
	if timeout <= 0 {
		return body
	}
	return &timedBody{body: body, fc: fc, timeout: timeout}
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	_ = b.fc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.body.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.done, b.expired = true, true
		b.fc.l.clientTimedOut(b.fc, "body_timeout", b.timeout)
		return n, fmt.Errorf("%w: %w", errBodyTimeout, err)
	default:
		b.done = true
		_ = b.fc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *timedBody) Close() error { return b.body.Close() }

// clientTimedOut logs and counts a body_timeout or send_timeout.
func (l *listener) clientTimedOut(fc *frontConn, setting string, d time.Duration) {
	l.metrics.reject(setting)
	l.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "client timeout: closing both sides",
		slog.String("listener", l.name), slog.String("client", fc.src.String()),
		slog.String("setting", setting), slog.Duration("timeout", d))
}
