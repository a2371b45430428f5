package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// upstreamTransport is the upstream pool of an http listener: keep-alive
// HTTP/1.1 connections, used on the client connection's goroutine by
// relay (exchange.go) for every request, whichever parser read it. No
// hand-off to the reader and writer goroutines of http.Transport, which is
// most of the per-request cost of a Go proxy.
type upstreamTransport struct {
	host          string // the upstream URL's host, as in outgoing requests
	addr          string // host:port to dial
	dialer        *net.Dialer
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int

	mu      sync.Mutex
	idle    []*upConn
	retired bool // replaced by a reload: released connections are closed, not pooled
}

func newUpstreamTransport(cfg ListenerConfig, host string) *upstreamTransport {
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, "80")
	}
	return &upstreamTransport{
		host:          host,
		addr:          addr,
		dialer:        &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		headerTimeout: cfg.UpstreamTimeout,
		idleTimeout:   90 * time.Second,
		maxIdle:       1024,
	}
}

// upConn is one pooled upstream connection.
type upConn struct {
	c         net.Conn
	rc        syscall.RawConn // c's socket, for quiet; nil if c is not a *net.TCPConn
	peekFn    func(fd uintptr)
	peekQuiet bool
	rd        upstreamReader // br's source: the socket, with the waits of upstreamread.go
	br        *bufio.Reader
	bw        *bufio.Writer
	idleAt    time.Time
}

// errUpstreamClosed reports a reused connection the upstream had closed.
var errUpstreamClosed = errors.New("proxy: upstream closed an idle connection")

// retryOnFresh is the stale-connection rule (relay, for both parsers): a
// replayable request (an idempotent method without a body) whose reused
// pooled connection the upstream had closed, before any byte of an answer,
// is retried once, on a freshly dialed connection (get with fresh). Any
// other request may have reached the app: it is answered 502, as Go's
// http.Transport and nginx (proxy_next_upstream) do.
func retryOnFresh(replayable, reused bool, attempt int, err error) bool {
	return replayable && reused && attempt == 0 && errors.Is(err, errUpstreamClosed)
}

// get returns an idle connection or dials a new one; fresh skips the pool.
// A retry after a stale pooled connection asks for a fresh one: when the
// upstream restarted, every pooled connection is stale, and retrying on the
// next one would fail the request too.
func (t *upstreamTransport) get(ctx context.Context, fresh bool) (*upConn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for n := len(t.idle); n > 0 && !fresh; n = len(t.idle) {
		uc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		if now.Sub(uc.idleAt) < t.idleTimeout {
			t.mu.Unlock()
			if uc.quiet() {
				return uc, true, nil
			}
			// Bytes (or EOF) arrived while it idled: they answer no request
			// of ours, and would reach the next client as its response.
			_ = uc.c.Close()
			t.mu.Lock()
			continue
		}
		_ = uc.c.Close()
	}
	t.mu.Unlock()
	c, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial upstream %s: %w", t.addr, err)
	}
	var rw io.ReadWriter = c
	if tc, ok := c.(*net.TCPConn); ok {
		if rs := newRawSock(tc); rs != nil {
			rw = rs
		}
	}
	uc := &upConn{c: c, bw: bufio.NewWriterSize(rw, 4096)}
	uc.rd = upstreamReader{r: rw, c: c}
	uc.br = bufio.NewReaderSize(&uc.rd, 4096)
	if tc, ok := c.(*net.TCPConn); ok {
		uc.rc, _ = tc.SyscallConn()
		uc.peekFn = uc.peek
	}
	return uc, false, nil
}

// quiet reports whether nothing waits to be read on the connection: no
// byte in its reader, none in the socket and no EOF (a non-blocking
// MSG_PEEK). A connection that is not quiet between two exchanges holds
// bytes that answer no request (an app that sent a body with a HEAD, 204 or
// 304 answer, or more than its Content-Length) and is never reused — as
// Go's http.Transport and nginx close it.
func (uc *upConn) quiet() bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	if uc.rc == nil {
		return true
	}
	_ = uc.rc.Control(uc.peekFn)
	return uc.peekQuiet
}

// answered reports bytes (an answer, already sent) waiting on the
// connection: what exchange looks for when the app stopped reading a
// request body.
func (uc *upConn) answered() bool {
	if uc.br.Buffered() > 0 {
		return true
	}
	if uc.rc == nil {
		return false
	}
	var n int
	_ = uc.rc.Control(func(fd uintptr) { n, _ = sysPeek(fd) })
	return n > 0
}

// peek is quiet's RawConn callback (bound once to peekFn: no allocation
// per call).
func (uc *upConn) peek(fd uintptr) {
	_, e := sysPeek(fd)
	uc.peekQuiet = e == syscall.EAGAIN
}

func (t *upstreamTransport) put(uc *upConn) {
	uc.idleAt = time.Now()
	t.mu.Lock()
	if !t.retired && len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, uc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	_ = uc.c.Close()
}

// retire closes the pooled connections of a transport a reload replaced,
// and makes it close the ones still in use when their requests finish
// instead of pooling them where nothing would ever use or close them.
func (t *upstreamTransport) retire() {
	t.mu.Lock()
	t.retired = true
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// CloseIdleConnections closes pooled connections (on reload).
func (t *upstreamTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, uc := range idle {
		_ = uc.c.Close()
	}
}

// release pools uc after an exchange when reuse allows it and nothing is
// left in its reader, and closes it otherwise. The socket is checked once,
// when the connection is taken again (get calls quiet): bytes that arrive
// between now and then are caught there, and a request pays one peek, not
// two.
func (t *upstreamTransport) release(uc *upConn, reuse bool) {
	if reuse && uc.br.Buffered() == 0 {
		t.put(uc)
		return
	}
	_ = uc.c.Close()
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && !op.Timeout()
}

// ignoredBody reports an answer whose end the proxy cannot know, after
// which the app's connection is not reused: its status or the request's
// method says it has no body, but its head does not say so. An app that
// sends a body anyway (Python's http.server with do_HEAD = do_GET) sends
// it after the head, possibly after the connection went back to the pool
// — and after the pool's check for stray bytes — where it would reach the
// next client as its response. That is:
//   - an answer to HEAD, or a 1xx, without "Content-Length: 0": an app
//     that treats HEAD as GET sends the GET's length (and then its body),
//     chunking, or no length and a body until it closes;
//   - a 204 or 304 that announces a body (a length above 0, or chunking).
//
// Honest answers to HEAD carry the Content-Length of the GET: HEAD is
// rare, and a fresh connection costs little.
func ignoredBody(isHead bool, status int, length int64, chunked bool) bool {
	switch {
	case isHead || status < 200:
		return length != 0 || chunked
	case status == http.StatusNoContent || status == http.StatusNotModified:
		return length > 0 || chunked
	}
	return false
}
