// Package procmem reads the resident memory of a process and all of its
// descendants from /proc, for the idle-WebSocket memory scenario: nginx is a
// master and its workers, HAProxy and elbguard-proxy are one process each.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNoField is returned when /proc/PID/status has no VmRSS line (a zombie
// or a kernel thread), or /proc/meminfo no Slab line.
var ErrNoField = errors.New("procmem: no VmRSS in status")

// Tree returns pid and every descendant of it, pid first.
func Tree(proc string, pid int) ([]int, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", proc, err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		if pp, ok := parentOf(b); ok {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// parentOf extracts the ppid from /proc/PID/stat: "pid (comm) state ppid ...",
// where comm may itself contain spaces and parentheses.
func parentOf(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

// RSS returns the resident set size of one process in bytes, from the
// VmRSS line of /proc/PID/status.
func RSS(proc string, pid int) (int64, error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("parse VmRSS of %d: %q", pid, rest)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS of %d: %w", pid, err)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return 0, fmt.Errorf("%w: pid %d", ErrNoField, pid)
}

// TreeRSS returns the summed resident memory of pid and its descendants,
// and how many processes that was.
func TreeRSS(proc string, pid int) (bytes int64, procs int, err error) {
	pids, err := Tree(proc, pid)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range pids {
		n, err := RSS(proc, p)
		if err != nil {
			if p == pid {
				return 0, 0, err
			}
			continue // a child that just exited
		}
		bytes += n
		procs++
	}
	return bytes, procs, nil
}

// Slab returns the kernel's slab memory in bytes (the Slab line of
// /proc/meminfo): socket, pipe and other kernel objects, machine-wide.
func Slab(proc string) (int64, error) {
	f, err := os.Open(filepath.Join(proc, "meminfo"))
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("Slab:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("parse Slab: %q", rest)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse Slab: %w", err)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, fmt.Errorf("%w: no Slab in meminfo", ErrNoField)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuOf extracts utime + stime (fields 14 and 15) from /proc/PID/stat.
func cpuOf(stat []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * clockTick, true
}

// CPUTime returns the user and system CPU time pid and its descendants
// have used (children that exited are not counted).
func CPUTime(proc string, pid int) (time.Duration, error) {
	pids, err := Tree(proc, pid)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(p), "stat"))
		if err != nil {
			if p == pid {
				return 0, fmt.Errorf("read stat of %d: %w", p, err)
			}
			continue
		}
		d, ok := cpuOf(b)
		if !ok {
			return 0, fmt.Errorf("%w: cpu times of pid %d", ErrNoField, p)
		}
		total += d
	}
	return total, nil
}
