//go:build linux

package proxy

import (
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// parkSupported: Linux parks idle sessions in epoll.
const parkSupported = true

// parkSlot is a parked direction's handle in the parker: its index in the
// table (carried in the epoll event with its generation, never a pointer)
// and whether its socket is registered in its epoll set.
type parkSlot struct {
	idx        int32 // 0: none yet
	gen        uint32
	registered bool
}

// parkSet is the process's readiness set for parked sockets: a few epoll
// instances (one waiter goroutine each, blocked in epoll_wait), a table
// from slot to direction, and a coarse wheel of expiries
// (tunnel_idle_timeout) read by one ticker. A socket Go's own poller also
// watches may be registered in a second epoll set: readiness is reported
// to both; the parker's registration is EPOLLONESHOT, so a wake fires once
// per park.
type parkSet struct {
	once sync.Once
	err  error
	eps  []int

	mu    sync.Mutex
	dirs  []*tunnelDir // by slot index; nil: free
	gens  []uint32
	free  []int32
	wheel map[int64][]wheelEntry // by Unix second of expiry
	tick  bool                   // the wheel's ticker runs
}

type wheelEntry struct {
	idx int32
	gen uint32
}

var parker = &parkSet{}

func (p *parkSet) init() {
	n := min(runtime.GOMAXPROCS(0), 4)
	for range n {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			p.err = err
			for _, e := range p.eps {
				_ = unix.Close(e)
			}
			p.eps = nil
			slog.Default().Warn("parking disabled: epoll_create1 failed", slog.String("error", err.Error()))
			return
		}
		p.eps = append(p.eps, ep)
	}
	p.dirs, p.gens = make([]*tunnelDir, 1), make([]uint32, 1) // slot 0: none
	p.wheel = make(map[int64][]wheelEntry)
	for _, ep := range p.eps {
		go p.wait(ep)
	}
}

// park registers d's source socket (EPOLLIN, EPOLLRDHUP, ONESHOT) and, with
// expire (Unix s; 0: none), a wheel entry; false if the socket could not be
// registered (closed meanwhile).
func (p *parkSet) park(d *tunnelDir, expire int64) bool {
	p.once.Do(p.init)
	if p.err != nil {
		return false
	}
	p.mu.Lock()
	if d.slot.idx == 0 {
		if n := len(p.free); n > 0 {
			d.slot.idx, p.free = p.free[n-1], p.free[:n-1]
		} else {
			d.slot.idx = int32(len(p.dirs)) //nolint:gosec // slots are bounded by open sockets
			p.dirs, p.gens = append(p.dirs, nil), append(p.gens, 0)
		}
		p.dirs[d.slot.idx] = d
		d.slot.gen = p.gens[d.slot.idx]
	}
	if expire != 0 {
		p.wheel[expire] = append(p.wheel[expire], wheelEntry{d.slot.idx, d.slot.gen})
		if !p.tick {
			p.tick = true
			go p.ticker()
		}
	}
	p.mu.Unlock()

	d.t.l.metrics.parked.Inc()
	ep := p.eps[int(d.slot.idx)%len(p.eps)]
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: d.slot.idx, Pad: int32(d.slot.gen)} //nolint:gosec // a generation, bits only
	rc, err := d.src.SyscallConn()
	var cerr error
	if err == nil {
		// Inside Control the descriptor cannot be closed and reused.
		err = rc.Control(func(fd uintptr) {
			if d.slot.registered {
				if cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, int(fd), &ev); !errors.Is(cerr, unix.ENOENT) {
					return
				}
			}
			cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &ev)
			d.slot.registered = cerr == nil
		})
	}
	if err != nil || cerr != nil {
		if d.state.CompareAndSwap(dirParked, dirRunning) {
			d.t.l.metrics.parked.Dec()
			return false
		}
		return true // a waker took it, and counted it
	}
	return true
}

// unparked accounts for a direction a wake took out of the set.
func (p *parkSet) unparked(d *tunnelDir) { d.t.l.metrics.parked.Dec() }

// release frees d's slot once the direction has ended: a late event or
// wheel entry for it is ignored.
func (p *parkSet) release(d *tunnelDir) {
	if d.slot.idx == 0 {
		return
	}
	p.mu.Lock()
	p.dirs[d.slot.idx] = nil
	p.gens[d.slot.idx]++
	p.free = append(p.free, d.slot.idx)
	p.mu.Unlock()
	d.slot.idx = 0
}

func (p *parkSet) lookup(idx int32, gen uint32) *tunnelDir {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx <= 0 || int(idx) >= len(p.dirs) || p.gens[idx] != gen {
		return nil
	}
	return p.dirs[idx]
}

// wait is one epoll set's waiter: each event resumes its direction.
func (p *parkSet) wait(ep int) {
	evs := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(ep, evs, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			slog.Default().Error("parking: epoll_wait failed", slog.String("error", err.Error()))
			time.Sleep(time.Second)
			continue
		}
		for _, ev := range evs[:n] {
			if d := p.lookup(ev.Fd, uint32(ev.Pad)); d != nil { //nolint:gosec // the generation's bits
				d.wake()
			}
		}
	}
}

// ticker reads the wheel once a second: a direction whose entry expired
// wakes, and its copy applies tunnel_idle_timeout as a running one does.
func (p *parkSet) ticker() {
	for range time.Tick(time.Second) {
		now := time.Now().Unix()
		var due []wheelEntry
		p.mu.Lock()
		for at, es := range p.wheel {
			if at <= now {
				due = append(due, es...)
				delete(p.wheel, at)
			}
		}
		p.mu.Unlock()
		for _, e := range due {
			if d := p.lookup(e.idx, e.gen); d != nil {
				d.wake()
			}
		}
	}
}
