package skmem

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Snapshot is what some processes hold in the kernel for their TCP
// connections at one moment. Differences of two snapshots (Sub), divided by
// the connections opened in between, are the per-connection figures.
type Snapshot struct {
	// Sockets and SocketsV6 count the processes' TCP sockets (IPv4, IPv6)
	// that ss listed; Mem sums their skmem.
	Sockets   int     `json:"sockets"`
	SocketsV6 int     `json:"sockets_v6"`
	Mem       Meminfo `json:"skmem"`
	// Pipes the processes hold, the kernel memory of their slot rings and
	// the bytes waiting in them.
	Pipes      int   `json:"pipes"`
	PipeRing   int64 `json:"pipe_ring_bytes"`
	PipeQueued int64 `json:"pipe_queued_bytes"`
	// EpollEntries are the descriptors registered in their epoll instances.
	EpollEntries int `json:"epoll_entries"`
}

// Take lists TCP sockets with ss (ssBin; "" looks "ss" up in PATH), reads
// the descriptor tables of pids under proc ("/proc"), and sums what they
// hold.
func Take(ctx context.Context, ssBin, proc string, pids []int) (Snapshot, error) {
	var snap Snapshot
	if ssBin == "" {
		p, err := exec.LookPath("ss")
		if err != nil {
			return snap, fmt.Errorf("find ss (iproute2): %w", err)
		}
		ssBin = p
	}
	files, err := ReadFiles(proc, pids)
	if err != nil {
		return snap, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// -t TCP, -m skmem, -e inode, -a every state, -n numeric, -H no header.
	out, err := exec.CommandContext(ctx, ssBin, "-tmeanH").Output()
	if err != nil {
		return snap, fmt.Errorf("run %s -tmeanH: %w", ssBin, err)
	}
	socks, err := ParseSS(out)
	if err != nil {
		return snap, fmt.Errorf("parse ss output: %w", err)
	}
	for _, s := range socks {
		if s.Inode == 0 || !files.Sockets[s.Inode] {
			continue
		}
		if strings.HasPrefix(s.Local, "[") {
			snap.SocketsV6++
		} else {
			snap.Sockets++
		}
		snap.Mem = snap.Mem.Add(s.Mem)
	}
	for _, p := range files.Pipes {
		snap.Pipes++
		snap.PipeRing += p.Ring()
		snap.PipeQueued += p.Queued
	}
	snap.EpollEntries = files.EpollEntries
	return snap, nil
}

// Sub returns s − o, field by field.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	return Snapshot{
		Sockets: s.Sockets - o.Sockets, SocketsV6: s.SocketsV6 - o.SocketsV6, Mem: s.Mem.Sub(o.Mem),
		Pipes: s.Pipes - o.Pipes, PipeRing: s.PipeRing - o.PipeRing, PipeQueued: s.PipeQueued - o.PipeQueued,
		EpollEntries: s.EpollEntries - o.EpollEntries,
	}
}

// Buffers is the memory held in buffers: the sockets' skmem (Held) plus
// the bytes waiting in pipes (each pins at least that much in pages).
func (s Snapshot) Buffers() int64 {
	return s.Mem.Held() + s.PipeQueued
}

// Sizes are the sizes of the slab objects behind a connection, in bytes
// (slab_size: the object with its alignment and metadata).
type Sizes struct {
	TCP, TCPv6 int64 // struct tcp_sock (the "TCP" and "TCPv6" caches)
	SockInode  int64 // struct socket_alloc: a socket's inode ("sock_inode_cache")
	Inode      int64 // a pipe's inode ("inode_cache")
	Dentry     int64 // "dentry"
	File       int64 // struct file ("filp")
	EpollItem  int64 // struct epitem ("eventpoll_epi")
}

// ReadSizes reads the slab object sizes from sys ("/sys/kernel/slab",
// world-readable with the SLUB allocator).
func ReadSizes(sys string) (Sizes, error) {
	var z Sizes
	for name, p := range map[string]*int64{"TCP": &z.TCP, "TCPv6": &z.TCPv6, "sock_inode_cache": &z.SockInode,
		"inode_cache": &z.Inode, "dentry": &z.Dentry, "filp": &z.File, "eventpoll_epi": &z.EpollItem} {
		v, err := slabSize(filepath.Join(sys, name))
		if err != nil {
			return z, err
		}
		*p = v
	}
	return z, nil
}

func slabSize(dir string) (int64, error) {
	var last error
	for _, f := range []string{"slab_size", "object_size"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			last = err
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s/%s: %w", dir, f, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("read slab size of %s: %w", filepath.Base(dir), last)
}

// Objects estimates the slab memory of the kernel objects s counts: per
// socket its tcp_sock, socket inode, dentry and file; per epoll entry an
// epitem; per pipe two files, a dentry, an inode and its slot ring (the
// small pipe_inode_info is left out). Added to Buffers it is the kernel
// memory the processes hold for their connections.
func (s Snapshot) Objects(z Sizes) int64 {
	perSock := z.SockInode + z.Dentry + z.File
	return int64(s.Sockets)*(z.TCP+perSock) + int64(s.SocketsV6)*(z.TCPv6+perSock) +
		int64(s.EpollEntries)*z.EpollItem +
		int64(s.Pipes)*(2*z.File+z.Dentry+z.Inode) + s.PipeRing
}
