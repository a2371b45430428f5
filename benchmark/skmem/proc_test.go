package skmem

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestReadFilesOwnProcess opens a pipe with bytes in it, a TCP listener
// and an epoll instance watching both, then reads this process's
// descriptors as the bench reads a proxy's.
func TestReadFilesOwnProcess(t *testing.T) {
	before, err := ReadFiles("/proc", []int{os.Getpid()})
	if err != nil {
		t.Fatalf("ReadFiles: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	for _, fd := range []int{int(r.Fd()), int(w.Fd())} {
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadFiles("/proc", []int{os.Getpid(), 1 << 30}) // a pid that does not exist is skipped
	if err != nil {
		t.Fatalf("ReadFiles: %v", err)
	}
	if got, want := len(after.Sockets)-len(before.Sockets), 1; got != want {
		t.Errorf("sockets grew by %d; want %d (the listener)", got, want)
	}
	if got, want := len(after.Pipes)-len(before.Pipes), 1; got != want {
		t.Errorf("pipes grew by %d; want %d (both ends of one pipe count once)", got, want)
	}
	// Ours watches both pipe ends; Go's poller the listener and both ends.
	if got, want := after.EpollEntries-before.EpollEntries, 5; got != want {
		t.Errorf("epoll entries grew by %d; want %d", got, want)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(r.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	p := after.Pipes[st.Ino]
	if p.Capacity != 64<<10 || p.Queued != 5 {
		t.Errorf("pipe %d = %+v; want capacity 65536 (Linux default), 5 queued", st.Ino, p)
	}
	if got, want := p.Ring(), int64(1024); got != want { // 16 slots × 40 B, from kmalloc-1k
		t.Errorf("Ring() = %d; want %d", got, want)
	}
	if _, err := ReadFiles("/proc", []int{1 << 30}); err == nil {
		t.Errorf("ReadFiles of a missing first pid: got nil error; want one")
	}
}

func TestCountEpollEntries(t *testing.T) {
	fdinfo := "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n" +
		"tfd:        8 events:       19 data:                8  pos:0 ino:4f1e sdev:8\n" +
		"tfd:        9 events:       19 data:                9  pos:0 ino:4f1f sdev:8\n"
	if got := countEpollEntries([]byte(fdinfo)); got != 2 {
		t.Errorf("countEpollEntries = %d; want 2", got)
	}
}

func TestInodeOf(t *testing.T) {
	tests := []struct {
		link, prefix string
		want         uint64
		ok           bool
	}{
		{"socket:[123]", "socket:[", 123, true},
		{"pipe:[9]", "pipe:[", 9, true},
		{"pipe:[9", "pipe:[", 0, false},
		{"pipe:[x]", "pipe:[", 0, false},
	}
	for _, tt := range tests {
		got, ok := inodeOf(tt.link, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("inodeOf(%q) = %d, %v; want %d, %v", tt.link, got, ok, tt.want, tt.ok)
		}
	}
}
