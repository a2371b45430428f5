package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

const testParkAfter = 50 * time.Millisecond

// tcpParkConfig is a tcp listener to up that parks after testParkAfter.
func tcpParkConfig(up string, mut func(*ListenerConfig)) Config {
	park := testParkAfter
	lc := ListenerConfig{Mode: ModeTCP, Upstream: up, ParkAfter: &park}
	if mut != nil {
		mut(&lc)
	}
	return Config{Listeners: []ListenerConfig{lc}}
}

// heldUpstream accepts connections and hands each to the test, which
// plays the app byte by byte.
func heldUpstream(t *testing.T) (string, chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 1024)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			conns <- c
		}
	}()
	return ln.Addr().String(), conns
}

// waitParked waits until the listener's parked gauge reads want.
func waitParked(t *testing.T, s *Server, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := metricValue(t, s, "elbguard_proxy_parked_sockets", nil)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked sockets = %v after %v; want %v", got, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v; want %q", got, err, msg)
	}
}

// An idle session parks (both sockets, no goroutine left per session) and
// the first byte from the client resumes it, again and again.
func TestParkAndWake(t *testing.T) {
	const n = 200
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), nil))
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialTunnel(t, addrs[0])
		echoOnce(t, conns[i], "hello")
	}
	waitParked(t, s, 2*n, 5*time.Second)
	// The echo app holds a goroutine per connection; the proxy none.
	if g := runtime.NumGoroutine() - base; g > n+n/4 {
		t.Errorf("%d goroutines for %d parked sessions (the echo app holds %d); want the proxy's near 0", g, n, n)
	}
	for round := range 3 {
		for _, c := range conns {
			echoOnce(t, c, "again")
		}
		waitParked(t, s, 2*n, 5*time.Second)
		t.Logf("round %d: %d sessions woke, echoed and parked again", round, n)
	}
}

// A parked session that receives from both sides at once carries both.
func TestParkedBothSidesAtOnce(t *testing.T) {
	up, ups := heldUpstream(t)
	s, addrs := startServer(t, tcpParkConfig(up, nil))
	for i := range 20 {
		c := dialTunnel(t, addrs[0])
		app := <-ups
		waitParked(t, s, 2, 5*time.Second)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = io.WriteString(c, "from client") }()
		go func() { defer wg.Done(); _, _ = io.WriteString(app, "from app") }()
		wg.Wait()
		for _, r := range []struct {
			c    net.Conn
			want string
		}{{c, "from app"}, {app, "from client"}} {
			_ = r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
			got := make([]byte, len(r.want))
			if _, err := io.ReadFull(r.c, got); err != nil || string(got) != r.want {
				t.Fatalf("round %d: read %q, %v; want %q", i, got, err, r.want)
			}
		}
		c.Close()
		app.Close()
		waitParked(t, s, 0, 5*time.Second)
	}
}

// tunnel_idle_timeout ends a parked session: the wheel wakes it within two
// of its steps, no timer of its own.
func TestParkedIdleTimeout(t *testing.T) {
	const idle = 1200 * time.Millisecond
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), func(l *ListenerConfig) { l.TunnelIdleTimeout = idle }))
	c := dialTunnel(t, addrs[0])
	sent := time.Now() // before the echo: the idle clock starts after it
	echoOnce(t, c, "hi")
	waitParked(t, s, 2, 5*time.Second)
	took := waitClosed(t, c, 5*time.Second)
	if since := time.Since(sent); since < idle || took > idle+2*wheelStep+time.Second {
		t.Errorf("parked session closed %v after parking (%v after its echo); want tunnel_idle_timeout %v (+ the wheel's steps)", took, since, idle)
	}
	waitParked(t, s, 0, 2*time.Second)
	for deadline := time.Now().Add(3 * time.Second); metricValue(t, s, "elbguard_proxy_websockets_active", nil) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session is still counted open 3s after its close; want it finished")
		}
	}
}

// In tcp mode a half-close passes through a parked session both ways: the
// app's FIN reaches the client, whose bytes still reach the app.
func TestParkedHalfClose(t *testing.T) {
	up, ups := heldUpstream(t)
	s, addrs := startServer(t, tcpParkConfig(up, nil))
	c := dialTunnel(t, addrs[0])
	app := <-ups
	waitParked(t, s, 2, 5*time.Second)
	if err := app.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF { //nolint:errorlint // io.EOF as is
		t.Fatalf("client read after the app's FIN: %d, %v; want EOF", n, err)
	}
	waitParked(t, s, 1, 5*time.Second) // the client's side parks again
	if _, err := io.WriteString(c, "late"); err != nil {
		t.Fatal(err)
	}
	_ = app.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(app, got); err != nil || string(got) != "late" {
		t.Fatalf("app read %q, %v; want the client's bytes after the half-close", got, err)
	}
	_ = c.Close()
	_ = app.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := app.Read(make([]byte, 1)); err != io.EOF { //nolint:errorlint // io.EOF as is
		t.Errorf("app read after the client closed: %v; want EOF", err)
	}
	waitParked(t, s, 0, 2*time.Second)
}

// Thousands of parked sessions whose clients reset them (SO_LINGER 0):
// every session ends, and the proxy's descriptors and goroutines come back
// to what they were.
func TestParkedResetByKernel(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), nil))
	time.Sleep(50 * time.Millisecond)
	fds, gs := openFDs(t), runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(v2Header("192.0.2.5:7777", "10.0.0.1:81")); err != nil {
			t.Fatal(err)
		}
		echoOnce(t, c, "x")
		conns[i] = c
	}
	waitParked(t, s, float64(2*n), 20*time.Second)
	for _, c := range conns {
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close() // RST
	}
	waitParked(t, s, 0, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, s, "elbguard_proxy_websockets_active", nil) != 0 || openFDs(t) > fds || runtime.NumGoroutine() > gs+5 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d resets: sessions %v, fds %d (before %d), goroutines %d (before %d); want all back",
				n, metricValue(t, s, "elbguard_proxy_websockets_active", nil), openFDs(t), fds, runtime.NumGoroutine(), gs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// keepAliveConn opens a connection to an http listener and sends one
// keep-alive request on it.
func keepAliveConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(v1Header("203.0.113.9:1", "10.0.0.1:81")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	keepAliveRequest(t, c, br)
	return c, br
}

func keepAliveRequest(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(keepAliveGet("/ka")); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v; want a kept-alive 200", resp.StatusCode, resp.Close)
	}
}

// A keep-alive connection idle between requests parks (no goroutine, its
// buffers back in the pool) and its next request is served as before.
func TestParkKeepAlive(t *testing.T) {
	const n = 200
	be, _ := backend(t)
	park := testParkAfter
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.ParkAfter = &park }))
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i], brs[i] = keepAliveConn(t, addrs[0])
	}
	waitParked(t, s, n, 5*time.Second)
	// What stays is fixed: the idle connection workers, the parker's.
	if g := runtime.NumGoroutine() - base; g > maxIdleConnWorkers+8 {
		t.Errorf("%d goroutines more for %d parked keep-alive connections; want at most the %d idle workers and the parker's", g, n, maxIdleConnWorkers)
	}
	for range 2 {
		for i := range conns {
			keepAliveRequest(t, conns[i], brs[i])
		}
		waitParked(t, s, n, 5*time.Second)
	}
}

// idle_timeout closes a parked keep-alive connection (from the wheel).
func TestParkedKeepAliveIdleTimeout(t *testing.T) {
	const idle = 800 * time.Millisecond
	be, _ := backend(t)
	park := testParkAfter
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.ParkAfter, l.IdleTimeout = &park, idle }))
	sent := time.Now() // before the request: the idle clock starts after its answer
	c, _ := keepAliveConn(t, addrs[0])
	start := time.Now()
	waitParked(t, s, 1, 5*time.Second)
	waitClosed(t, c, 5*time.Second)
	if took, since := time.Since(start), time.Since(sent); since < idle || took > idle+2*wheelStep+time.Second {
		t.Errorf("parked keep-alive connection closed after %v idle (%v after its request); want idle_timeout %v (+ the wheel's steps)", took, since, idle)
	}
	waitParked(t, s, 0, 2*time.Second)
	for deadline := time.Now().Add(3 * time.Second); metricValue(t, s, "elbguard_proxy_connections_active", nil) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection is still counted open 3s after its close; want it closed")
		}
	}
}

// heapInUse is the heap in use after two collections (the pools' victim
// caches emptied).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// What a parked connection keeps in the proxy's memory (heap and stacks):
// its records and Go's socket objects, no goroutine, no buffer.
func TestParkedMemory(t *testing.T) {
	const n = 500
	tests := []struct {
		name string
		open func(t *testing.T) (*Server, func() net.Conn)
		want int64 // bytes per connection, at most (client side included: the test's own sockets)
	}{
		{name: "tcp session", open: func(t *testing.T) (*Server, func() net.Conn) {
			up, ups := heldUpstream(t)
			s, addrs := startServer(t, tcpParkConfig(up, nil))
			return s, func() net.Conn {
				c := dialTunnel(t, addrs[0])
				app := <-ups
				_, _ = app.Write([]byte("x"))
				_, _ = io.ReadFull(c, make([]byte, 1))
				return c
			}
		}, want: 8 << 10}, // unparked: two goroutines, over 16 KiB
		{name: "keep-alive connection", open: func(t *testing.T) (*Server, func() net.Conn) {
			be, _ := backend(t)
			park := testParkAfter
			s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.ParkAfter = &park }))
			return s, func() net.Conn { c, _ := keepAliveConn(t, addrs[0]); return c }
		}, want: 6 << 10}, // unparked: a goroutine and 9 KiB of buffers
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, open := tt.open(t)
			open() // warm the pools and the parker
			waitParked(t, s, metricValue(t, s, "elbguard_proxy_parked_sockets", nil), time.Second)
			before := heapInUse()
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = open()
			}
			per := tt.want
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				per = (int64(heapInUse()) - int64(before)) / n
				if per <= tt.want {
					break
				}
			}
			t.Logf("heap and stacks per parked %s: %d bytes (the test's client sockets and the app's included)", tt.name, per)
			if per > tt.want {
				t.Errorf("%d bytes per parked %s; want at most %d", per, tt.name, tt.want)
			}
			runtime.KeepAlive(conns)
		})
	}
}

// BenchmarkTunnelEcho: a 64 B round trip through a tcp session, with
// parking off (the original copy) and on (the direction loop, which never
// parks here): the parking-capable path must cost an active session nothing.
func BenchmarkTunnelEcho(b *testing.B) {
	for _, park := range []time.Duration{0, DefaultParkAfter} {
		b.Run("park_after="+park.String(), func(b *testing.B) {
			up := smallEchoB(b)
			pa := park
			s := NewServer(nil)
			cfg := Config{Admin: "off", AccessLog: AccessLogConfig{Path: ""}, Listeners: []ListenerConfig{{Listen: "127.0.0.1:0",
				Mode: ModeTCP, Upstream: up, ParkAfter: &pa}}}
			if err := s.Start(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Shutdown(context.Background()) }()
			c, err := net.Dial("tcp", s.listeners[0].ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(v2Header("192.0.2.5:7777", "10.0.0.1:81")); err != nil {
				b.Fatal(err)
			}
			msg, got := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// smallEchoB is smallEcho for benchmarks.
func smallEchoB(b *testing.B) string {
	return serveConns(b, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// A new session starts parked, and small messages are relayed by the
// parker itself: the session never holds a goroutine, however many
// messages it carries, and park_after plays no part (it is an hour here).
func TestParkedFromStartRelaysInPlace(t *testing.T) {
	const (
		n    = 100
		park = 200 * time.Millisecond
	)
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), func(l *ListenerConfig) {
		p := park
		l.ParkAfter = &p
	}))
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialTunnel(t, addrs[0])
	}
	waitParked(t, s, 2*n, 5*time.Second) // at once, not after park_after
	for round := range 5 {
		if round > 0 {
			// A session's messages more than park_after apart: an idle
			// session's (closer ones take goroutines: TestParkedBusySession).
			time.Sleep(park + 50*time.Millisecond)
		}
		for _, c := range conns {
			echoOnce(t, c, "small message")
		}
		// Still parked right after the echoes: no wait for park_after.
		if got := metricValue(t, s, "elbguard_proxy_parked_sockets", nil); got != 2*n {
			t.Fatalf("round %d: parked sockets = %v right after the echoes; want %d (relayed in place)", round, got, 2*n)
		}
	}
	// The echo app holds a goroutine per connection; the proxy none.
	if g := runtime.NumGoroutine() - base; g > n+n/4 {
		t.Errorf("%d goroutines for %d sessions (the echo app holds %d); want the proxy's near 0", g, n, n)
	}
}

// TestParkedBusySession: a session whose messages follow each other within
// park_after is served by goroutines, as an unparked one (relaying each
// message through the parker costs an epoll_ctl and a second wake-up), and
// parks again after park_after of quiet; its next message, after the
// quiet, is relayed in place again.
func TestParkedBusySession(t *testing.T) {
	const park = 300 * time.Millisecond
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), func(l *ListenerConfig) {
		p := park
		l.ParkAfter = &p
	}))
	c := dialTunnel(t, addrs[0])
	waitParked(t, s, 2, 5*time.Second)
	for i := range 20 {
		echoOnce(t, c, fmt.Sprintf("busy %d", i))
	}
	if got := metricValue(t, s, "elbguard_proxy_parked_sockets", nil); got != 0 {
		t.Errorf("parked sockets = %v right after 20 echoes in a row; want 0 (both directions on goroutines)", got)
	}
	waitParked(t, s, 2, 5*time.Second) // park_after of quiet
	time.Sleep(park)                   // more than park_after since the last relay
	echoOnce(t, c, "after the quiet")
	if got := metricValue(t, s, "elbguard_proxy_parked_sockets", nil); got != 2 {
		t.Errorf("parked sockets = %v right after one echo after the quiet; want 2 (relayed in place)", got)
	}
}

// A transfer that fills the parker's read (bulk) moves to goroutines on the
// normal path, arrives whole, and the session parks again park_after after
// its last byte.
func TestParkedBulkResumesAndParksAgain(t *testing.T) {
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), nil))
	c := dialTunnel(t, addrs[0])
	waitParked(t, s, 2, 5*time.Second)
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read the 1 MiB echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write 1 MiB: %v", err)
	}
	for i := range got {
		if got[i] != msg[i] {
			t.Fatalf("byte %d: %d; want %d", i, got[i], msg[i])
		}
	}
	waitParked(t, s, 2, 5*time.Second)
	echoOnce(t, c, "after the bulk")
}

// Each park of a session with tunnel_idle_timeout puts its expiry in the
// wheel; a session relaying many messages leaves one live entry, and the
// entries of its earlier parks wake nothing (before, each woke the session
// on a goroutine when its time came).
func TestParkedWheelEntriesAreNotStale(t *testing.T) {
	const (
		idle = 2 * time.Second
		park = 100 * time.Millisecond
	)
	s, addrs := startServer(t, tcpParkConfig(smallEcho(t, false), func(l *ListenerConfig) {
		p := park
		l.TunnelIdleTimeout, l.ParkAfter = idle, &p
	}))
	c := dialTunnel(t, addrs[0])
	waitParked(t, s, 2, 5*time.Second)
	woken := wheelWakes.Load()
	// Messages more than park_after apart, each relayed in place and
	// parked again with a new expiry, for longer than one idle timeout.
	for end := time.Now().Add(idle + 500*time.Millisecond); time.Now().Before(end); time.Sleep(park + 50*time.Millisecond) {
		echoOnce(t, c, "tick")
		if got := metricValue(t, s, "elbguard_proxy_parked_sockets", nil); got != 2 {
			t.Fatalf("parked sockets = %v right after an echo; want 2 (relayed in place)", got)
		}
	}
	last := time.Now()
	// The earlier expiries are due now (the last one is not, for idle - 2
	// wheel steps) and must wake nothing.
	time.Sleep(2 * wheelStep)
	if n := wheelWakes.Load() - woken; n > 0 && time.Since(last) < idle {
		t.Errorf("the wheel woke %d items after their expiries were replaced; want none", n)
	}
	took := waitClosed(t, c, 5*time.Second)
	if took > idle+time.Second {
		t.Errorf("closed %v after the last message; want tunnel_idle_timeout (%v) + the wheel's steps", took, idle)
	}
}

// A parked keep-alive connection keeps only a descriptor of the parker's:
// its Go socket (poll descriptor, addresses, raw-socket state) is closed,
// and one is made again for the next request. A stop that cannot wait
// closes the parked descriptors: every client sees its connection end and
// the process's descriptors come back.
func TestParkedKeepAliveDetached(t *testing.T) {
	const n = 50
	be, _ := backend(t)
	park := testParkAfter
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.ParkAfter = &park }))
	fds := openFDs(t)
	conns := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i], brs[i] = keepAliveConn(t, addrs[0])
	}
	waitParked(t, s, n, 5*time.Second)
	l := s.listeners[0]
	l.connsMu.Lock()
	for pc := range l.parked {
		pc.mu.Lock()
		if pc.fc.Conn != nil || pc.fc.raw != nil || pc.fd < 0 {
			t.Errorf("parked connection: Go socket %v, raw %v, descriptor %d; want only the descriptor", pc.fc.Conn, pc.fc.raw, pc.fd)
		}
		pc.mu.Unlock()
	}
	l.connsMu.Unlock()
	for i := range conns { // resumed on a Go socket made from the descriptor, and parked again
		keepAliveRequest(t, conns[i], brs[i])
	}
	waitParked(t, s, n, 5*time.Second)
	// Each parked connection holds one descriptor, as an open one does
	// (the test's own client sockets are in this process too).
	// A connection counts as parked just before its Go descriptor closes.
	got := openFDs(t) - fds
	for deadline := time.Now().Add(5 * time.Second); got > 2*n+8 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = openFDs(t) - fds
	}
	if got > 2*n+8 {
		t.Errorf("%d descriptors more for %d parked connections (and their %d client ends); want about %d", got, n, n, 2*n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time to drain: the stop closes what is left
	_ = s.Shutdown(ctx)
	for i, c := range conns {
		if took := waitClosed(t, c, 5*time.Second); took > 3*time.Second {
			t.Errorf("connection %d ended %v after the stop", i, took)
		}
		c.Close()
	}
	for deadline := time.Now().Add(3 * time.Second); openFDs(t) > fds; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors after the stop; want %d as before", openFDs(t), fds)
		}
	}
}
