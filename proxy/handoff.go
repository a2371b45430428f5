package proxy

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// Hand-off: a connection whose request the fast path does not serve goes,
// with the bytes it already buffered, to the listener's net/http Server,
// which serves it from then on.

// handoffConn gives the connection, with the bytes already buffered, to
// net/http. It reports whether net/http took it.
func (l *listener) handoffConn(f *fastConn) bool {
	_ = f.fc.SetReadDeadline(time.Time{})
	rc := &replayConn{frontConn: f.fc, br: f.br, framing: newFramingTracker()}
	return l.handoff.push(rc)
}

// replayConn is a connection handed to net/http: bytes the fast path
// buffered are read first.
type replayConn struct {
	*frontConn
	br      *bufio.Reader
	framing *framingTracker // follows what net/http reads (conflicting Content-Length and Transfer-Encoding)
}

func (c *replayConn) Read(b []byte) (int, error) {
	var (
		n   int
		err error
	)
	if c.br != nil && c.br.Buffered() > 0 {
		n, err = c.br.Read(b)
	} else {
		c.br = nil
		n, err = c.frontConn.Read(b)
	}
	if n > 0 {
		c.framing.Write(b[:n])
	}
	return n, err
}

// buffered returns and drops bytes not yet read by net/http (for tunnels).
func (c *replayConn) buffered() []byte {
	if c.br == nil || c.br.Buffered() == 0 {
		return nil
	}
	b, _ := c.br.Peek(c.br.Buffered())
	out := append([]byte(nil), b...)
	_, _ = c.br.Discard(len(b))
	return out
}

// handoffListener is the net.Listener net/http serves: connections the
// fast path handed over.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoffListener) push(c net.Conn) bool {
	select {
	case h.ch <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoffListener) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoffListener) Addr() net.Addr { return h.addr }
