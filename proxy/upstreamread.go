package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// The waits for an app's answer, for both parsers: every read of an
// upstream connection's answer, head and body alike, goes through its
// upstreamReader while an exchange is in progress. A read that waits is
// woken every clientCheck (a second) to look at the client, and ends:
//   - with errClientGone when the client closed or reset its connection
//     (the exchange closes the app's connection: a long poll or an event
//     stream whose client left does not hold a worker of the app until it
//     writes again, or forever);
//   - with a timeout (504 if nothing was sent) when upstream_timeout has
//     passed since the request was sent and the head is not complete;
//   - with a timeout when upstream_read_timeout has passed since the last
//     byte of the answer (nginx's proxy_read_timeout), head or body.
//
// A head that arrives in several writes is one answer: each write resets
// upstream_read_timeout, and the client check is not a timeout. The
// deadline is moved only when it expires (once a second at most), never
// per read.

// upstreamReader is what an upstream connection's reader (upConn.br) reads
// from: the socket, with the waits above while armed.
type upstreamReader struct {
	r io.Reader // the socket (a rawSock, or the net.Conn)
	c net.Conn
	// Set by arm for one exchange; f nil: plain reads (a pooled connection).
	f           *httpConn
	readTimeout time.Duration
	headBy      time.Time // upstream_timeout's end while the head is read; zero after
	last        time.Time // the last byte read (or the request sent)
}

// errUpstreamReadTimeout: upstream_read_timeout passed between two reads of
// the app's answer.
var errUpstreamReadTimeout = errors.New("proxy: upstream_read_timeout: the app sent nothing in time")

// arm starts the waits of one exchange with the client of f, the request
// sent now: upstream_timeout (headTimeout, 0: none) bounds the head,
// readTimeout (0: none) every wait. It sets the first deadline, for the
// writes of the request too (one timer update per exchange).
func (u *upstreamReader) arm(f *httpConn, headTimeout, readTimeout time.Duration, now time.Time) {
	u.f, u.readTimeout, u.last, u.headBy = f, readTimeout, now, time.Time{}
	if headTimeout > 0 {
		u.headBy = now.Add(headTimeout)
	}
	_ = u.c.SetDeadline(u.next(now))
}

// headRead ends upstream_timeout's bound: the head is complete.
func (u *upstreamReader) headRead() { u.headBy = time.Time{} }

// disarm ends the exchange: the connection may go back to the pool, which
// must not keep the client.
func (u *upstreamReader) disarm() { u.f = nil }

// next is the deadline of a wait at now: the next client check, or a
// timeout if sooner.
func (u *upstreamReader) next(now time.Time) time.Time {
	d := now.Add(clientCheck)
	if !u.headBy.IsZero() && u.headBy.Before(d) {
		d = u.headBy
	}
	if u.readTimeout > 0 {
		if end := u.last.Add(u.readTimeout); end.Before(d) {
			d = end
		}
	}
	return d
}

func (u *upstreamReader) Read(p []byte) (int, error) {
	if u.f == nil {
		return u.r.Read(p)
	}
	for {
		n, err := u.r.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			if n > 0 && u.readTimeout > 0 {
				u.last = time.Now()
			}
			return n, err
		}
		now := time.Now()
		switch {
		case !u.headBy.IsZero() && !now.Before(u.headBy):
			return 0, fmt.Errorf("upstream_timeout: no whole answer head in time: %w", err)
		case u.readTimeout > 0 && now.Sub(u.last) >= u.readTimeout:
			return 0, fmt.Errorf("%w (%s): %w", errUpstreamReadTimeout, u.readTimeout, err)
		case u.f.clientGone():
			return 0, errClientGone
		}
		_ = u.c.SetReadDeadline(u.next(now))
	}
}
