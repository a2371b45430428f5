package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Regression tests for what the load and fault suite (test/proxy_load_test.go,
// test/proxy_fault_test.go) found.

// After the upstream restarts, every pooled connection is stale: the retry
// of a request that met one must dial, not take the next stale one.
func TestStalePoolRetriesOnFreshConnection(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	// Three overlapping requests leave three connections in the pool.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if resp, _, err := roundTrip(t, addrs[0], cat(hdr, get("/slow", "a"))); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("warm-up: %v %v; want 200", resp, err)
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	tr := s.listeners[0].state.Load().transport
	s.mu.Unlock()
	// A connection goes back to the pool after its answer is relayed: the
	// client may have read the answer first.
	n := 0
	for deadline := time.Now().Add(5 * time.Second); n < 2 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tr.mu.Lock()
		n = len(tr.idle)
		tr.mu.Unlock()
	}
	if n < 2 {
		t.Fatalf("%d pooled connections after the warm-up; want at least 2", n)
	}
	be.CloseClientConnections() // the upstream restarted
	time.Sleep(50 * time.Millisecond)
	for i := range 2 {
		resp, _, err := roundTrip(t, addrs[0], cat(hdr, get("/x", "a")))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d after the upstream closed its pooled connections: %v %v; want 200", i, resp, err)
		}
	}
}

// A transport replaced by a reload closes the connections still in use
// when they are released, instead of pooling them out of reach.
func TestRetiredTransportClosesReleasedConnections(t *testing.T) {
	be, _ := backend(t)
	lc, err := appConfig(be.URL, func(l *ListenerConfig) { l.Listen = "127.0.0.1:0" }).Normalize()
	if err != nil {
		t.Fatal(err)
	}
	tr := newUpstreamTransport(lc.Listeners[0], be.Listener.Addr().String())
	uc, _, err := tr.get(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	tr.retire()
	tr.release(uc, true)
	if n := len(tr.idle); n != 0 {
		t.Errorf("retired transport pooled %d connections; want 0", n)
	}
	if _, err := uc.c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on the released connection: %v; want it closed", err)
	}
}

// Requests already sent on idle keep-alive connections when the drain
// starts are served, not reset, and then the connections are closed.
func TestDrainServesRequestsAlreadySent(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	const n = 200
	conns := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		conns[i], brs[i] = c, bufio.NewReader(c)
		fmt.Fprintf(c, "%sGET /first HTTP/1.1\r\nHost: a\r\n\r\n", v1Header("203.0.113.1:1", "10.0.0.1:81"))
		if resp, err := http.ReadResponse(brs[i], nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: first request: %v %v", i, resp, err)
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
	}
	// Every connection is idle in the proxy; send the next requests, then
	// drain at once, before the proxy had time to read most of them.
	for _, c := range conns {
		if _, err := io.WriteString(c, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	failed := 0
	var first error
	for i := range conns {
		resp, err := http.ReadResponse(brs[i], nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d; want 200", resp.StatusCode)
		}
		// A request read before the drain began may be answered keep-alive
		// (Connection: close is only promised to those read after it); either
		// way the proxy then closes the connection.
		if err == nil {
			if _, rerr := brs[i].ReadByte(); !errors.Is(rerr, io.EOF) {
				err = fmt.Errorf("after the response: read %w; want EOF (the drain closes the connection)", rerr)
			}
		}
		if err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("connection %d: %w", i, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests sent before the drain failed; first: %v", failed, n, first)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// When the app closes a WebSocket's connection (or dies), the session ends
// in the proxy even if the client keeps its socket open.
func TestWebSocketEndsWhenUpstreamCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		}
		time.Sleep(100 * time.Millisecond)
		c.Close() // the app goes away
	}()
	s, addrs := startServer(t, appConfig("http://"+ln.Addr().String(), nil))
	c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // the client never closes by itself
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%sGET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", v1Header("203.0.113.1:1", "10.0.0.1:81"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v; want 101", resp, err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("client read after the app closed: %v; want EOF", err)
	}
	start := time.Now()
	for metricValue(t, s, "elbguard_proxy_websockets_active", nil) != 0 {
		if time.Since(start) > tunnelFinTimeout+2*time.Second {
			t.Fatalf("websockets_active still %g %s after the app closed; want 0 after tunnelFinTimeout (%s)",
				metricValue(t, s, "elbguard_proxy_websockets_active", nil), time.Since(start), tunnelFinTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A connection that never finishes its PROXY header is counted as a
// header timeout when header_timeout closes it.
func TestHeaderTimeoutCounted(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.HeaderTimeout = 200 * time.Millisecond }))
	tests := []struct {
		name string
		sent string
	}{
		{"nothing", ""},
		{"part of the v2 signature", "\r\n\r\n\x00\r\nQ"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = io.WriteString(c, tt.sent)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, c) // until the proxy closes it
			if got := metricValue(t, s, "elbguard_proxy_header_errors_total", map[string]string{"reason": reasonTimeout}); got != float64(i+1) {
				t.Errorf("header_errors_total{reason=timeout} = %g; want %d", got, i+1)
			}
		})
	}
}
