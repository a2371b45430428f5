//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// parkSupported: Linux parks idle sessions in epoll.
const parkSupported = true

// parkSlot is a parked item's handle in the parker: its index in the table
// (carried in the epoll event with its generation, never a pointer).
type parkSlot struct {
	idx int32 // 0: none yet
	gen uint32
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
	items []parkItem // by slot index; nil: free
	gens  []uint32
	free  []int32
	wheel map[int64][]wheelEntry // by wheelTick of expiry
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
	p.items, p.gens = make([]parkItem, 1), make([]uint32, 1) // slot 0: none
	p.wheel = make(map[int64][]wheelEntry)
	for _, ep := range p.eps {
		go p.wait(ep)
	}
	startIdleRelease()
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
		p.items, p.gens = append(p.items, nil), append(p.gens, 0)
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
	p.mu.Lock()
	idx, gen := slot.idx, slot.gen
	if p.err != nil || idx == 0 {
		p.mu.Unlock()
		return fmt.Errorf("park: no slot: %w", p.err)
	}
	if expire != 0 {
		p.wheel[expire] = append(p.wheel[expire], wheelEntry{idx, gen})
		if !p.tick {
			p.tick = true
			go p.ticker()
		}
	}
	p.mu.Unlock()

	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: idx, Pad: int32(gen)} //nolint:gosec // a generation, bits only
	rc, err := src.SyscallConn()
	if err != nil {
		return fmt.Errorf("park: raw conn: %w", err)
	}
	var cerr error
	// Inside Control the descriptor cannot be closed and reused.
	// A socket always goes to the same set (by descriptor): parked again,
	// it is still registered there (EPOLLONESHOT disarmed it), and MOD
	// re-arms it with the new slot.
	err = rc.Control(func(fd uintptr) {
		ep := p.eps[int(fd)%len(p.eps)] //nolint:gosec // a descriptor
		if cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &ev); errors.Is(cerr, unix.EEXIST) {
			cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("park: epoll_ctl: %w", err)
	}
	return nil
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
	p.free = append(p.free, slot.idx)
	p.mu.Unlock()
	slot.idx = 0
}

func (p *parkSet) lookup(idx int32, gen uint32) parkItem {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx <= 0 || int(idx) >= len(p.items) || p.gens[idx] != gen {
		return nil
	}
	return p.items[idx]
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
			if it := p.lookup(ev.Fd, uint32(ev.Pad)); it != nil { //nolint:gosec // the generation's bits
				it.wake()
			}
		}
	}
}

// ticker reads the wheel every wheelStep: an item whose entry expired
// wakes, and applies its timeout as a running one does.
func (p *parkSet) ticker() {
	for range time.Tick(wheelStep) {
		now := time.Now().UnixNano() / int64(wheelStep)
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
			if it := p.lookup(e.idx, e.gen); it != nil {
				it.wake()
			}
		}
	}
}
