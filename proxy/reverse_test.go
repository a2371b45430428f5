package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestUpstreamErrors(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	slow, _ := backend(t)
	cfg := Config{Listeners: []ListenerConfig{
		{Mode: ModeHTTP, Upstream: deadURL},
		{Mode: ModeHTTP, Upstream: slow.URL, UpstreamTimeout: 100 * time.Millisecond},
	}}
	s, addrs := startServer(t, cfg)
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	tests := []struct {
		name, addr, path, reason string
		want                     int
	}{
		{"upstream down", addrs[0], "/", "dial", http.StatusBadGateway},
		{"upstream timeout", addrs[1], "/slow", "timeout", http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp, _, err := roundTrip(t, tt.addr, cat(hdr, get(tt.path, "x")))
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; want a fast answer", d)
			}
			if got := metricValue(t, s, "elbguard_proxy_upstream_errors_total", map[string]string{"reason": tt.reason}); got != 1 {
				t.Errorf("upstream errors{reason=%s} = %v; want 1", tt.reason, got)
			}
		})
	}
}

func TestHSTSAndBasePath(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL+"/base/", func(l *ListenerConfig) { l.HSTS = "max-age=60" }))
	resp, _, err := roundTrip(t, addrs[0], cat(v1Header("203.0.113.1:1", "10.0.0.1:81"), get("/p?q=%2F", "x")))
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=60" {
		t.Errorf("HSTS = %q; want max-age=60", got)
	}
	if got := seen.last(t).URL.RequestURI(); got != "/base/p?q=%2F" {
		t.Errorf("upstream URI = %q; want /base/p?q=%%2F", got)
	}
}

// echoServer is a WebSocket echo backend built on coder/websocket; it
// records the X-Forwarded-For it saw.
func echoServer(t *testing.T) (*httptest.Server, chan string) {
	t.Helper()
	xff := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff <- r.Header.Get("X-Forwarded-For")
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		c.SetReadLimit(1 << 24)
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, xff
}

// proxyDialer returns an http.Client whose connections start with a PROXY
// header from src.
func proxyDialer(src string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(v2Header(src, "10.0.0.1:443")); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}}
}

func TestWebSocketEcho(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Minute} {
		t.Run("tunnel_idle_timeout="+idle.String(), func(t *testing.T) {
			be, xff := echoServer(t)
			s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.TunnelIdleTimeout = idle }))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, "ws://"+addrs[0]+"/ws", &websocket.DialOptions{
				HTTPClient: proxyDialer("198.51.100.77:4000"),
				HTTPHeader: http.Header{"X-Forwarded-For": {"6.6.6.6"}},
			})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d; want 101", resp.StatusCode)
			}
			if got := <-xff; got != "198.51.100.77" {
				t.Errorf("X-Forwarded-For = %q; want 198.51.100.77", got)
			}
			c.SetReadLimit(1 << 24)
			for _, size := range []int{5, 70000, 1 << 20} {
				msg := bytes.Repeat([]byte("x"), size)
				if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
					t.Fatalf("write %d: %v", size, err)
				}
				_, got, err := c.Read(ctx)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: got %d bytes, %v", size, len(got), err)
				}
			}
			if got := metricValue(t, s, "elbguard_proxy_websockets_active", nil); got != 1 {
				t.Errorf("active websockets = %v; want 1", got)
			}
			c.Close(websocket.StatusNormalClosure, "bye")
			deadline := time.Now().Add(3 * time.Second)
			for metricValue(t, s, "elbguard_proxy_websockets_active", nil) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := metricValue(t, s, "elbguard_proxy_websockets_active", nil); got != 0 {
				t.Errorf("active websockets after close = %v; want 0", got)
			}
		})
	}
}

// A WebSocket outlives header_timeout on a listener without PROXY
// decoding: the tunnel must not inherit the keep-alive loop's read deadline.
func TestWebSocketOutlivesHeaderTimeoutWithoutPROXY(t *testing.T) {
	be, _ := echoServer(t)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) {
		l.ProxyProtocol = ProxyOff
		l.HeaderTimeout = 200 * time.Millisecond
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addrs[0]+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.CloseNow() }()
	time.Sleep(500 * time.Millisecond) // past header_timeout
	for i := range 3 {
		if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatalf("write %d after header_timeout: %v", i, err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != "ping" {
			t.Fatalf("echo %d after header_timeout: got %q, %v; want ping", i, got, err)
		}
	}
}

func TestUpgradeDeclined(t *testing.T) {
	be, _ := backend(t) // plain HTTP: answers 200 to an upgrade request
	_, addrs := startServer(t, appConfig(be.URL, nil))
	resp, body, err := roundTrip(t, addrs[0], cat(v1Header("203.0.113.1:1", "10.0.0.1:81"),
		get("/ws", "x", "Upgrade: websocket", "Connection: Upgrade")))
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "hello 203.0.113.1") {
		t.Errorf("got %d %q; want 200 from the app", resp.StatusCode, body)
	}
}

func TestAccessLogThroughProxy(t *testing.T) {
	be, _ := backend(t)
	path := t.TempDir() + "/access.log"
	cfg := appConfig(be.URL, nil)
	cfg.AccessLog = AccessLogConfig{Path: path, Format: LogFormatCombined}
	s, addrs := startServer(t, cfg)
	if _, _, err := roundTrip(t, addrs[0], cat(v1Header("203.0.113.44:1", "10.0.0.1:81"),
		get("/logged?a=1", "x", "User-Agent: test-agent", "Referer: http://ref/"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	data, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `"GET /logged?a=1 HTTP/1.1" 200 19 "http://ref/" "test-agent"`
	if !strings.HasPrefix(data, "203.0.113.44 - - [") || !strings.Contains(data, want) {
		t.Errorf("log = %q; want a line from 203.0.113.44 containing %s", data, want)
	}
}

func readFile(path string) (string, error) {
	b, err := osReadFile(path)
	return string(b), err
}

var _ = io.EOF
