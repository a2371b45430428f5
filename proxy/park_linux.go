//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// parkSupported: Linux parks idle sessions in epoll.
const parkSupported = true

// parkSlot is a parked item's handle in the parker: its index in the table
// (carried in the epoll event with its generation, never a pointer).
type parkSlot struct {
	idx   int32 // 0: none yet
	gen   uint32
	added atomic.Bool // the socket is in its epoll set (EPOLL_CTL_MOD re-arms it)
}

// parkSet is the process's readiness set for parked sockets: a few epoll
// instances (one waiter goroutine each; the epoll descriptor itself waits
// in Go's poller, so a waiter holds no thread and wakes as any goroutine
// blocked on a socket does), a table
// from slot to direction, and a coarse wheel of expiries
// (tunnel_idle_timeout) read by one ticker. A socket Go's own poller also
// watches may be registered in a second epoll set: readiness is reported
// to both; the parker's registration is EPOLLONESHOT, so a wake fires once
// per park.
type parkSet struct {
	once sync.Once
	err  error
	eps  []int
	fs   []*os.File // eps in Go's poller

	mu    sync.Mutex
	items []parkItem // by slot index; nil: free
	gens  []uint32
	// expires is each slot's current wheel tick (0: none): an entry for an
	// earlier park of the same item is stale and wakes nothing.
	expires  []int64
	lastTick int64 // the last wheel tick the ticker has read
	free     []int32
	wheel    map[int64][]wheelEntry // by wheelTick of expiry
	tick     bool                   // the wheel's ticker runs
}

type wheelEntry struct {
	idx int32
	gen uint32
}

var parker = &parkSet{}

func (p *parkSet) init() {
	n := min(runtime.GOMAXPROCS(0), 4)
	for range n {
		f, err := newEpollFile()
		if err != nil {
			p.err = err
			for _, f := range p.fs {
				_ = f.Close()
			}
			p.eps, p.fs = nil, nil
			slog.Default().Warn("parking disabled", slog.String("error", err.Error()))
			return
		}
		p.eps, p.fs = append(p.eps, int(f.Fd())), append(p.fs, f) //nolint:gosec // a descriptor
	}
	p.items, p.gens, p.expires = make([]parkItem, 1), make([]uint32, 1), make([]int64, 1) // slot 0: none
	p.wheel = make(map[int64][]wheelEntry)
	for _, f := range p.fs {
		go p.wait(f)
	}
	startIdleRelease()
}

// newEpollFile is a non-blocking epoll instance as an *os.File, so that
// Go's poller reports when it has events (an epoll descriptor is readable
// while events are ready).
func newEpollFile() (*os.File, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		_ = unix.Close(ep)
		return nil, fmt.Errorf("epoll non-blocking: %w", err)
	}
	return os.NewFile(uintptr(ep), "parker-epoll"), nil
}

// alloc gives it a slot in the table (once, for as long as it may park).
func (p *parkSet) alloc(it parkItem, slot *parkSlot) {
	p.once.Do(p.init)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || slot.idx != 0 {
		return
	}
	if n := len(p.free); n > 0 {
		slot.idx, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot.idx = int32(len(p.items)) //nolint:gosec // slots are bounded by open sockets
		p.items, p.gens, p.expires = append(p.items, nil), append(p.gens, 0), append(p.expires, 0)
	}
	p.items[slot.idx] = it
	slot.gen = p.gens[slot.idx]
}

// register puts src in the readiness set for its slot's item (EPOLLIN,
// EPOLLRDHUP, ONESHOT: the item's wake runs once, on the first readable
// byte, end or error) and, with expire (a wheelTick; 0: none), a wheel
// entry that wakes it then. An error (src closed meanwhile, no epoll)
// leaves it unregistered. A slot released meanwhile (the item woke and
// finished) leaves a registration whose events are ignored.
func (p *parkSet) register(slot *parkSlot, src *net.TCPConn, expire int64) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return fmt.Errorf("park: raw conn: %w", err)
	}
	var rerr error
	// Inside Control the descriptor cannot be closed and reused.
	if err := rc.Control(func(fd uintptr) { rerr = p.registerFD(slot, int(fd), expire) }); err != nil { //nolint:gosec // a descriptor
		return fmt.Errorf("park: raw conn: %w", err)
	}
	return rerr
}

// arm records the slot's expiry in the wheel (0: none) and returns the
// slot's index and generation for its epoll event.
func (p *parkSet) arm(slot *parkSlot, expire int64) (int32, uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	idx, gen := slot.idx, slot.gen
	if p.err != nil || idx == 0 || int(idx) >= len(p.items) || p.gens[idx] != gen || p.items[idx] == nil {
		return 0, 0, fmt.Errorf("park: no slot (released): %w", p.err)
	}
	if expire != 0 && (p.expires[idx] != expire || expire <= p.lastTick) {
		p.wheel[expire] = append(p.wheel[expire], wheelEntry{idx, gen})
		if !p.tick {
			p.tick = true
			go p.ticker()
		}
	}
	p.expires[idx] = expire
	return idx, gen, nil
}

// ctl arms fd in its epoll set for ev. A socket always goes to the same
// set (by descriptor): parked again, it is still registered there
// (EPOLLONESHOT disarmed it), and MOD re-arms it with the new slot.
func (p *parkSet) ctl(slot *parkSlot, fd int, ev *unix.EpollEvent) error {
	ep := p.eps[fd%len(p.eps)]
	var err error
	if slot.added.Load() {
		if err = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, fd, ev); !errors.Is(err, unix.ENOENT) {
			return err //nolint:wrapcheck // the caller names the call
		}
	}
	// Marked first: once added, the event may fire and the item park
	// again on another goroutine before this call returns.
	slot.added.Store(true)
	if err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, ev); errors.Is(err, unix.EEXIST) {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, fd, ev)
	}
	if err != nil {
		slot.added.Store(false)
	}
	return err //nolint:wrapcheck // the caller names the call
}

// registerFD is register for a bare descriptor (one of the parker's own,
// which the caller keeps open meanwhile, or a Go socket's inside its
// Control).
func (p *parkSet) registerFD(slot *parkSlot, fd int, expire int64) error {
	idx, gen, err := p.arm(slot, expire)
	if err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: idx, Pad: int32(gen)} //nolint:gosec // a generation, bits only
	if err := p.ctl(slot, fd, &ev); err != nil {
		return fmt.Errorf("park: epoll_ctl: %w", err)
	}
	return nil
}

// forget takes fd out of its epoll set before it is closed while another
// descriptor keeps its socket open (a registration is keyed by the
// number, and would otherwise outlive it).
func (p *parkSet) forget(fd int) {
	if len(p.eps) > 0 {
		_ = unix.EpollCtl(p.eps[fd%len(p.eps)], unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// dupFD duplicates a socket's descriptor (close-on-exec).
func dupFD(fd uintptr) (int, error) {
	return unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) //nolint:wrapcheck // the caller says what failed
}

func closeFD(fd int) { _ = unix.Close(fd) }

// fileConn makes a Go socket of fd, which it closes. fd is made blocking
// first (the flag belongs to the socket, and net.FileConn's own duplicate
// sets it back): a non-blocking descriptor would enter Go's poller twice
// on the way, as os.NewFile's and as net.FileConn's.
func fileConn(fd int) (net.Conn, error) {
	_ = unix.SetNonblock(fd, false)
	f := os.NewFile(uintptr(fd), "client") //nolint:gosec // a descriptor
	defer func() { _ = f.Close() }()
	return net.FileConn(f) //nolint:wrapcheck // the caller ends the connection on any error
}

// release frees the slot once its item is done with parking: a late event
// or wheel entry for it is ignored.
func (p *parkSet) release(slot *parkSlot) {
	p.mu.Lock()
	if slot.idx == 0 {
		p.mu.Unlock()
		return
	}
	p.items[slot.idx] = nil
	p.gens[slot.idx]++
	p.expires[slot.idx] = 0
	p.free = append(p.free, slot.idx)
	slot.idx = 0 // under p.mu: arm reads it there
	p.mu.Unlock()
}

func (p *parkSet) lookup(idx int32, gen uint32) parkItem {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx <= 0 || int(idx) >= len(p.items) || p.gens[idx] != gen {
		return nil
	}
	return p.items[idx]
}

// wait is one epoll set's waiter: it takes the ready events without
// blocking (epoll_wait with no timeout) and, when there are none, waits in
// Go's poller for the set to become readable. Each event's item runs its
// ready (a tunnel direction relays what arrived right here, a keep-alive
// connection goes to a worker).
func (p *parkSet) wait(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		slog.Default().Error("parking: epoll set", slog.String("error", err.Error()))
		return
	}
	evs := make([]unix.EpollEvent, 256)
	buf := make([]byte, relayBufSize)
	var (
		n    int
		werr error
	)
	take := func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), evs, 0) //nolint:gosec // a descriptor
			if !errors.Is(werr, unix.EINTR) {
				return n > 0 || werr != nil
			}
		}
	}
	for {
		err := rc.Read(take)
		if err == nil {
			err = werr
		}
		if err != nil {
			slog.Default().Error("parking: epoll_wait failed", slog.String("error", err.Error()))
			time.Sleep(time.Second)
			continue
		}
		for _, ev := range evs[:n] {
			if it := p.lookup(ev.Fd, uint32(ev.Pad)); it != nil { //nolint:gosec // the generation's bits
				it.ready(buf)
			}
		}
	}
}

// wheelWakes counts the items the wheel has woken (tests read it: an
// entry of an earlier park must wake nothing).
var wheelWakes atomic.Int64

// ticker reads the wheel every wheelStep: an item whose entry expired
// wakes, and applies its timeout as a running one does.
func (p *parkSet) ticker() {
	for range time.Tick(wheelStep) {
		now := time.Now().UnixNano() / int64(wheelStep)
		var due []parkItem
		p.mu.Lock()
		p.lastTick = now
		for at, es := range p.wheel {
			if at > now {
				continue
			}
			for _, e := range es {
				if p.gens[e.idx] == e.gen && p.expires[e.idx] == at && p.items[e.idx] != nil {
					due = append(due, p.items[e.idx])
				}
			}
			delete(p.wheel, at)
		}
		p.mu.Unlock()
		wheelWakes.Add(int64(len(due)))
		for _, it := range due {
			it.wake()
		}
	}
}
