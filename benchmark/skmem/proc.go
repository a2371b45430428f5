package skmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pipe is one pipe a process holds (counted once even when it holds both
// ends), with its capacity and the bytes waiting in it.
type Pipe struct {
	Inode    uint64 `json:"ino"`
	Capacity int64  `json:"capacity"`
	Queued   int64  `json:"queued"`
}

// Ring is the kernel memory of the pipe's ring of buffer slots: one 40-byte
// struct pipe_buffer per page of capacity, from a power-of-two kmalloc cache
// (a 1 MiB pipe, as Go's splice pool makes them, has 256 slots: 16 KB).
func (p Pipe) Ring() int64 {
	slots := max(p.Capacity/int64(os.Getpagesize()), 1)
	return roundPow2(slots * pipeBufferSize)
}

// pipeBufferSize is sizeof(struct pipe_buffer) on 64-bit Linux.
const pipeBufferSize = 40

func roundPow2(n int64) int64 {
	p := int64(8)
	for p < n {
		p <<= 1
	}
	return p
}

// Files is what the descriptor tables of some processes hold that costs
// kernel memory per connection.
type Files struct {
	// Sockets are the inodes of the socket descriptors.
	Sockets map[uint64]bool
	// Pipes by inode.
	Pipes map[uint64]Pipe
	// EpollEntries counts descriptors registered in the processes' epoll
	// instances (one struct epitem each).
	EpollEntries int
}

// ReadFiles reads /proc/PID/fd (and fdinfo) of each pid under proc. A pid
// that has exited is skipped; the first pid must be readable. Pipe sizes
// come from reopening the pipe through /proc (read side, non-blocking), so
// the caller must be allowed to (same user, or root).
func ReadFiles(proc string, pids []int) (Files, error) {
	fs := Files{Sockets: map[uint64]bool{}, Pipes: map[uint64]Pipe{}}
	for i, pid := range pids {
		dir := filepath.Join(proc, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			if i == 0 {
				return fs, fmt.Errorf("list descriptors of %d: %w", pid, err)
			}
			continue
		}
		for _, e := range ents {
			link, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil {
				continue // closed meanwhile
			}
			switch {
			case strings.HasPrefix(link, "socket:["):
				if ino, ok := inodeOf(link, "socket:["); ok {
					fs.Sockets[ino] = true
				}
			case strings.HasPrefix(link, "pipe:["):
				ino, ok := inodeOf(link, "pipe:[")
				if !ok || fs.Pipes[ino].Inode != 0 {
					continue
				}
				p := Pipe{Inode: ino}
				p.Capacity, p.Queued = pipeSize(filepath.Join(dir, e.Name()))
				fs.Pipes[ino] = p
			case link == "anon_inode:[eventpoll]":
				fs.EpollEntries += epollEntries(filepath.Join(proc, strconv.Itoa(pid), "fdinfo", e.Name()))
			}
		}
	}
	return fs, nil
}

// inodeOf reads N from "prefixN]".
func inodeOf(link, prefix string) (uint64, bool) {
	s, ok := strings.CutSuffix(strings.TrimPrefix(link, prefix), "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// pipeSize opens the pipe behind a /proc/PID/fd link and asks its capacity
// (F_GETPIPE_SZ) and how many bytes wait in it (FIONREAD); zeros if it
// cannot.
func pipeSize(fdPath string) (capacity, queued int64) {
	f, err := os.OpenFile(fdPath, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0
	}
	_ = rc.Control(func(fd uintptr) {
		if c, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
			capacity = int64(c)
		}
		if n, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil { // TIOCINQ is FIONREAD
			queued = int64(n)
		}
	})
	return capacity, queued
}

// epollEntries counts the "tfd:" lines of an epoll descriptor's fdinfo:
// one per registered descriptor.
func epollEntries(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return countEpollEntries(b)
}

func countEpollEntries(fdinfo []byte) int {
	n := 0
	s := bufio.NewScanner(bytes.NewReader(fdinfo))
	for s.Scan() {
		if bytes.HasPrefix(s.Bytes(), []byte("tfd:")) {
			n++
		}
	}
	return n
}
