package proxy

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection: the server's
// as a rawSock, the client's as a net.Conn.
func tcpPair(t *testing.T) (*rawSock, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	rs := newRawSock(srv.(*net.TCPConn))
	if rs == nil {
		t.Fatal("newRawSock: nil")
	}
	return rs, cli
}

func TestDeferReadDeadline(t *testing.T) {
	tests := []struct {
		name string
		// run defers a deadline 100 ms ahead (and more); it returns what the
		// client sends after 2 s ("" nothing) and the Read's outcome wanted.
		run         func(rs *rawSock, cli net.Conn)
		sendLate    string
		wantTimeout bool
	}{
		{"a read that waits ends at the deferred deadline", func(rs *rawSock, cli net.Conn) {
			rs.DeferReadDeadline(time.Now().Add(100 * time.Millisecond))
		}, "late", true},
		{"an explicit deadline replaces the deferred one", func(rs *rawSock, cli net.Conn) {
			rs.DeferReadDeadline(time.Now().Add(100 * time.Millisecond))
			_ = rs.SetReadDeadline(time.Time{})
		}, "late", false},
		{"SetDeadline replaces it too", func(rs *rawSock, cli net.Conn) {
			rs.DeferReadDeadline(time.Now().Add(100 * time.Millisecond))
			_ = rs.SetDeadline(time.Now().Add(5 * time.Second))
		}, "late", false},
		{"a read that finds its bytes arms nothing, and the deadline still holds after", func(rs *rawSock, cli net.Conn) {
			rs.DeferReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = cli.Write([]byte("x"))
			time.Sleep(20 * time.Millisecond)
			if n, err := rs.Read(make([]byte, 8)); n != 1 || err != nil {
				t.Errorf("Read with a byte waiting = %d, %v; want 1, nil", n, err)
			}
			if rs.deferred.Load() == 0 {
				t.Errorf("a read that did not wait armed the deferred deadline")
			}
		}, "late", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, cli := tcpPair(t)
			tt.run(rs, cli)
			go func() {
				time.Sleep(2 * time.Second) // far after the 100ms deadline: a busy machine cannot blur the two
				_, _ = cli.Write([]byte(tt.sendLate))
			}()
			start := time.Now()
			n, err := rs.Read(make([]byte, 8))
			took := time.Since(start)
			if tt.wantTimeout {
				if !errors.Is(err, os.ErrDeadlineExceeded) || took > 1500*time.Millisecond {
					t.Errorf("Read = %d, %v after %v; want a timeout before the late bytes", n, err, took)
				}
				return
			}
			if err != nil || n != len(tt.sendLate) {
				t.Errorf("Read = %d, %v after %v; want the late bytes", n, err, took)
			}
		})
	}
}
