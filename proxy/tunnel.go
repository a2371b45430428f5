package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// tunnel copies bytes both ways between a client and an upstream after a
// protocol switch (or in tcp mode) and logs one line when both ends close.
type tunnel struct {
	l        *listener
	fc       *frontConn
	upstream *net.TCPConn // nil if the dialer returned something else
	up       net.Conn
	idle     time.Duration
	// sendTimeout bounds each wait to write to the client (send_timeout;
	// WebSockets only, 0: none).
	sendTimeout time.Duration
	e           entry
	down        *wsFrames // WebSockets: frame boundaries of the client-bound bytes (wsclose.go)

	toUpstream, toClient int64
	lastActive           atomicTime

	// Parking (park.go): parkAfter > 0 runs the directions as tunnelDirs.
	parkAfter time.Duration
	dirs      [2]*tunnelDir // up, down; nil without parking
	finAt     atomic.Int64  // Unix ns: the half-close rule's deadline
	ended     atomic.Int32  // directions that ended
	closed    atomic.Bool
	away      atomic.Bool // the drain's deadline passed: close with 1001 (goAway)
	// halfClosed is set when one direction of a WebSocket has ended: the
	// idle rule then no longer extends the other direction's fin deadline.
	halfClosed atomic.Bool
	splice     bool // tcp mode: io.Copy between the raw sockets (splice(2)); WebSockets use pump

	// Detaching (park.go): while both directions are parked the session
	// holds the descriptors cfd (client) and ufd (app) instead of its Go
	// sockets; sock orders the hand-over.
	detached bool
	sock     sync.Mutex
	cfd, ufd int
}

// run registers the session and starts its two copy goroutines; the calling
// goroutine (net/http's connection goroutine) returns so its stack is freed.
func (t *tunnel) run() {
	s := t.l.srv
	if !s.addSession(t) {
		t.close()
		return
	}
	t.l.metrics.tunnels.Inc()
	// A session sends no more request heads: the forwarding-header values
	// made for them go (an idle WebSocket's memory is counted in bytes).
	t.fc.xff, t.fc.port, t.fc.vpceVal = nil, nil, nil
	if t.idle > 0 {
		t.lastActive.store(time.Now())
	}
	if early := t.fc.drainProxyBuffer(); len(early) > 0 {
		t.toUpstream = int64(len(early))
		if _, err := t.up.Write(early); err != nil {
			t.close()
		}
	}
	if t.parkAfter > 0 && parkSupported && t.upstream != nil && t.fc.raw != nil {
		t.runParking()
		return
	}
	done := make(chan struct{})
	go func() {
		t.toUpstream += t.copyUp()
		closeWrite(t.up)
		t.finWait(t.up)
		close(done)
	}()
	go func() {
		t.toClient = t.copyDown()
		closeWrite(t.fc.raw)
		t.finWait(t.fc)
		<-done
		t.finish()
	}()
}

// tunnelFinTimeout is how long a WebSocket stays half-closed: once one side
// has closed its end, the other gets this long to close its own, then both
// are closed. A WebSocket has its own closing handshake, so a TCP
// half-close ends the session; without the bound, a client that keeps its
// socket after the app went away (killed, restarted) would hold the session
// — and the websockets_active gauge — forever.
const tunnelFinTimeout = 2 * time.Second

// finWait bounds the other direction's read on src once one direction has
// ended (WebSockets only; tcp mode keeps TCP's half-close semantics).
func (t *tunnel) finWait(src interface{ SetReadDeadline(time.Time) error }) {
	if !t.splice {
		t.halfClosed.Store(true)
		_ = src.SetReadDeadline(time.Now().Add(tunnelFinTimeout))
	}
}

// idleDeadline is the read deadline of a copy under the idle rule: t.idle
// from now, or tunnelFinTimeout once the other direction has ended.
func (t *tunnel) idleDeadline() time.Time {
	if t.halfClosed.Load() {
		return time.Now().Add(tunnelFinTimeout)
	}
	return time.Now().Add(t.idle)
}

// keepWaiting reports whether a copy under the idle rule whose read timed
// out should wait again: the other direction saw traffic within t.idle, and
// neither direction has ended.
func (t *tunnel) keepWaiting(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !t.halfClosed.Load() && time.Since(t.lastActive.load()) < t.idle
}

func (t *tunnel) copyUp() int64 {
	if t.idle > 0 && t.upstream != nil && t.fc.raw != nil {
		return t.pumpIdle(t.upstream, t.fc.raw, pumpOpts{})
	}
	if t.idle > 0 {
		return t.copyIdle(t.up, t.fc, t.fc, nil)
	}
	if t.splice && t.upstream != nil {
		// *proxyproto.Conn.WriteTo flushes its buffer, then io.Copy between
		// two *net.TCPConn: splice(2).
		n, err := io.Copy(t.upstream, t.fc.reader())
		t.onError(err)
		return n
	}
	if t.upstream != nil && t.fc.raw != nil {
		n, err := pump(t.upstream, t.fc.raw, pumpOpts{})
		t.onError(err)
		return n
	}
	n, err := io.Copy(t.up, t.fc.reader())
	t.onError(err)
	return n
}

func (t *tunnel) copyDown() int64 {
	if t.idle > 0 && t.upstream != nil && t.fc.raw != nil {
		n := t.pumpIdle(t.fc.raw, t.upstream, t.downOpts())
		if t.away.Load() {
			t.sendGoingAway()
		}
		return n
	}
	if t.idle > 0 {
		n := t.copyIdle(t.fc.writer(), t.up, t.up, t.down)
		if t.away.Load() {
			t.sendGoingAway()
		}
		return n
	}
	if t.splice && t.upstream != nil && t.fc.raw != nil {
		n, err := io.Copy(t.fc.raw, t.upstream) // splice(2)
		t.onError(err)
		return n
	}
	if t.upstream != nil && t.fc.raw != nil {
		n, err := pump(t.fc.raw, t.upstream, t.downOpts())
		if t.away.Load() {
			t.sendGoingAway()
			return n
		}
		t.onError(err)
		return n
	}
	if t.down != nil {
		t.down.broken = true // unseen bytes: no frame of ours at the deadline
	}
	n, err := io.Copy(t.fc.writer(), t.up)
	t.onError(err)
	return n
}

// pumpOpts are pump's optional duties; the zero value copies and nothing
// more.
type pumpOpts struct {
	// sendTimeout bounds each wait for room in dst (send_timeout towards a
	// client that stopped reading); timedOut is called when it expires.
	sendTimeout time.Duration
	timedOut    func()
	// frames, when not nil, follows the WebSocket frames that pass
	// (wsclose.go): the bulk path then moves only the rest of the current
	// payload unseen.
	frames *wsFrames
	// active, when not nil, is set to the time of each transfer (the idle
	// rule); a read deadline on src then ends pump with a timeout error.
	active *atomicTime
}

// downOpts are the client-bound copy's pump duties: send_timeout and the
// frame tracker.
func (t *tunnel) downOpts() pumpOpts {
	return pumpOpts{sendTimeout: t.sendTimeout, frames: t.down,
		timedOut: func() { t.l.clientTimedOut(t.fc, "send_timeout", t.sendTimeout) }}
}

// pumpBufs are lent to pump only while bytes are flowing.
var pumpBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// pump copies src to dst until EOF. While the connection is idle it holds
// no buffer and no pipe: it waits for readability with a 1-byte MSG_PEEK,
// then borrows a 64 KiB buffer and reads without blocking until the socket
// is drained; when a read fills the buffer (bulk), the bytes queued in the
// socket (FIONREAD) move with splice(2). An idle tunnel costs two parked
// goroutines and nothing else (io.Copy's splice would pin two 1 MiB-capacity
// pipes in the kernel per idle tunnel).
func pump(dst *net.TCPConn, src *net.TCPConn, o pumpOpts) (int64, error) {
	sendTimeout, timedOut, frames, active := o.sendTimeout, o.timedOut, o.frames, o.active
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("raw conn: %w", err)
	}
	// Raw read(2)/write(2) on the non-blocking sockets: see rawSock.
	var out io.Writer = dst
	if rs := newRawSock(dst); rs != nil {
		rs.sendTimeout, rs.timedOut = sendTimeout, timedOut
		out = rs
	}
	var (
		total int64
		n     int
		rerr  error
		buf   []byte
		eof   bool
		calls int
	)
	waitData := func(fd uintptr) bool {
		if calls++; calls > 1 {
			return true // the poller reported data: let the read find out
		}
		m, e := sysPeek(fd)
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			return false // park until the poller reports data
		case e != 0:
			rerr = e
		case m == 0:
			eof = true
		}

		return true
	}
	readNow := func(fd uintptr) bool {
		r, e := sysRead(fd, buf)
		n, rerr = r, nil
		if e != 0 {
			n, rerr = 0, e
		}
		return e != syscall.EINTR
	}
	var avail int
	inq := func(fd uintptr) {
		var v int32
		if _, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); e != 0 {
			v = 0
		}
		avail = int(v)
	}
	for {
		eof, rerr, calls = false, nil, 0
		if err := rc.Read(waitData); err != nil {
			return total, err
		}
		if rerr != nil {
			return total, rerr
		}
		if eof {
			return total, nil
		}
		bp := pumpBufs.Get().(*[]byte)
		buf = *bp
		for {
			if err := rc.Read(readNow); err != nil {
				pumpBufs.Put(bp)
				return total, err
			}
			if errors.Is(rerr, syscall.EAGAIN) {
				break // drained: give the buffer back and wait again
			}
			if rerr != nil {
				pumpBufs.Put(bp)
				return total, rerr
			}
			if n == 0 {
				pumpBufs.Put(bp)
				return total, nil // EOF
			}
			if frames != nil {
				frames.feed(buf[:n])
			}
			if _, err := out.Write(buf[:n]); err != nil {
				pumpBufs.Put(bp)
				return total, err
			}
			total += int64(n)
			if active != nil {
				active.store(time.Now())
			}
			if n < len(buf) {
				break // probably drained; saves the EAGAIN read
			}
			// A full buffer means a bulk transfer: move what the socket
			// holds with splice(2) (a pipe from Go's pool, returned after
			// each burst, never held while idle).
			for {
				if err := rc.Control(inq); err != nil || avail <= 0 {
					break
				}
				if frames != nil {
					if avail = frames.spliceable(avail); avail == 0 {
						break // a frame header comes next: read it through buf
					}
				}
				if sendTimeout > 0 {
					_ = dst.SetWriteDeadline(time.Now().Add(sendTimeout))
				}
				m, err := dst.ReadFrom(&io.LimitedReader{R: src, N: int64(avail)})
				if frames != nil {
					frames.skip(m)
				}
				if sendTimeout > 0 {
					_ = dst.SetWriteDeadline(time.Time{})
					if errors.Is(err, os.ErrDeadlineExceeded) && timedOut != nil {
						timedOut()
					}
				}
				total += m
				if active != nil && m > 0 {
					active.store(time.Now())
				}
				if err != nil {
					pumpBufs.Put(bp)
					return total, err
				}
				if m == 0 {
					break
				}
			}
		}
		buf = nil
		pumpBufs.Put(bp)
	}
}

// onError closes both ends when a copy fails, so the other direction stops.
func (t *tunnel) onError(err error) {
	if err != nil {
		t.close()
	}
}

// pumpIdle is copyIdle for raw sockets: pump, so that an idle tunnel holds
// no buffer while it waits (copyIdle holds 32 KiB per direction), with the
// read deadline pushed back after each t.idle that saw traffic either way.
func (t *tunnel) pumpIdle(dst, src *net.TCPConn, o pumpOpts) int64 {
	o.active = &t.lastActive
	var total int64
	for {
		if o.frames != nil && t.away.Load() {
			return total // goAway: the caller sends the Close frame
		}
		_ = src.SetReadDeadline(t.idleDeadline())
		if o.frames != nil && t.away.Load() {
			_ = src.SetReadDeadline(time.Unix(1, 0)) // goAway's deadline, not overwritten
		}
		n, err := pump(dst, src, o)
		total += n
		if err == nil {
			return total // EOF
		}
		if o.frames != nil && t.away.Load() {
			return total
		}
		if t.keepWaiting(err) {
			continue // the other direction is active
		}
		t.close()
		return total
	}
}

// copyIdle copies with a pooled buffer and read deadlines, closing the
// tunnel after t.idle without traffic in either direction.
func (t *tunnel) copyIdle(dst io.Writer, src io.Reader, dl interface{ SetReadDeadline(time.Time) error }, frames *wsFrames) int64 {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		if frames != nil && t.away.Load() {
			return total
		}
		_ = dl.SetReadDeadline(t.idleDeadline())
		n, err := src.Read(buf)
		if n > 0 {
			t.lastActive.store(time.Now())
			if frames != nil {
				frames.feed(buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				t.close()
				return total
			}
			total += int64(n)
		}
		if err != nil {
			if t.away.Load() && frames != nil {
				return total // goAway: the caller sends the Close frame
			}
			if t.keepWaiting(err) {
				continue // the other direction is active
			}
			if !errors.Is(err, io.EOF) {
				t.close()
			}
			return total
		}
	}
}

func (t *tunnel) close() {
	t.closed.Store(true)
	t.sock.Lock()
	if t.detached {
		// The session's own descriptors are the sockets' last: each leaves
		// the parker's set as it closes.
		for _, fd := range []*int{&t.cfd, &t.ufd} {
			if *fd >= 0 {
				closeFD(*fd)
				*fd = -1
			}
		}
	} else {
		_ = t.up.Close()
	}
	_ = t.fc.Close()
	t.sock.Unlock()
	t.wakeParked() // a parked socket's registration goes with its close, silently
}

// finish closes both ends, settles metrics and writes the session's log line.
func (t *tunnel) finish() {
	t.close()
	t.l.srv.removeSession(t)
	m := t.l.metrics
	m.tunnels.Dec()
	m.toClient.Add(float64(t.toClient))
	m.toUpstream.Add(float64(t.toUpstream))
	if a := t.l.srv.accessLog(); a != nil {
		t.e.duration = time.Since(t.e.start)
		t.e.bytes = t.toClient
		t.e.bytesIn = t.toUpstream
		a.Write(&t.e)
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// atomicTime is a time stored as Unix nanoseconds.
type atomicTime struct{ ns atomic.Int64 }

func (a *atomicTime) store(t time.Time) { a.ns.Store(t.UnixNano()) }
func (a *atomicTime) load() time.Time   { return time.Unix(0, a.ns.Load()) }
