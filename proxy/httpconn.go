package proxy

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The keep-alive loop of redirect and http listeners: every request of a
// connection is served on the connection's own goroutine. The fast path's
// strict parser (parseFastHead) reads keep-alive GET/HEAD requests without
// a body; any other head (a body, another method, an unusual header, a head
// over 4 KiB or with bare-LF line ends) is read by net/http's parser
// (serveParsed, nethttp.go), nothing being consumed before. Both then call
// the same rules and writers — route and the proxy's answers (answer.go,
// health.go, redirect.go, failure.go), the request head (request.go,
// header.go), the exchange over the pooled upstream connections
// (exchange.go, transport.go), the relayed answer (response.go), the
// access-log entry and the tunnel — and differential_test.go holds them
// together.

// httpConn is the HTTP side of one client connection of a redirect or
// http listener: its pooled buffers, the head the fast path parsed, the
// upstream exchange in progress.
type httpConn struct {
	fc   *frontConn
	src  headTap // br's source: fc, recorded while net/http's parser reads a head
	br   *bufio.Reader
	bw   *bufio.Writer
	head fastHead
	out  []byte
	idle atomic.Bool
	// afterPost: the last request was a POST (readRequest's CRLF tolerance).
	afterPost bool
	// headReq: the request being answered is a HEAD (answer writes no body).
	headReq bool
	// resumed: the connection comes back from parking between requests
	// (parkConn), idle since idleSince (Unix ns).
	resumed   bool
	idleSince int64
	// upstream is the connection of the exchange in progress (relay), closed
	// with the client's when the drain ends: a stalled app must not hold it.
	upstream atomic.Pointer[upConn]
	// upstreamTime is the app's response time of the request being served
	// (relay), taken by requestDone.
	upstreamTime time.Duration
}

var httpConns = sync.Pool{New: func() any {
	return &httpConn{br: bufio.NewReaderSize(nil, 4096), bw: bufio.NewWriterSize(nil, 4096), out: make([]byte, 0, 1024)}
}}

// serveHTTP is the accept loop of redirect and http listeners.
func (l *listener) serveHTTP() {
	for {
		c, ok := l.accept(l.ln)
		if !ok {
			return
		}
		fc := c.(*frontConn)
		f := httpConns.Get().(*httpConn)
		f.fc = fc
		f.src.r = fc
		f.br.Reset(&f.src)
		f.bw.Reset(fc)
		if !l.addConn(f) {
			_ = fc.Close()
			continue
		}
		l.dispatch(f)
	}
}

// addConn registers an accepted connection. One accepted while the drain
// begins is served too (its first request, with Connection: close): the
// drain waits for the accept loop to return before it waits on connsWG.
func (l *listener) addConn(f *httpConn) bool {
	l.connsMu.Lock()
	defer l.connsMu.Unlock()
	l.conns[f] = struct{}{}
	l.connsWG.Add(1)
	return true
}

func (l *listener) removeConn(f *httpConn) {
	l.connsMu.Lock()
	delete(l.conns, f)
	l.connsMu.Unlock()
	l.connsWG.Done()
}

// wakeIdleConns makes idle fast-path connections notice draining.
func (l *listener) wakeIdleConns(closeAll bool) {
	l.connsMu.Lock()
	defer l.connsMu.Unlock()
	for pc := range l.parked {
		// A parked connection has no goroutine to wake: resume it, to
		// close (its read fails) or to wait the drain's quiet grace.
		if closeAll {
			pc.close()
		}
		go pc.wake() // it takes connsMu
	}
	for f := range l.conns {
		if closeAll {
			_ = f.fc.Close()
			if uc := f.upstream.Load(); uc != nil {
				_ = uc.c.Close()
			}
		} else if f.idle.Load() && f.fc.requests.Load() > 0 {
			// Idle between requests: its client may be sending the next
			// one right now. It gets until the drain's quiet grace
			// (drainQuiet) to send it, is answered with Connection: close
			// if it does, and closed if it stays quiet. A connection that
			// has not sent its first request yet is left to send it (within
			// header_timeout), answered the same way: the client, or the
			// load balancer, opened it to send a request.
			_ = f.fc.SetReadDeadline(l.quietUntil())
		}
	}
}

// serveConn runs the keep-alive loop of one connection.
func (l *listener) serveConn(f *httpConn) {
	fc := f.fc
	tunneled := false // a tunnel owns the connection; the buffers go back to the pool
	parked := false   // parked between requests (parkConn): no longer f's
	defer func() {
		if !parked {
			l.removeConn(f)
		}
		if !tunneled && !parked {
			_ = fc.Close()
		}
		f.fc = nil
		f.afterPost, f.resumed, f.idleSince = false, false, 0
		f.src.r = nil
		f.br.Reset(nil)
		f.bw.Reset(nil)
		httpConns.Put(f)
	}()
	first := !f.resumed
	for {
		st := l.state.Load()
		now := time.Now()
		wait := st.cfg.IdleTimeout
		if first {
			wait = st.cfg.HeaderTimeout
		}
		idleFrom, resumed := now, false
		if f.idleSince != 0 { // back from parking: idle_timeout counts from before
			idleFrom = time.Unix(0, f.idleSince)
			wait -= now.Sub(idleFrom)
			f.idleSince = 0
			resumed = true
		}
		// Between requests, an idle connection parks after park_after: its
		// goroutine and buffers go back, the socket waits in the parker.
		parkAfter := st.cfg.parkAfter()
		park := !first && parkSupported && parkAfter > 0 && wait > parkAfter && fc.raw != nil
		dl := now.Add(wait)
		if park {
			dl = now.Add(parkAfter)
		}
		if resumed {
			// The socket still has the park's expired deadline, which a
			// deferred one would not replace before the read.
			_ = fc.SetReadDeadline(dl)
		} else {
			fc.deferReadDeadline(dl) // a timer only if the read waits
		}
		f.idle.Store(true)
		if !first && l.draining.Load() && !f.pending() {
			// Draining, between requests: a client that has just read its
			// answer may be writing its next request; closing now would
			// reset it (HAProxy's idle-close-on-response). Wait the quiet
			// grace for it, then close.
			park = false
			dl = now.Add(wait)
			if q := l.quietUntil(); q.Before(dl) {
				dl = q
			}
			_ = fc.SetReadDeadline(dl)
		}
		err := fc.readHeaderFrom(f.br) // once, on the first pass
		if err == nil {
			_, err = f.br.Peek(1)
		}
		f.idle.Store(false)
		if park && err != nil && errors.Is(err, os.ErrDeadlineExceeded) && f.br.Buffered() == 0 && len(fc.pending) == 0 {
			f.idleSince = idleFrom.UnixNano()
			if l.draining.Load() {
				continue // the drain began: wait its quiet grace instead
			}
			if parked = l.parkConn(f, idleFrom); parked {
				return
			}
			continue
		}
		if err != nil && !first && l.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded) && f.pending() {
			// The quiet grace ended as the client's next request arrived:
			// serve it, with Connection: close, instead of resetting it.
			_ = fc.SetReadDeadline(time.Now().Add(st.cfg.HeaderTimeout))
			_, err = f.br.Peek(1)
		}
		if err != nil {
			return // closed, idle timeout, PROXY header error (counted), or draining
		}
		noHeader := !fc.hasHeader && fc.st.required // only the health path is served
		first = false
		// The whole head usually arrives with the first read: then there is
		// nothing left to time out, and re-arming the deadline (a timer
		// update per request) is skipped. Otherwise header_timeout bounds
		// the rest of the head (slowloris).
		head, whole := bufferedHead(f.br)
		if !whole {
			_ = fc.SetReadDeadline(time.Now().Add(st.cfg.HeaderTimeout))
			head, err = readFastHead(f.br)
		}
		if err == nil {
			err = parseFastHead(head, &f.head, st.headerRules())
		}
		if err == nil && l.srv.netHTTPOnly {
			err = errNotFast
		}
		if errors.Is(err, errNotFast) {
			// Outside the strict subset: net/http's parser reads it, the
			// same rules serve it, and the loop goes on.
			keepAlive, tunnel := l.serveParsed(f, st, noHeader, !whole)
			if tunnel {
				tunneled = true
				return
			}
			if !keepAlive {
				return
			}
			continue
		}
		if err != nil {
			return // header timeout (slowloris) or connection error
		}
		fc.requests.Add(1)
		f.afterPost = false
		start := time.Now()
		h := &f.head
		target := head[h.target.start:h.target.end]
		rk := route(st, target, noHeader, false, h.upgrade.end != 0)
		if rk == routeUpgrade {
			tunneled = l.fastUpgrade(f, head, st, start)
			return
		}
		isHead := h.method.end == 4
		f.headReq = isHead
		var status int
		var sent int64
		keepAlive := !h.close && !l.draining.Load()
		switch rk {
		case routeHealth:
			_, _ = f.br.Discard(h.size)
			status, sent, keepAlive = l.answerHealth(f, isHead, keepAlive)
		case routeNoHeader:
			_, _ = f.br.Discard(h.size)
			status, sent = l.refuseNoHeader(f)
			keepAlive = false
		case routeRedirect:
			status, sent = answerRedirect(l, f, head[h.host.start:h.host.end], target, st, keepAlive)
			_, _ = f.br.Discard(h.size)
		default:
			status, sent, keepAlive = l.fastProxy(f, head, st, keepAlive)
		}
		took, upstream := l.requestDone(f, status, sent, start)
		if a := l.srv.accessLog(); a != nil {
			// The head's bytes are still in f.br's buffer: discarded, not
			// overwritten, until the next read.
			e := l.fastEntry(f, head, start)
			e.status, e.bytes, e.duration, e.upstream = status, sent, took, upstream
			a.Write(&e)
		}
		if !keepAlive {
			return
		}
	}
}

// fastEntry is the access-log entry of the request whose head f.head
// parsed in head (newEntry).
func (l *listener) fastEntry(f *httpConn, head []byte, start time.Time) entry {
	h := &f.head
	return l.newEntry(f.fc, start, methodString(head[h.method.start:h.method.end]), string(head[h.target.start:h.target.end]),
		"HTTP/1.1", string(head[h.host.start:h.host.end]), string(head[h.referer.start:h.referer.end]), string(head[h.ua.start:h.ua.end]))
}

// pending reports whether bytes of a next request already wait, in the
// reader or in the socket (a non-blocking MSG_PEEK, which no read deadline
// affects).
func (f *httpConn) pending() bool {
	if f.br.Buffered() > 0 || len(f.fc.pending) > 0 {
		return true
	}
	if f.fc.raw == nil {
		return false
	}
	n, _ := f.peekClient()
	return n > 0
}

// clientGone reports a client that closed or reset its connection: a
// non-blocking MSG_PEEK finds its end or an error. Bytes (a pipelined
// request) or nothing yet (EAGAIN) mean it is still there.
func (f *httpConn) clientGone() bool {
	if f.br.Buffered() > 0 || f.fc.raw == nil {
		return false
	}
	n, e := f.peekClient()
	if e != 0 {
		return e != syscall.EAGAIN && e != syscall.EINTR
	}
	return n == 0
}

// peekClient peeks at the client socket without waiting (sysPeek).
func (f *httpConn) peekClient() (int, syscall.Errno) {
	rc, err := f.fc.raw.SyscallConn()
	if err != nil {
		return 0, syscall.EAGAIN
	}
	var n int
	var e syscall.Errno
	_ = rc.Control(func(fd uintptr) { n, e = sysPeek(fd) })
	return n, e
}
func methodString(m []byte) string {
	if len(m) == 4 {
		return http.MethodHead
	}
	return http.MethodGet
}
