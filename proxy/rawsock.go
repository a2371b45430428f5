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

// rawSock reads and writes a TCP socket with raw read(2) and write(2) from
// inside its RawConn callbacks, still waiting on Go's poller (and honouring
// the socket's deadlines) when the kernel says EAGAIN. The socket is
// non-blocking, so the calls return at once and need none of the scheduler's
// syscall hooks; skipping them matters because entering a syscall wakes the
// runtime's sysmon thread from its deep sleep, after which it polls every
// 20 µs for a millisecond (golang/go#18236). A proxy on 2 busy cores drops
// into that sleep thousands of times a second, and perf showed sysmon at 11%
// of its CPU (BENCHMARKS.md). Used on the client sockets of redirect and
// http listeners (both paths), their pooled upstream connections, and by
// pump for WebSocket tunnels.
type rawSock struct {
	c  *net.TCPConn
	rc syscall.RawConn
	// sendTimeout bounds a write's wait for room in the send buffer
	// (send_timeout on sockets to clients; 0: none). timedOut, if set, is
	// called when it expires.
	sendTimeout time.Duration
	timedOut    func()

	// deferred is a read deadline (Unix ns; 0: none) set by
	// DeferReadDeadline and armed only when a Read has to wait; dmu orders
	// that arming against SetReadDeadline and SetDeadline from other
	// goroutines (a drain waking the connection), so a deferred deadline
	// never replaces a later explicit one.
	deferred atomic.Int64
	dmu      sync.Mutex

	// The state of the one Read and the one Write in progress, and their
	// RawConn callbacks, bound once: a closure over locals would move them
	// to the heap on every call.
	rd      ioStep
	wr      ioStep
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// ioStep is the state of a Read or Write across its RawConn callbacks.
type ioStep struct {
	p      []byte
	n      int
	errno  syscall.Errno
	armed  bool // Write: the send_timeout deadline is set
	armedN int  // Write: n when it was set
	rearm  bool // Write: set (or move) the deadline, then wait
}

func newRawSock(c *net.TCPConn) *rawSock {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSock{c: c, rc: rc}
	s.readFn, s.writeFn = s.readStep, s.writeStep
	return s
}

// Read implements io.Reader with net.Conn's errors: io.EOF at the end, a
// *net.OpError "read" otherwise (a timeout at the read deadline).
func (s *rawSock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rd = ioStep{p: p}
	err := s.rc.Read(s.readFn)
	n, errno := s.rd.n, s.rd.errno
	s.rd.p = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *rawSock) readStep(fd uintptr) bool {
	for {
		r, e := sysRead(fd, s.rd.p)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if s.deferred.Load() != 0 {
				// Arm the deferred deadline here, inside the RawConn call:
				// leaving it to arm would cost a read(2) more on the way back
				// (a new call must try the socket before it waits).
				s.armDeferred()
			}
			return false // wait on the poller
		}
		s.rd.n, s.rd.errno = r, e
		return true
	}
}

// DeferReadDeadline sets a read deadline that is armed only when a Read
// finds nothing to read and has to wait: reads are bounded exactly as with
// SetReadDeadline(t), but a read that finds its bytes already there (a
// client's PROXY header and request, usually) costs no runtime timer. A
// later SetReadDeadline or SetDeadline replaces it.
func (s *rawSock) DeferReadDeadline(t time.Time) {
	s.dmu.Lock()
	s.deferred.Store(t.UnixNano())
	s.dmu.Unlock()
}

// armDeferred sets the deferred read deadline on the socket, unless an
// explicit deadline replaced it meanwhile.
func (s *rawSock) armDeferred() {
	s.dmu.Lock()
	if ns := s.deferred.Swap(0); ns != 0 {
		_ = s.c.SetReadDeadline(time.Unix(0, ns))
	}
	s.dmu.Unlock()
}

// SetReadDeadline sets the socket's read deadline, replacing a deferred one.
func (s *rawSock) SetReadDeadline(t time.Time) error {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.deferred.Store(0)
	return s.c.SetReadDeadline(t)
}

// SetDeadline sets the socket's read and write deadlines, replacing a
// deferred read deadline.
func (s *rawSock) SetDeadline(t time.Time) error {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.deferred.Store(0)
	return s.c.SetDeadline(t)
}

// Write implements io.Writer: all of p, waiting on the poller while the
// socket's send buffer is full, or an error. With a sendTimeout, a wait
// that sees no progress for that long fails with errSendTimeout (nginx's
// send_timeout: between two writes, not for the whole response); the
// deadline is armed only when the socket is full, and cleared after, so
// writes that never wait cost no timer.
func (s *rawSock) Write(p []byte) (int, error) {
	s.wr = ioStep{p: p}
	w := &s.wr
	defer func() { w.p = nil }()
	for {
		w.rearm = false
		err := s.rc.Write(s.writeFn)
		if w.rearm && err == nil && w.errno == 0 {
			_ = s.c.SetWriteDeadline(time.Now().Add(s.sendTimeout))
			w.armed, w.armedN = true, w.n
			continue
		}
		if w.armed {
			_ = s.c.SetWriteDeadline(time.Time{})
		}
		switch {
		case err != nil && w.armed && errors.Is(err, os.ErrDeadlineExceeded):
			if s.timedOut != nil {
				s.timedOut()
			}
			return w.n, s.opError("write", fmt.Errorf("%w (%w)", errSendTimeout, os.ErrDeadlineExceeded))
		case err != nil:
			return w.n, s.opError("write", err)
		case w.errno != 0:
			return w.n, s.opError("write", os.NewSyscallError("write", w.errno))
		}
		return w.n, nil
	}
}

func (s *rawSock) writeStep(fd uintptr) bool {
	w := &s.wr
	for w.n < len(w.p) {
		r, e := sysWrite(fd, w.p[w.n:])
		switch e {
		case 0:
			w.n += r
		case syscall.EINTR:
		case syscall.EAGAIN:
			if s.sendTimeout > 0 && (!w.armed || w.n > w.armedN) {
				w.rearm = true // arm (or re-arm after progress) before waiting
				return true
			}
			return false
		default:
			w.errno = e
			return true
		}
	}
	return true
}

// opError shapes err as net.Conn's Read and Write do (RawConn reports
// "raw-read"/"raw-write"), so callers classify it the same way.
func (s *rawSock) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}

// sysRead, sysWrite and sysPeek are read(2), write(2) and a one-byte
// non-blocking MSG_PEEK recv(2) on a non-blocking socket, without the
// scheduler's syscall hooks (see rawSock). p must not be empty.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func sysPeek(fd uintptr) (int, syscall.Errno) {
	var one [1]byte
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&one[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return int(r), e
}

// sysReadNow is read(2) on a non-blocking socket, retried on EINTR.
func sysReadNow(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		if n, e := sysRead(fd, p); e != syscall.EINTR {
			return n, e
		}
	}
}

// sysWriteNow is write(2) on a non-blocking socket, retried on EINTR.
func sysWriteNow(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		if n, e := sysWrite(fd, p); e != syscall.EINTR {
			return n, e
		}
	}
}
