package skmem

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestTakeOwnSockets opens a loopback connection, leaves bytes unread in
// one end, and checks that a snapshot of this process finds both ends and
// the memory the unread bytes hold.
func TestTakeOwnSockets(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Fatalf("ss (iproute2) not installed: %v", err)
	}
	ctx := context.Background()
	pids := []int{os.Getpid()}
	before, err := Take(ctx, "", "/proc", pids)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write(make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // loopback delivers at once; be generous
	after, err := Take(ctx, "", "/proc", pids)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	d := after.Sub(before)
	if d.Sockets != 3 {
		t.Errorf("sockets grew by %d; want 3 (listener, both ends)", d.Sockets)
	}
	if d.Mem.RmemAlloc < 10000 || d.Buffers() < 10000 {
		t.Errorf("receive memory grew by %d (buffers %d); want at least the 10000 unread bytes", d.Mem.RmemAlloc, d.Buffers())
	}
	z := Sizes{TCP: 2000, TCPv6: 2100, SockInode: 700, Inode: 600, Dentry: 200, File: 100, EpollItem: 50}
	want := int64(d.Sockets)*3000 + int64(d.EpollEntries)*50 + int64(d.Pipes)*1000 + d.PipeRing
	if got := d.Objects(z); got != want {
		t.Errorf("Objects = %d; want %d", got, want)
	}
}

func TestReadSizes(t *testing.T) {
	sys := t.TempDir()
	for name, size := range map[string]string{"TCP": "2368\n", "TCPv6": "2496", "sock_inode_cache": "832",
		"inode_cache": "616", "dentry": "192", "filp": "192", "eventpoll_epi": "128"} {
		dir := filepath.Join(sys, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := "slab_size"
		if name == "dentry" {
			file = "object_size" // the fallback
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	z, err := ReadSizes(sys)
	if err != nil {
		t.Fatalf("ReadSizes: %v", err)
	}
	want := Sizes{TCP: 2368, TCPv6: 2496, SockInode: 832, Inode: 616, Dentry: 192, File: 192, EpollItem: 128}
	if z != want {
		t.Errorf("ReadSizes = %+v; want %+v", z, want)
	}
	if err := os.WriteFile(filepath.Join(sys, "filp", "slab_size"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSizes(sys); err == nil {
		t.Errorf("ReadSizes with a malformed size: got nil error; want one")
	}
	if _, err := ReadSizes(t.TempDir()); err == nil {
		t.Errorf("ReadSizes of an empty directory: got nil error; want one")
	}
	if real, err := ReadSizes("/sys/kernel/slab"); err == nil && real.TCP < 1000 {
		t.Errorf("this kernel's TCP socket is %d bytes; want more than 1000", real.TCP)
	}
}
