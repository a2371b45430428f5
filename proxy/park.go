package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Parking: an idle session costs its sockets and a small record, no
// goroutine and no buffer. Each direction of a WebSocket or tcp session
// (tunnelDir) copies with pump on its own goroutine; when its source has
// sent nothing for park_after, the goroutine registers the source socket
// in the proxy's own readiness set (parker: epoll, EPOLLONESHOT, a few
// waiter goroutines for the whole process; park_linux.go) and exits. The
// first readable byte, end or error on that socket starts a goroutine that
// resumes the copy on the normal path. Whatever must reach a parked
// direction wakes it the same way: the other direction ending (the
// half-close rule), the drain's 1001 Close frame (goAway), a close of the
// session, and the expiry of tunnel_idle_timeout, which a coarse wheel
// (one ticker for the process, no timer per session) delivers. The
// direction's state (bytes, the WebSocket frame tracker) lives in the
// tunnel, so it survives parking.

// parkItem is what a parked socket's readiness (ready) or its wheel entry
// and every other reason to run (wake) resumes: a tunnel direction, or a
// keep-alive connection between requests.
type parkItem interface {
	// ready: the socket is readable (or ended). Called on the parker's
	// goroutine with its buffer (relayBufSize bytes, the item's only while
	// the call lasts); it must not block.
	ready(buf []byte)
	wake()
}

// relayBufSize is the parker's read buffer, one per epoll set: a read that
// fills it is a bulk transfer, which goes to a goroutine.
const relayBufSize = 64 << 10

// Direction states.
const (
	dirRunning int32 = iota // a goroutine copies
	dirParked               // waiting in the parker
	dirEnded                // the direction has ended
)

// tunnelDir is one direction of a tunnel that parks when idle.
type tunnelDir struct {
	t        *tunnel
	dst, src *net.TCPConn
	frames   *wsFrames // the client-bound direction of a WebSocket: its frame tracker
	other    *tunnelDir
	total    int64 // bytes copied (owned by the running goroutine)
	state    atomic.Int32
	slot     parkSlot // the parker's handle, once parked (park_linux.go)
	down     bool     // client-bound (the app's bytes)
	// relayedAt is when the parker last relayed a message of this
	// direction in place (Unix ns; owned, like total, by whoever took the
	// direction out of dirParked). It fits the record's size class.
	relayedAt int64
}

// runParking starts both directions of t with parking (park_after > 0,
// both ends raw TCP sockets).
func (t *tunnel) runParking() {
	up := &tunnelDir{t: t, dst: t.upstream, src: t.fc.raw}
	// A direction keeps no pump options: copyOpts makes them when a
	// goroutine copies (a parked session holds no closure).
	down := &tunnelDir{t: t, dst: t.fc.raw, src: t.upstream, down: true, frames: t.down}
	up.other, down.other = down, up
	t.dirs = [2]*tunnelDir{up, down}
	parker.alloc(up, &up.slot)
	parker.alloc(down, &down.slot)
	// A new session has nothing to copy yet: both directions start parked,
	// so that no goroutine waits for a first message (sessions opened
	// faster than park_after would otherwise each leave two goroutine
	// records behind, which Go never frees).
	up.start()
	down.start()
}

// copyOpts are the direction's pump duties for a goroutine's copy: with
// the send_timeout callback on the client-bound direction.
func (d *tunnelDir) copyOpts() pumpOpts {
	t := d.t
	o := pumpOpts{frames: d.frames}
	if t.idle > 0 {
		o.active = &t.lastActive
	}
	if d.down && t.sendTimeout > 0 {
		o.sendTimeout, o.timedOut = t.sendTimeout, t.sendTimedOut
	}
	return o
}

// sendTimedOut: send_timeout passed on a write to the client. It ends the
// session: a write deadline's expiry must not pass for the read deadline's
// (splice reports both as timeouts).
func (t *tunnel) sendTimedOut() {
	t.l.clientTimedOut(t.fc, "send_timeout", t.sendTimeout)
	t.closed.Store(true)
}

// start parks a new direction, or runs it when it cannot park.
func (d *tunnelDir) start() {
	if !d.park() {
		d.state.Store(dirRunning)
		go d.run()
	}
}

// run copies until the direction ends or parks.
func (d *tunnelDir) run() {
	t := d.t
	if !t.attach() {
		t.close()
		d.end()
		return
	}
	opts := d.copyOpts()
	for {
		if d.down && t.away.Load() {
			d.end()
			return
		}
		deadline, parkable := d.deadline()
		_ = d.src.SetReadDeadline(deadline)
		if d.down && t.away.Load() {
			_ = d.src.SetReadDeadline(time.Unix(1, 0)) // goAway's deadline, not overwritten
		}
		mark := d.total
		n, err := pump(d.dst, d.src, opts)
		d.total += n
		if err == nil || (d.down && t.away.Load()) {
			d.end() // EOF, or goAway
			return
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || t.closed.Load() {
			t.close()
			d.end()
			return
		}
		now := time.Now()
		if t.halfClosed.Load() && !t.splice && now.UnixNano() >= t.finAt.Load() {
			t.close() // the other side did not close within tunnelFinTimeout
			d.end()
			return
		}
		if t.idle > 0 && now.Sub(t.lastActive.load()) >= t.idle {
			t.close() // tunnel_idle_timeout: no traffic either way
			d.end()
			return
		}
		if parkable && d.total == mark {
			if d.park() {
				return // a wake starts a new goroutine
			}
			// Not parked after all; the other direction may have detached
			// the session meanwhile (it saw this one parked for a moment).
			if !t.attach() {
				t.close()
				d.end()
				return
			}
		}
	}
}

// deadline is the source's read deadline for the next wait, and whether
// its expiry means park_after of silence: park_after from now, unless
// tunnel_idle_timeout or the half-close rule ends the wait sooner.
func (d *tunnelDir) deadline() (time.Time, bool) {
	t := d.t
	if t.halfClosed.Load() && !t.splice {
		return time.Unix(0, t.finAt.Load()), false
	}
	at, parkable := time.Now().Add(t.parkAfter), true
	if t.idle > 0 {
		if end := t.lastActive.load().Add(t.idle); end.Before(at) {
			at, parkable = end, false
		}
	}
	return at, parkable
}

// park hands the source socket to the parker and reports whether the
// goroutine may exit (false: keep copying, a reason to run came up).
func (d *tunnelDir) park() bool {
	t := d.t
	gauge := t.l.metrics.parked
	// Counted as parked from the moment a waker can take it (a waker
	// uncounts what it takes).
	d.state.Store(dirParked)
	parkedInc(gauge)
	// Whatever a waker set before it saw dirParked is seen here: the
	// goroutine stays.
	if t.closed.Load() || (d.down && t.away.Load()) || (t.halfClosed.Load() && !t.splice) || !parkSupported {
		if d.state.CompareAndSwap(dirParked, dirRunning) {
			parkedDec(gauge)
			return false
		}
		return true // a waker took it
	}
	if err := d.register(); err != nil {
		if d.state.CompareAndSwap(dirParked, dirRunning) {
			parkedDec(gauge)
			return false
		}
		// A waker took it (and counted it) meanwhile.
		return true
	}
	if d.other.state.Load() == dirParked {
		t.detach()
	}
	return true
}

// register puts the direction's source in the parker's set: the session's
// descriptor while detached, the Go socket otherwise.
func (d *tunnelDir) register() error {
	t := d.t
	t.sock.Lock()
	defer t.sock.Unlock()
	if !t.detached {
		return parker.register(&d.slot, d.src, d.expire())
	}
	fd := t.cfd
	if d.down {
		fd = t.ufd
	}
	if fd < 0 {
		return net.ErrClosed
	}
	return parker.registerFD(&d.slot, fd, d.expire())
}

// ready relays what the parked source holds on the parker's goroutine when
// it can do so without blocking (the usual small message), and parks the
// direction again; anything else (a bulk transfer, a destination that
// cannot take it all now, the end of the source, an error, a timeout, the
// drain) resumes the copy on a goroutine, as wake does. So does a second
// message within park_after of the one before: a busy direction is served
// by a goroutine, as an unparked one, and parks after park_after of quiet
// (relaying each message of a busy session through the parker costs a
// re-arming epoll_ctl and a second wake-up: +13% on the echo round trip).
func (d *tunnelDir) ready(buf []byte) {
	if !d.state.CompareAndSwap(dirParked, dirRunning) {
		return
	}
	parkedDec(d.t.l.metrics.parked)
	rest, again := d.relayNow(buf)
	if again {
		now := time.Now().UnixNano()
		busy := now-d.relayedAt < int64(d.t.parkAfter)
		d.relayedAt = now
		if !busy && d.park() {
			return
		}
	}
	var bp *[]byte
	if rest != nil {
		// What the destination could not take now (or the start of a bulk
		// transfer) moves to a pooled buffer: the parker's is not the
		// goroutine's.
		bp = pumpBufs.Get().(*[]byte)
		rest = (*bp)[:copy(*bp, rest)]
	}
	go d.resume(bp, rest)
}

// relayNow reads once from the source into buf without blocking and
// writes what it read to the destination without blocking. It reports
// again when the direction may park once more: nothing more to do now.
// Otherwise rest, when not nil, holds the bytes read but not yet written
// (a slice of buf), for resume.
func (d *tunnelDir) relayNow(buf []byte) (rest []byte, again bool) {
	t := d.t
	if t.closed.Load() || (d.down && t.away.Load()) || t.halfClosed.Load() {
		return nil, false
	}
	if t.idle > 0 && time.Since(t.lastActive.load()) >= t.idle {
		return nil, false // tunnel_idle_timeout: run applies it
	}
	var (
		n, w       int
		rerr, werr syscall.Errno
	)
	ok := d.withFDs(func(src, dst uintptr) {
		if n, rerr = sysReadNow(src, buf); rerr != 0 || n <= 0 {
			return
		}
		for w < n {
			m, e := sysWriteNow(dst, buf[w:n])
			if e != 0 {
				werr = e
				return // full (EAGAIN), or an error: the goroutine's write meets it
			}
			w += m
		}
	})
	if !ok || rerr != 0 || n <= 0 {
		switch {
		case ok && rerr == syscall.EAGAIN:
			return nil, true // nothing after all (the event was stale)
		case ok && rerr != 0:
			t.close() // an error is reported once: the session ends here
		}
		// The end of the source (resume on the normal path, which reads
		// the end again: a socket's end is reported to every read), or the
		// sockets are gone (run sees the close).
		return nil, false
	}
	if d.frames != nil {
		d.frames.feed(buf[:n])
	}
	d.total += int64(n)
	if t.idle > 0 {
		t.lastActive.store(time.Now())
	}
	if w < n || n == len(buf) || werr != 0 {
		// The destination is full, or a full read means a bulk transfer:
		// the normal path (with send_timeout, and splice) takes over.
		return buf[w:n], false
	}
	return nil, true
}

// withFDs runs f with the descriptors of d's source and destination: the
// session's own while it is detached, the Go sockets' otherwise (inside
// their Control, so neither can be closed meanwhile). It reports false,
// without running f, when the sockets are gone.
func (d *tunnelDir) withFDs(f func(src, dst uintptr)) bool {
	t := d.t
	t.sock.Lock()
	defer t.sock.Unlock()
	if t.detached {
		src, dst := t.cfd, t.ufd
		if d.down {
			src, dst = dst, src
		}
		if src < 0 || dst < 0 {
			return false
		}
		f(uintptr(src), uintptr(dst)) //nolint:gosec // descriptors
		return true
	}
	src, err := d.src.SyscallConn()
	if err != nil {
		return false
	}
	dst, err := d.dst.SyscallConn()
	if err != nil {
		return false
	}
	ran := false
	err = src.Control(func(s uintptr) {
		_ = dst.Control(func(ds uintptr) {
			f(s, ds)
			ran = true
		})
	})
	return err == nil && ran
}

// Detached sessions. While both directions of a session are parked, the
// session keeps one descriptor of each socket, in the parker's set, and
// closes its Go sockets (two net.TCPConns with their poll descriptors and
// addresses, and the client's raw-socket state): detach. The parker relays
// small messages on those descriptors (withFDs). Whatever has to run on a
// goroutine first makes Go sockets of them again: attach, at the top of
// run and resume, and after a park that failed (for a moment the direction
// was parked, and the other one may have detached the session). t.sock
// orders the hand-over: registration, the parker's relay and goAway read
// under it; detach, attach and close change or close the sockets under it.
// A running direction reads its sockets without it: nothing detaches a
// session while a direction runs.

// detach: see above. It does nothing unless both directions are parked
// and the session is plain (not closing, half-closed or going away).
func (t *tunnel) detach() {
	t.sock.Lock()
	defer t.sock.Unlock()
	up, down := t.dirs[0], t.dirs[1]
	if t.detached || t.closed.Load() || t.halfClosed.Load() || t.away.Load() ||
		up.state.Load() != dirParked || down.state.Load() != dirParked {
		return
	}
	cfd, err := dupConn(t.fc.raw)
	if err != nil {
		return
	}
	ufd, err := dupConn(t.upstream)
	if err != nil {
		closeFD(cfd)
		return
	}
	if parker.registerFD(&up.slot, cfd, up.expire()) != nil || parker.registerFD(&down.slot, ufd, down.expire()) != nil {
		parker.forget(cfd)
		parker.forget(ufd)
		closeFD(cfd)
		closeFD(ufd)
		return
	}
	// The Go descriptors leave the parker's set before they close (the
	// socket stays open: a registration keyed by a closed number would
	// outlive it).
	forgetConn(t.fc.raw)
	forgetConn(t.upstream)
	_ = t.fc.raw.Close()
	_ = t.upstream.Close()
	t.fc.Conn, t.fc.raw, t.fc.rs, t.fc.ppc = nil, nil, nil, nil
	t.upstream, t.up = nil, nil
	up.src, up.dst, down.src, down.dst = nil, nil, nil, nil
	t.cfd, t.ufd, t.detached = cfd, ufd, true
}

// attach gives a detached session Go sockets made from its descriptors,
// and moves a direction still parked onto them. It reports false when the
// session has no sockets left (closed while detached, or a socket could
// not be made): it stays detached without descriptors, and the caller's
// copy ends (t.close, d.end) without touching a socket.
func (t *tunnel) attach() bool {
	t.sock.Lock()
	defer t.sock.Unlock()
	if !t.detached {
		return true
	}
	cc, uc := attachFD(t.cfd), attachFD(t.ufd)
	t.cfd, t.ufd = -1, -1
	if cc == nil || uc == nil {
		t.closed.Store(true)
		if cc != nil {
			_ = cc.Close()
		}
		if uc != nil {
			_ = uc.Close()
		}
		return false
	}
	t.detached = false
	t.fc.Conn = cc
	t.fc.raw, t.upstream = cc, uc
	t.up = uc
	up, down := t.dirs[0], t.dirs[1]
	up.src, up.dst, down.src, down.dst = cc, uc, uc, cc
	for _, d := range t.dirs {
		if d.state.Load() != dirParked {
			continue
		}
		if err := parker.register(&d.slot, d.src, d.expire()); err != nil && d.state.CompareAndSwap(dirParked, dirRunning) {
			parkedDec(t.l.metrics.parked)
			go d.run()
		}
	}
	return true
}

// attachFD makes a Go socket of fd (taking it out of the parker's set and
// closing it: its registration must not outlive the number), or returns
// nil (fd < 0: none).
func attachFD(fd int) *net.TCPConn {
	if fd < 0 {
		return nil
	}
	parker.forget(fd)
	c, err := fileConn(fd)
	if tc, ok := c.(*net.TCPConn); err == nil && ok {
		return tc
	}
	if c != nil {
		_ = c.Close()
	}
	return nil
}

// dupConn duplicates c's descriptor.
func dupConn(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("park: raw conn: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = dupFD(s) }); err != nil || derr != nil {
		return -1, fmt.Errorf("park: dup: %w", errors.Join(err, derr))
	}
	return fd, nil
}

// forgetConn takes c's descriptor out of the parker's set.
func forgetConn(c *net.TCPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(s uintptr) { parker.forget(int(s)) }) //nolint:gosec // a descriptor
	}
}

// expire is the wheel tick of the direction's tunnel_idle_timeout, or 0.
func (d *tunnelDir) expire() int64 {
	if t := d.t; t.idle > 0 {
		return wheelTick(t.lastActive.load().Add(t.idle))
	}
	return 0
}

// resume runs the direction on a goroutine (ready could not finish it):
// first the bytes relayNow read but could not write, then the copy.
func (d *tunnelDir) resume(bp *[]byte, rest []byte) {
	if !d.t.attach() {
		if bp != nil {
			pumpBufs.Put(bp)
		}
		d.t.close()
		d.end()
		return
	}
	if bp != nil {
		var err error
		if len(rest) > 0 {
			var out io.Writer = d.dst
			if rs := newRawSock(d.dst); rs != nil {
				o := d.copyOpts()
				rs.sendTimeout, rs.timedOut = o.sendTimeout, o.timedOut
				out = rs
			}
			_, err = out.Write(rest)
		}
		pumpBufs.Put(bp)
		if err != nil {
			d.t.close()
			d.end()
			return
		}
	}
	d.run()
}

// wake resumes a parked direction on a new goroutine; a running one
// notices by itself (the caller has set its flag or deadline first).
func (d *tunnelDir) wake() {
	if d != nil && d.state.CompareAndSwap(dirParked, dirRunning) {
		parkedDec(d.t.l.metrics.parked)
		go d.run()
	}
}

// end finishes the direction: the Close frame at goAway, the half-close
// towards dst, the fin deadline for the other direction; the second
// direction to end finishes the session.
func (d *tunnelDir) end() {
	t := d.t
	d.state.Store(dirEnded)
	parker.release(&d.slot)
	// Without sockets (closed while detached) there is nothing to send or
	// half-close; a running direction's sockets cannot change under it.
	t.sock.Lock()
	live := !t.detached
	t.sock.Unlock()
	if d.down {
		if t.away.Load() && live {
			t.sendGoingAway()
		}
		t.toClient = d.total
		if live {
			closeWrite(t.fc.raw)
		}
	} else {
		t.toUpstream += d.total
		if live {
			closeWrite(t.up)
		}
	}
	if !t.splice {
		t.finAt.Store(time.Now().Add(tunnelFinTimeout).UnixNano())
		t.halfClosed.Store(true)
		if live {
			_ = d.other.src.SetReadDeadline(time.Unix(0, t.finAt.Load()))
		}
		d.other.wake()
	}
	if t.ended.Add(1) == 2 {
		t.finish()
	}
}

// wakeParked resumes both directions if parked (a close, goAway).
func (t *tunnel) wakeParked() {
	t.dirs[0].wake()
	t.dirs[1].wake()
}

// parkAfter is park_after (0 before Normalize set the default).
func (l ListenerConfig) parkAfter() time.Duration {
	if l.ParkAfter == nil {
		return 0
	}
	return *l.ParkAfter
}

// wheelStep is the parker's wheel resolution: a parked expiry fires at
// most this much (plus one step) late.
const wheelStep = 250 * time.Millisecond

// wheelTick is the wheel slot at or after t.
func wheelTick(t time.Time) int64 {
	return (t.UnixNano() + int64(wheelStep) - 1) / int64(wheelStep)
}

// parkedConn is a keep-alive connection parked between requests: its
// socket and the time it went idle, nothing else (the httpConn and its
// buffers went back to their pool). While parked the socket is a bare
// descriptor of the parker's (fd): the connection's Go socket is closed,
// with its poll descriptor, addresses and raw-socket state, and a new one
// is made from fd when the connection resumes (attach).
type parkedConn struct {
	l        *listener
	fc       *frontConn
	idleFrom int64 // Unix ns
	state    atomic.Int32
	slot     parkSlot
	mu       sync.Mutex // guards fd and fc's socket fields while they change hands
	fd       int        // the parked socket; -1 once attached or closed
}

// parkConn parks f's connection, idle since idleFrom, and reports whether
// it did (false: keep serving it on this goroutine). idle_timeout expires
// from the parker's wheel. The connection stays counted in connsWG.
func (l *listener) parkConn(f *httpConn, idleFrom time.Time) bool {
	fc := f.fc
	pc := &parkedConn{l: l, fc: fc, idleFrom: idleFrom.UnixNano(), fd: -1}
	pc.state.Store(dirParked)
	parker.alloc(pc, &pc.slot) // before a waker can see it
	l.connsMu.Lock()
	if l.draining.Load() {
		l.connsMu.Unlock()
		parker.release(&pc.slot)
		return false
	}
	delete(l.conns, f)
	if l.parked == nil {
		l.parked = make(map[*parkedConn]struct{})
	}
	l.parked[pc] = struct{}{}
	l.connsMu.Unlock()
	parkedInc(l.metrics.parked)
	expire := wheelTick(idleFrom.Add(fc.st.cfg.IdleTimeout))
	if err := pc.detach(expire); err != nil && pc.state.CompareAndSwap(dirParked, dirRunning) {
		parkedDec(l.metrics.parked)
		parker.release(&pc.slot)
		l.connsMu.Lock()
		delete(l.parked, pc)
		l.conns[f] = struct{}{}
		l.connsMu.Unlock()
		return false
	}
	return true // parked, or a waker has already resumed it on a new httpConn
}

// detach moves the connection's socket to a descriptor of the parker's,
// registers it (with its idle_timeout expiry) and closes the Go socket.
// On error nothing changed: the Go socket still serves.
func (pc *parkedConn) detach(expire int64) error {
	fc := pc.fc
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.state.Load() != dirParked {
		return errWoken // a wake came first and serves the Go socket
	}
	fd, err := dupConn(fc.raw)
	if err != nil {
		return err
	}
	pc.fd = fd
	// Registered before the Go socket closes; a wake that comes at once
	// waits for pc.mu in attach.
	if err := parker.registerFD(&pc.slot, pc.fd, expire); err != nil {
		closeFD(pc.fd)
		pc.fd = -1
		return err
	}
	_ = fc.raw.Close() // the Go descriptor; pc.fd keeps the socket
	fc.Conn, fc.raw, fc.rs = nil, nil, nil
	return nil
}

// attach gives the connection a Go socket made from its parked descriptor,
// which leaves the parker's set and closes. When the descriptor is gone
// (closed by a stop) or no socket can be made, the connection gets a
// closed one: its worker's first read fails and ends it as any closed
// connection ends.
func (pc *parkedConn) attach() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	fc := pc.fc
	if fc.Conn != nil {
		return // never detached (parking failed after the wake came)
	}
	raw := attachFD(pc.fd)
	pc.fd = -1
	if raw == nil {
		fc.Conn = goneConn{}
		return
	}
	fc.Conn = raw
	fc.setSocket(raw)
	if fc.closed.Load() {
		_ = raw.Close() // a stop closed it meanwhile
	}
}

// close closes a parked connection's socket (a stop); a connection that
// was resumed meanwhile closes its Go socket.
func (pc *parkedConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	_ = pc.fc.Close() // bookkeeping, and the Go socket if attached
	if pc.fd >= 0 {
		closeFD(pc.fd) // the last descriptor: it leaves epoll with it
		pc.fd = -1
	}
}

// errWoken: the connection was resumed before it could park.
var errWoken = errors.New("park: resumed before parking")

// goneConn is the socket of a connection whose parked descriptor was
// closed: every read and write fails.
type goneConn struct{}

func (goneConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (goneConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (goneConn) Close() error                     { return nil }
func (goneConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (goneConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (goneConn) SetDeadline(time.Time) error      { return nil }
func (goneConn) SetReadDeadline(time.Time) error  { return nil }
func (goneConn) SetWriteDeadline(time.Time) error { return nil }

// ready: the connection has something to read (or ended).
func (pc *parkedConn) ready([]byte) { pc.wake() }

// wake resumes a parked connection on a pooled httpConn and a connection
// worker: it reads the next request, or applies idle_timeout or the drain.
func (pc *parkedConn) wake() {
	if !pc.state.CompareAndSwap(dirParked, dirRunning) {
		return
	}
	l := pc.l
	parkedDec(l.metrics.parked)
	parker.release(&pc.slot)
	pc.attach()
	f := httpConns.Get().(*httpConn)
	f.fc = pc.fc
	f.src.r = pc.fc
	f.br.Reset(&f.src)
	f.bw.Reset(pc.fc)
	f.resumed, f.idleSince = true, pc.idleFrom
	l.connsMu.Lock()
	delete(l.parked, pc)
	l.conns[f] = struct{}{}
	l.connsMu.Unlock()
	l.dispatch(f)
}

// parkedNow counts the sockets parked in this process (all servers), for
// releaseIdleMemory.
var parkedNow atomic.Int64

func parkedInc(g prometheus.Gauge) {
	g.Inc()
	parkedNow.Add(1)
}

func parkedDec(g prometheus.Gauge) {
	g.Dec()
	parkedNow.Add(-1)
}

// Parking frees goroutine stacks and buffers into the Go heap, but the
// runtime hands freed memory back to the kernel only slowly, and only
// after a garbage collection, which an idle process may not run for two
// minutes. When many connections have parked since the last look, the
// process returns its free memory at once (debug.FreeOSMemory: a
// collection and a scavenge), at most once per releaseEvery: the memory
// of idle connections then leaves the resident set, as in the proxies
// written in C.
const (
	releaseEvery    = 30 * time.Second
	releaseAfterNew = 1000 // more parked sockets than at the last release
)

var releaseOnce sync.Once

// startIdleRelease starts the look (once per process, at the first park).
func startIdleRelease() {
	releaseOnce.Do(func() {
		go func() {
			var last int64
			for range time.Tick(releaseEvery / 6) {
				now := parkedNow.Load()
				if now < last {
					last = now
				}
				if now-last >= releaseAfterNew {
					// The first collection moves the pools' buffers (parked
					// keep-alive connections' readers and writers) to their
					// victim caches; FreeOSMemory's frees them and returns
					// the memory.
					runtime.GC()
					debug.FreeOSMemory()
					last = now
					time.Sleep(releaseEvery)
				}
			}
		}()
	})
}
