package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnWorkersAreReusedAndStop checks that connections accepted one
// after the other are served by the same waiting goroutines (at most
// maxIdleConnWorkers of them idle), and that those goroutines end with
// the listener.
func TestConnWorkersAreReusedAndStop(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeHTTP, ProxyProtocol: ProxyRequired, Upstream: be.URL}}})
	l := s.listeners[0]
	for i := range 20 {
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(cat(v1Header("203.0.113.7:5555", "10.0.0.1:81"), get("/", "app")))
		b, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200 ") || !strings.Contains(string(b), "hello 203.0.113.7") {
			t.Fatalf("request %d: %q, %v; want 200 with the PROXY client address", i, b, err)
		}
		// The worker goes idle after serveConn's bookkeeping, just after the
		// client saw the close: wait for it before the next connection.
		deadline := time.Now().Add(2 * time.Second)
		for len(l.workers.idle) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if n := len(l.workers.idle); n < 1 || n > 2 {
		t.Errorf("idle workers after 20 sequential connections = %d; want 1 or 2 (reused, not one per connection)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(l.workers.idle) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(l.workers.idle); n != 0 {
		t.Errorf("idle workers after shutdown = %d; want 0", n)
	}
}
