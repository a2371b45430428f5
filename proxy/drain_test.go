package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A connection accepted before the drain that has not sent its request yet
// (the load balancer opened it to send one) is served once, with
// Connection: close, instead of being closed under the client.
func TestDrainServesConnectionsNotYetRequested(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Accepted by the proxy before the drain starts.
	for deadline := time.Now().Add(2 * time.Second); metricValue(t, s, "elbguard_proxy_connections_active", nil) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	drained := make(chan error, 1)
	waitDraining := drainWatch(t, s)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		drained <- s.Shutdown(ctx)
	}()
	waitDraining()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(cat(v1Header("203.0.113.9:1", "10.0.0.1:81"), get("/late", "x"))); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request on a connection accepted before the drain: %v; want it served", err)
	}
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-drained; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// A keep-alive connection idle between requests as the drain begins: its
// client may be writing the next request at that moment. It is answered
// (with Connection: close) when it comes within drain_idle_grace, through
// either parser, and the connection is closed, not reset, once quiet that
// long. Closing at once, as the drain did, made a busy keep-alive client
// fail a request per connection at every hand-over.
func TestDrainIdleGrace(t *testing.T) {
	tests := []struct {
		name    string
		after   time.Duration // the next request, after the drain began
		next    []byte
		grace   time.Duration
		park    time.Duration // park_after: parked before the drain when set
		served  bool
		closeIn time.Duration // quiet: closed by then (from the drain's start)
	}{
		{name: "next request 30ms later, fast path", after: 30 * time.Millisecond, next: keepAliveGet("/next"), grace: time.Second, served: true},
		{name: "next request 300ms later, fast path", after: 300 * time.Millisecond, next: keepAliveGet("/next"), grace: time.Second, served: true},
		{name: "next request 300ms later, net/http parser", after: 300 * time.Millisecond,
			next: []byte("POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"), grace: time.Second, served: true},
		{name: "quiet past the grace", after: -1, grace: 300 * time.Millisecond, closeIn: 1800 * time.Millisecond},
		{name: "parked, next request 300ms later", after: 300 * time.Millisecond, next: keepAliveGet("/next"), grace: time.Second,
			park: testParkAfter, served: true},
		{name: "parked, quiet past the grace", after: -1, grace: 300 * time.Millisecond, park: testParkAfter, closeIn: 1800 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be, _ := backend(t)
			park := tt.park
			s, addrs := startServer(t, appConfig(be.URL, func(lc *ListenerConfig) { lc.DrainIdleGrace, lc.ParkAfter = tt.grace, &park }))
			c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(cat(v1Header("203.0.113.9:1", "10.0.0.1:81"), keepAliveGet("/first"))); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.Close {
				t.Fatalf("first request: %v (close %v); want a kept-alive 200", err, resp != nil && resp.Close)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			time.Sleep(20 * time.Millisecond) // idle in the keep-alive loop
			if park > 0 {
				waitParked(t, s, 1, 5*time.Second)
			}
			drained := make(chan error, 1)
			waitDraining := drainWatch(t, s)
			began := time.Now()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				drained <- s.Shutdown(ctx)
			}()
			if !tt.served {
				_, err := br.ReadByte()
				if !errors.Is(err, io.EOF) {
					t.Errorf("quiet connection: read %v; want EOF (closed, not reset)", err)
				}
				if took := time.Since(began); took < tt.grace-50*time.Millisecond || took > tt.closeIn {
					t.Errorf("quiet connection closed after %v; want about drain_idle_grace %v", took, tt.grace)
				}
				if err := <-drained; err != nil {
					t.Errorf("shutdown: %v", err)
				}
				return
			}
			waitDraining()
			time.Sleep(tt.after)
			if _, err := c.Write(tt.next); err != nil {
				t.Fatalf("write the next request during the drain: %v", err)
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("next request during the drain: %v; want it answered", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK || !resp.Close {
				t.Errorf("status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("after the answer: %v; want EOF", err)
			}
			if err := <-drained; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

// keepAliveGet is a GET that asks to keep the connection.
func keepAliveGet(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
}

// drainWatch returns a function that waits until the drain of every
// listener of s has begun (Shutdown runs on another goroutine, which a
// busy machine may start late). Called before Shutdown, which forgets the
// listeners.
func drainWatch(t *testing.T, s *Server) func() {
	t.Helper()
	s.mu.Lock()
	ls := s.listeners
	s.mu.Unlock()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for _, l := range ls {
			for !l.draining.Load() {
				if time.Now().After(deadline) {
					t.Fatal("the drain did not begin within 5s of Shutdown")
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
}
