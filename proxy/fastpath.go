package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The fast path serves the common case of redirect and http listeners on
// the connection's own goroutine: keep-alive GET/HEAD requests without a
// body, parsed strictly by parseFastHead, relayed over pooled upstream
// connections. Any request outside that subset — health path, missing
// PROXY header on a required listener, bodies, upgrades, odd headers,
// heads over 4 KiB — hands the connection, unread, to net/http (handoff),
// which serves it from then on with the full rule set. Both paths apply the
// same forwarding headers, access log and metrics.

// fastConn is one client connection on the fast path.
type fastConn struct {
	fc   *frontConn
	br   *bufio.Reader
	bw   *bufio.Writer
	head fastHead
	out  []byte
	idle atomic.Bool
}

var fastConns = sync.Pool{New: func() any {
	return &fastConn{br: bufio.NewReaderSize(nil, 4096), bw: bufio.NewWriterSize(nil, 4096), out: make([]byte, 0, 1024)}
}}

// serveFast is the accept loop of redirect and http listeners.
func (l *listener) serveFast() {
	for {
		c, ok := l.accept(l.ln)
		if !ok {
			return
		}
		fc := c.(*frontConn)
		f := fastConns.Get().(*fastConn)
		f.fc = fc
		f.br.Reset(fc)
		f.bw.Reset(fc)
		if !l.addFast(f) {
			_ = fc.Close()
			continue
		}
		go l.serveConn(f)
	}
}

// addFast registers an accepted connection. One accepted while the drain
// begins is served too (its first request, with Connection: close): the
// drain waits for the accept loop to return before it waits on fastWG.
func (l *listener) addFast(f *fastConn) bool {
	l.fastMu.Lock()
	defer l.fastMu.Unlock()
	l.fast[f] = struct{}{}
	l.fastWG.Add(1)
	return true
}

func (l *listener) removeFast(f *fastConn) {
	l.fastMu.Lock()
	delete(l.fast, f)
	l.fastMu.Unlock()
	l.fastWG.Done()
}

// wakeIdleFast makes idle fast-path connections notice draining.
func (l *listener) wakeIdleFast(closeAll bool) {
	l.fastMu.Lock()
	defer l.fastMu.Unlock()
	for f := range l.fast {
		if closeAll {
			_ = f.fc.Close()
		} else if f.idle.Load() && f.fc.requests.Load() > 0 {
			// Idle between requests: wake it to close. A connection that has
			// not sent its first request yet is left to send it (within
			// header_timeout) and is served with Connection: close: the
			// client, or the load balancer, opened it to send a request.
			_ = f.fc.SetReadDeadline(time.Now())
		}
	}
}

// serveConn runs the keep-alive loop of one connection.
func (l *listener) serveConn(f *fastConn) {
	fc := f.fc
	handedOff := false // net/http owns the connection and the buffers
	tunneled := false  // a tunnel owns the connection; the buffers go back to the pool
	defer func() {
		l.removeFast(f)
		if !handedOff {
			if !tunneled {
				_ = fc.Close()
			}
			f.fc = nil
			f.br.Reset(nil)
			f.bw.Reset(nil)
			fastConns.Put(f)
		}
	}()
	first := true
	for {
		st := l.state.Load()
		wait := st.cfg.IdleTimeout
		if first {
			wait = st.cfg.HeaderTimeout
		}
		_ = fc.SetReadDeadline(time.Now().Add(wait))
		f.idle.Store(true)
		if l.draining.Load() && !first && !f.pending() {
			return
		}
		_, err := f.br.Peek(1)
		f.idle.Store(false)
		if err != nil && !first && l.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded) && f.pending() {
			// The drain woke this idle connection, but the client's next
			// request had already arrived (it was sent before the shutdown):
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
			err = parseFastHead(head, &f.head)
		}
		if err == nil && pathIs(head[f.head.target.start:f.head.target.end], st.health) {
			fc.requests.Add(1)
			if !l.fastHealth(f, head) {
				return
			}
			continue
		}
		if errors.Is(err, errNotFast) || noHeader {
			// net/http serves it: anything unusual, and the 400 for a
			// missing PROXY header (counted there).
			handedOff = l.handoffConn(f)
			return
		}
		if err != nil {
			return // header timeout (slowloris) or connection error
		}
		fc.requests.Add(1)
		start := time.Now()
		if f.head.upgrade.end != 0 && st.cfg.Mode == ModeHTTP {
			tunneled = l.fastUpgrade(f, head, st, start)
			return
		}
		var status int
		var sent int64
		keep := !f.head.close && !l.draining.Load()
		if st.cfg.Mode == ModeRedirect {
			status, sent = l.fastRedirect(f, head, st, keep)
		} else {
			status, sent, keep = l.fastProxy(f, head, st, keep)
		}
		l.metrics.request(status)
		if sent > 0 {
			l.metrics.toClient.Add(float64(sent))
		}
		if a := l.srv.accessLog(); a != nil {
			h := &f.head
			e := entry{listener: l.name, client: fc.src.Addr(), start: start, duration: time.Since(start),
				method: methodString(head[h.method.start:h.method.end]), uri: string(head[h.target.start:h.target.end]),
				proto: "HTTP/1.1", status: status, bytes: sent, host: string(head[h.host.start:h.host.end]),
				referer: string(head[h.referer.start:h.referer.end]), userAgent: string(head[h.ua.start:h.ua.end])}
			a.Write(&e)
		}
		if !keep {
			return
		}
	}
}

// pending reports whether bytes of a next request already wait, in the
// reader or in the socket (a non-blocking MSG_PEEK, which no read deadline
// affects).
func (f *fastConn) pending() bool {
	if f.br.Buffered() > 0 || len(f.fc.pending) > 0 {
		return true
	}
	if f.fc.raw == nil {
		return false
	}
	rc, err := f.fc.raw.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	_ = rc.Control(func(fd uintptr) { n, _ = sysPeek(fd) })
	return n > 0
}

// fastHealth answers the health path (200, or 503 while draining) and
// reports whether the connection stays open.
func (l *listener) fastHealth(f *fastConn, head []byte) bool {
	h := &f.head
	_, _ = f.br.Discard(h.size)
	draining := l.srv.draining.Load() || l.draining.Load()
	status, body := http.StatusOK, okBody
	if draining {
		status, body = http.StatusServiceUnavailable, downBody
	}
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(status))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(http.StatusText(status))
	_, _ = bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(body)))
	keep := !h.close && !draining
	if !keep {
		_, _ = bw.WriteString("\r\nConnection: close")
	}
	_, _ = bw.WriteString("\r\n\r\n")
	if h.method.end != 4 { // not HEAD
		_, _ = bw.Write(body)
	}
	if bw.Flush() != nil {
		return false
	}
	l.metrics.request(status)
	return keep
}

// handoffConn gives the connection, with the bytes already buffered, to
// net/http. It reports whether net/http took it.
func (l *listener) handoffConn(f *fastConn) bool {
	_ = f.fc.SetReadDeadline(time.Time{})
	rc := &replayConn{frontConn: f.fc, br: f.br}
	return l.handoff.push(rc)
}

func pathIs(target []byte, path string) bool {
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	return string(target) == path
}

func methodString(m []byte) string {
	if len(m) == 4 {
		return http.MethodHead
	}
	return http.MethodGet
}

// bufferedHead returns the request head if it is already complete in br's
// buffer (unconsumed).
func bufferedHead(br *bufio.Reader) ([]byte, bool) {
	buf, _ := br.Peek(br.Buffered())
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
		return buf[:i+4], true
	}
	return nil, false
}

// readFastHead returns the buffered request head (unconsumed), reading
// more as needed; errNotFast when it does not fit in the 4 KiB buffer.
func readFastHead(br *bufio.Reader) ([]byte, error) {
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+4], nil
		}
		if n >= br.Size() {
			return nil, errNotFast
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// fastRedirect answers 301 to https://host/target.
func (l *listener) fastRedirect(f *fastConn, head []byte, st *listenerState, keep bool) (int, int64) {
	h := &f.head
	bw := f.bw
	_, _ = f.br.Discard(h.size)
	_, _ = bw.WriteString("HTTP/1.1 301 Moved Permanently\r\nLocation: https://")
	if st.cfg.RedirectHost != "" {
		_, _ = bw.WriteString(st.cfg.RedirectHost)
	} else {
		host := head[h.host.start:h.host.end]
		_, _ = bw.Write(host[:len(stripPort(string(host)))])
	}
	_, _ = bw.Write(head[h.target.start:h.target.end])
	_, _ = bw.WriteString("\r\nContent-Length: 0\r\n")
	if st.hstsVal != nil {
		_, _ = bw.WriteString("Strict-Transport-Security: ")
		_, _ = bw.WriteString(st.hstsVal[0])
		_, _ = bw.WriteString("\r\n")
	}
	if !keep {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	_ = bw.Flush()
	return http.StatusMovedPermanently, 0
}

// fastProxy relays one request to the upstream and its response back. It
// returns the status, body bytes sent and whether the connection stays open.
func (l *listener) fastProxy(f *fastConn, head []byte, st *listenerState, keep bool) (int, int64, bool) {
	h := &f.head
	out := l.fastRequest(f, head, st, nil)
	isHead := h.method.end == 4
	_, _ = f.br.Discard(h.size)

	t := st.transport
	for attempt := 0; ; attempt++ {
		pc, reused, err := t.get(context.Background(), attempt > 0)
		if err != nil {
			return l.fastError(f, st, err, keep)
		}
		status, sent, ok, err := l.fastExchange(f, pc, st, out, isHead, keep)
		if err == nil {
			return status, sent, ok
		}
		_ = pc.c.Close()
		if reused && attempt == 0 && errors.Is(err, errUpstreamClosed) {
			continue
		}
		if status != 0 { // the response had started: nothing more can be sent
			return status, sent, false
		}
		return l.fastError(f, st, err, keep)
	}
}

// fastRequest builds the upstream request head in f.out: request line,
// the client's headers minus hop-by-hop and spoofable ones, the forwarding
// headers and, for upgrades, Connection/Upgrade.
func (l *listener) fastRequest(f *fastConn, head []byte, st *listenerState, upgrade []byte) []byte {
	h := &f.head
	fc := f.fc
	out := f.out[:0]
	out = append(out, head[h.method.start:h.method.end]...)
	out = append(out, ' ')
	if st.upstreamBase {
		base := st.upstream.Path
		if base[len(base)-1] == '/' {
			base = base[:len(base)-1]
		}
		out = append(out, base...)
	}
	out = append(out, head[h.target.start:h.target.end]...)
	out = append(out, " HTTP/1.1\r\n"...)
	for _, k := range h.keep[:h.nkeep] {
		out = append(out, head[k.start:k.end]...)
	}
	out = append(out, "X-Forwarded-For: "...)
	out = append(out, fc.xff[0]...)
	out = append(out, "\r\nX-Real-IP: "...)
	out = append(out, fc.xff[0]...)
	out = append(out, "\r\nX-Forwarded-Proto: "...)
	out = append(out, st.cfg.ForwardedProto...)
	out = append(out, "\r\nX-Forwarded-Port: "...)
	out = append(out, fc.port[0]...)
	if fc.vpce != "" {
		out = append(out, "\r\nX-Amzn-Vpce-Id: "...)
		out = append(out, fc.vpce...)
	}
	if upgrade != nil {
		out = append(out, "\r\nConnection: Upgrade\r\nUpgrade: "...)
		out = append(out, upgrade...)
	}
	out = append(out, "\r\n\r\n"...)
	f.out = out
	return out
}

// fastExchange writes the request on pc, reads the response head and
// streams the response. A non-nil error with status 0 means nothing was
// sent to the client.
func (l *listener) fastExchange(f *fastConn, pc *upConn, st *listenerState, out []byte, isHead, keep bool) (int, int64, bool, error) {
	t := st.transport
	if t.headerTimeout > 0 {
		_ = pc.c.SetDeadline(time.Now().Add(t.headerTimeout))
	}
	if _, err := pc.bw.Write(out); err != nil {
		return 0, 0, false, errUpstreamClosed
	}
	if err := pc.bw.Flush(); err != nil {
		return 0, 0, false, errUpstreamClosed
	}
	var rh respHead
	for {
		if _, err := pc.br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) || isConnReset(err) {
				return 0, 0, false, errUpstreamClosed
			}
			return 0, 0, false, err
		}
		b, err := readFastHead(pc.br)
		if err != nil {
			if errors.Is(err, errNotFast) {
				return 0, 0, false, errors.New("proxy: upstream response head over 4 KiB")
			}
			return 0, 0, false, err
		}
		if err := parseRespHead(b, &rh, false); err != nil {
			return 0, 0, false, err
		}
		if rh.status >= 200 {
			break
		}
		_, _ = pc.br.Discard(rh.size) // 1xx informational: not relayed
	}
	if t.headerTimeout > 0 && !bodyBuffered(pc.br, &rh, isHead) {
		// The body still has to be read: no deadline on streaming it. A
		// body already in the buffer reads nothing more, and every use of
		// a pooled connection sets its deadline first, so the timer is
		// left alone (one timer update fewer per request).
		_ = pc.c.SetDeadline(time.Time{})
	}
	sent, keep, reuse, err := l.relayResponse(f, pc.br, &rh, st, isHead, keep)
	if err != nil {
		// Upstream or client failed mid-body: neither connection is reusable.
		_ = pc.c.Close()
		return rh.status, sent, false, nil //nolint:nilerr // the response has started: nothing to report to the client but a closed connection
	}
	t.release(pc, reuse)
	return rh.status, sent, keep, nil
}

// bodyBuffered reports whether the whole response (head and body) parsed
// in rh is already in br, so relaying it reads nothing from the socket.
func bodyBuffered(br *bufio.Reader, rh *respHead, isHead bool) bool {
	if isHead || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified {
		return true
	}
	return !rh.chunked && rh.length >= 0 && int64(br.Buffered()) >= int64(rh.size)+rh.length
}

// relayResponse writes the response head parsed in rh (still buffered in
// br) and its body to the client. It reports the body bytes, whether the
// client connection stays open and whether the upstream one can be reused.
func (l *listener) relayResponse(f *fastConn, br *bufio.Reader, rh *respHead, st *listenerState, isHead, keep bool) (int64, bool, bool, error) {
	b, _ := br.Peek(rh.size)
	noBody := isHead || rh.status == http.StatusNoContent || rh.status == http.StatusNotModified
	untilEOF := !noBody && !rh.chunked && rh.length < 0
	if untilEOF {
		keep = false
	}
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(b[rh.statusLine.start:rh.statusLine.end])
	_, _ = bw.WriteString("\r\n")
	for _, k := range rh.keep[:rh.nkeep] {
		_, _ = bw.Write(b[k.start:k.end])
	}
	if st.hstsVal != nil {
		_, _ = bw.WriteString("Strict-Transport-Security: ")
		_, _ = bw.WriteString(st.hstsVal[0])
		_, _ = bw.WriteString("\r\n")
	}
	if !keep {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	_, _ = br.Discard(rh.size)

	var sent int64
	var err error
	switch {
	case noBody:
	case rh.chunked:
		sent, err = copyChunked(bw, br)
	case rh.length >= 0:
		sent, err = io.CopyN(bw, br, rh.length)
	default:
		sent, err = io.Copy(bw, br)
	}
	if err != nil {
		_ = bw.Flush()
		return sent, false, false, err
	}
	if ferr := bw.Flush(); ferr != nil {
		keep = false
	}
	return sent, keep, !rh.close && !untilEOF, nil
}

// fastError answers an upstream failure (502, or 504 on timeouts) like
// proxyError does on the net/http path.
func (l *listener) fastError(f *fastConn, st *listenerState, err error, keep bool) (int, int64, bool) {
	status, reason := classifyUpstreamError(context.Background(), err)
	l.metrics.upstreamError(reason)
	l.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "upstream error",
		slog.String("listener", l.name), slog.String("upstream", st.cfg.Upstream),
		slog.String("reason", reason), slog.Int("status", status), slog.String("error", err.Error()))
	text := http.StatusText(status)
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(status))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(text) + 1))
	if !keep {
		_, _ = bw.WriteString("\r\nConnection: close")
	}
	_, _ = bw.WriteString("\r\n\r\n")
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\n")
	if bw.Flush() != nil {
		keep = false
	}
	return status, int64(len(text) + 1), keep
}

// replayConn is a connection handed to net/http: bytes the fast path
// buffered are read first.
type replayConn struct {
	*frontConn
	br *bufio.Reader
}

func (c *replayConn) Read(b []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(b)
		}
		c.br = nil
	}
	return c.frontConn.Read(b)
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
