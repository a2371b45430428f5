package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// smallEcho is an upstream that echoes with a 2 KiB buffer per connection
// (so that its own memory stays small beside the proxy's); with sink it
// only reads.
func smallEcho(t *testing.T, sink bool) string {
	t.Helper()
	return serveConns(t, func(c net.Conn) {
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if sink {
				continue
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// dialTunnel opens a tcp-mode tunnel through addr (PROXY v2 header first).
func dialTunnel(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(v2Header("192.0.2.5:7777", "10.0.0.1:81")); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitClosed reads c until the proxy closes it and returns how long that took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("tunnel still open after %s; want it closed", within)
	}
	return time.Since(start)
}

func TestTunnelIdleTimeout(t *testing.T) {
	// 1s: long enough that a test goroutine stalled on a busy machine does
	// not leave the one-way tunnel below silent for a whole period.
	const idle = time.Second
	cfg := func(up string) Config {
		return Config{Listeners: []ListenerConfig{{Mode: ModeTCP, Upstream: up, TunnelIdleTimeout: idle}}}
	}
	t.Run("closes a tunnel without traffic", func(t *testing.T) {
		_, addrs := startServer(t, cfg(smallEcho(t, false)))
		c := dialTunnel(t, addrs[0])
		msg := make([]byte, 70000) // more than pump's buffer: the splice path too
		sent := time.Now()         // the proxy's idle clock starts after this
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatalf("echo: %v", err)
		}
		waitClosed(t, c, 5*time.Second)
		if took := time.Since(sent); took < idle {
			t.Errorf("closed %s after the echo was sent; want at least tunnel_idle_timeout %s", took, idle)
		}
	})
	t.Run("traffic one way keeps it open", func(t *testing.T) {
		_, addrs := startServer(t, cfg(smallEcho(t, true)))
		c := dialTunnel(t, addrs[0])
		// Only client→upstream carries bytes, for over three idle periods;
		// the silent direction must not close the tunnel meanwhile.
		for range 24 {
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatalf("write while active: %v", err)
			}
			time.Sleep(idle / 6)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
			t.Fatalf("read on an active tunnel: %v; want a timeout (still open)", err)
		}
		waitClosed(t, c, 5*time.Second)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestIdleTunnelHoldsNoBuffer: with tunnel_idle_timeout set, a tunnel that
// has carried traffic and gone idle holds no copy buffer (it used to hold
// 32 KiB per direction: 75 KB of RSS per idle WebSocket instead of 14).
func TestIdleTunnelHoldsNoBuffer(t *testing.T) {
	const n = 100
	_, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeTCP, Upstream: smallEcho(t, false),
		TunnelIdleTimeout: time.Minute}}})
	msg := make([]byte, 64<<10)
	conns := make([]net.Conn, 0, n)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // and the pools' victim caches
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	for range n {
		c := dialTunnel(t, addrs[0])
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatalf("echo: %v", err)
		}
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond)
	per := (int64(heap()) - int64(before)) / n
	t.Logf("heap per idle tunnel: %d bytes", per)
	if per > 24<<10 {
		t.Errorf("heap per idle tunnel = %d bytes; want under 24 KiB (no copy buffers held)", per)
	}
	runtime.KeepAlive(conns)
}

// TestTunnelFinTimeoutWithIdleRule: once the client has closed its end of a
// WebSocket, the proxy closes the session tunnelFinTimeout later even if
// the app never closes its own — with tunnel_idle_timeout set as without
// (the idle rule used to push the deadline back to a full idle period).
func TestTunnelFinTimeoutWithIdleRule(t *testing.T) {
	for _, tc := range []struct{ idle, park time.Duration }{{0, 0}, {time.Minute, 0}, {0, testParkAfter}, {time.Minute, testParkAfter}} {
		idle, park := tc.idle, tc.park
		t.Run("tunnel_idle_timeout="+idle.String()+",park_after="+park.String(), func(t *testing.T) {
			app := silentUpgradeApp(t)
			s, addrs := startServer(t, appConfig("http://"+app, func(l *ListenerConfig) { l.TunnelIdleTimeout, l.ParkAfter = idle, &park }))
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
			if _, err := c.Write(cat(v1Header("203.0.113.1:1", "10.0.0.1:80"), []byte(req))); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(status, " 101 ") {
				t.Fatalf("upgrade answer %q, %v; want 101", status, err)
			}
			if park > 0 {
				waitParked(t, s, 2, 5*time.Second) // the FIN wakes the client's side, which wakes the app's
			}
			fin := time.Now() // the proxy's fin timeout starts after this
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, c, tunnelFinTimeout+3*time.Second)
			if took := time.Since(fin); took < tunnelFinTimeout {
				t.Errorf("closed %s after the client's FIN; want about %s", took, tunnelFinTimeout)
			}
		})
	}
}

// silentUpgradeApp answers every request with 101 and then neither reads
// nor closes: an app that went away without closing its sockets.
func silentUpgradeApp(t *testing.T) string {
	t.Helper()
	addr, conns := heldUpstream(t) // holds every connection open until the test ends
	go func() {
		for c := range conns {
			go func() {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			}()
		}
	}()
	return addr
}
