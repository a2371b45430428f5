package proxy

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// metricValue sums the samples of a metric family whose labels include want.
func metricValue(t *testing.T, s *Server, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := s.Metrics().Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func appConfig(upstream string, mut func(*ListenerConfig)) Config {
	lc := ListenerConfig{Mode: ModeHTTP, ProxyProtocol: ProxyRequired, Upstream: upstream}
	if mut != nil {
		mut(&lc)
	}
	return Config{Listeners: []ListenerConfig{lc}}
}

func TestHeaderDecoding(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, nil))
	vpce := proxyproto.TLV{Type: tlvparse.PP2_TYPE_AWS, Value: append([]byte{tlvparse.PP2_SUBTYPE_AWS_VPCE_ID}, "vpce-0123abcd"...)}
	tests := []struct {
		name     string
		header   []byte
		wantXFF  string
		wantPort string
		wantVPCE string
	}{
		{"v1 tcp4", v1Header("203.0.113.7:5555", "10.0.0.1:443"), "203.0.113.7", "443", ""},
		{"v1 tcp6", v1Header("[2001:db8::7]:5555", "[2001:db8::1]:8443"), "2001:db8::7", "8443", ""},
		{"v2 tcp4", v2Header("198.51.100.9:1234", "10.0.0.1:81"), "198.51.100.9", "81", ""},
		{"v2 tcp6", v2Header("[2001:db8::9]:1234", "[2001:db8::1]:81"), "2001:db8::9", "81", ""},
		{"v2 vpce tlv", v2Header("198.51.100.10:1234", "10.0.0.1:81", vpce), "198.51.100.10", "81", "vpce-0123abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := roundTrip(t, addrs[0], cat(tt.header, get("/x", "app.example",
				"X-Forwarded-For: 6.6.6.6", "X-Real-IP: 6.6.6.6", "Forwarded: for=6.6.6.6",
				"X-Forwarded-Port: 1", "X-Forwarded-Host: evil", "X-Amzn-Vpce-Id: vpce-spoofed")))
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d; want 200", resp.StatusCode)
			}
			r := seen.last(t)
			for k, want := range map[string]string{
				"X-Forwarded-For": tt.wantXFF, "X-Real-Ip": tt.wantXFF, "X-Forwarded-Proto": "https",
				"X-Forwarded-Port": tt.wantPort, "X-Amzn-Vpce-Id": tt.wantVPCE, "Forwarded": "",
				"X-Forwarded-Host": "",
			} {
				if got := strings.Join(r.Header[k], ","); got != want {
					t.Errorf("%s = %q; want %q", k, got, want)
				}
			}
			if r.Host != "app.example" {
				t.Errorf("Host = %q; want app.example", r.Host)
			}
		})
	}
}

func TestMissingHeader(t *testing.T) {
	be, seen := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	resp, _, err := roundTrip(t, addrs[0], get("/app", "x"))
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d; want 400", resp.StatusCode)
	}
	resp, body, err := roundTrip(t, addrs[0], get("/healthz", "x"))
	if err != nil {
		t.Fatalf("health round trip: %v", err)
	}
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("health: %d %q; want 200 \"ok\\n\"", resp.StatusCode, body)
	}
	// A health check first does not open the connection to other requests.
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /app HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufioReader(c)
	for i, want := range []int{200, 400} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("response %d: status %d; want %d", i, resp.StatusCode, want)
		}
	}
	if n := seen.count(); n != 0 {
		t.Errorf("backend saw %d requests; want 0", n)
	}
	if got := metricValue(t, s, "elbguard_proxy_header_errors_total", map[string]string{"reason": "missing"}); got != 2 {
		t.Errorf("missing header errors = %v; want 2", got)
	}
}

func TestOptionalHeader(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.ProxyProtocol = ProxyOptional }))
	resp, _, err := roundTrip(t, addrs[0], get("/app", "x", "X-Forwarded-For: 6.6.6.6"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v; want 200", resp, err)
	}
	if got := seen.last(t).Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q; want the socket peer 127.0.0.1", got)
	}
}

func TestLocalCommand(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, nil))
	local := []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
	resp, _, err := roundTrip(t, addrs[0], cat(local, get("/app", "x")))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v; want 200", resp, err)
	}
	if got := seen.last(t).Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q; want the socket peer 127.0.0.1", got)
	}
}

func TestBadHeaders(t *testing.T) {
	be, seen := backend(t)
	// No case waits for header_timeout; 2s keeps the split v2 header (three
	// writes 20ms apart) inside it on a busy machine.
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.HeaderTimeout = 2 * time.Second }))
	tests := []struct {
		name   string
		raw    []byte
		reason string
	}{
		{"v1 garbage", []byte("PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n"), reasonMalformed},
		{"v1 too long", []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), reasonMalformed},
		{"v2 wrong length", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x05\x01\x02\x03\x04\x05GET / HTTP/1.1\r\n\r\n"), reasonMalformed},
		{"v2 unix family", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\xd8" + strings.Repeat("\x00", 216) + "GET / HTTP/1.1\r\n\r\n"), reasonUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metricValue(t, s, "elbguard_proxy_header_errors_total", nil)
			resp, _, err := roundTrip(t, addrs[0], tt.raw)
			if err == nil {
				t.Fatalf("got response %d; want the connection closed", resp.StatusCode)
			}
			if got := metricValue(t, s, "elbguard_proxy_header_errors_total", nil); got != before+1 {
				t.Errorf("header errors = %v; want %v", got, before+1)
			}
		})
	}
	t.Run("split v1 header", func(t *testing.T) {
		// The spec lets receivers drop partial v1 headers (go-proxyproto
		// does, against slowloris): the connection closes, nothing leaks.
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Only the first 10 bytes exist when the proxy reads: however late
		// it reads, it sees a partial line. The rest is sent once it closed.
		h := v1Header("203.0.113.8:1", "10.0.0.1:81")
		_, _ = c.Write(h[:10])
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("read %d bytes; want the connection closed", n)
		}
		_, _ = c.Write(cat(h[10:], get("/split", "x")))
	})
	t.Run("split v2 header", func(t *testing.T) {
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h := v2Header("203.0.113.8:1", "10.0.0.1:81")
		for _, part := range [][]byte{h[:3], h[3:20], h[20:]} {
			_, _ = c.Write(part)
			time.Sleep(20 * time.Millisecond)
		}
		_, _ = c.Write(get("/split", "x"))
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 12)
		if _, err := c.Read(buf); err != nil || string(buf) != "HTTP/1.1 200" {
			t.Errorf("got %q, %v; want HTTP/1.1 200", buf, err)
		}
	})
	if seen.count() != 1 {
		t.Errorf("backend saw %d requests; want only the split-header one", seen.count())
	}
}

func TestTrustedCIDRs(t *testing.T) {
	be, seen := backend(t)
	cfg := appConfig(be.URL, func(l *ListenerConfig) { l.TrustedCIDRs = []string{"127.0.0.2/32"} })
	cfg.Listeners = append(cfg.Listeners, ListenerConfig{Mode: ModeHTTP, Upstream: be.URL,
		ProxyProtocol: ProxyOptional, TrustedCIDRs: []string{"127.0.0.2"}})
	s, addrs := startServer(t, cfg)
	dial := func(src, addr string, raw []byte) (*http.Response, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(raw)
		return http.ReadResponse(bufioReader(c), nil)
	}
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	if resp, err := dial("127.0.0.2", addrs[0], cat(hdr, get("/a", "x"))); err != nil || resp.StatusCode != 200 {
		t.Errorf("trusted source: %v, %v; want 200", resp, err)
	}
	if got := seen.last(t).Header.Get("X-Forwarded-For"); got != "203.0.113.1" {
		t.Errorf("X-Forwarded-For = %q; want 203.0.113.1", got)
	}
	n := seen.count()
	if _, err := dial("127.0.0.3", addrs[0], cat(hdr, get("/b", "x"))); err == nil {
		t.Errorf("untrusted source on required listener: got a response; want refused")
	}
	if _, err := dial("127.0.0.3", addrs[1], cat(hdr, get("/c", "x"))); err == nil {
		t.Errorf("untrusted source sending a header on optional listener: got a response; want closed")
	}
	if resp, err := dial("127.0.0.3", addrs[1], get("/d", "x")); err != nil || resp.StatusCode != 200 {
		t.Errorf("untrusted source without header on optional listener: %v, %v; want 200", resp, err)
	}
	if got := seen.count(); got != n+1 {
		t.Errorf("backend saw %d new requests; want 1", got-n)
	}
	if got := metricValue(t, s, "elbguard_proxy_header_errors_total", map[string]string{"reason": reasonUntrusted}); got != 2 {
		t.Errorf("untrusted errors = %v; want 2", got)
	}
}

func TestRequestSmuggling(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.MaxHeaderBytes = 4096 }))
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two content lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"header flood", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 100)+"\r\n", 200) + "\r\n", 431},
		{"not http", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := roundTrip(t, addrs[0], cat(hdr, []byte(tt.raw)))
			if err != nil {
				return // closed without an answer is fine too
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := seen.count(); n != 0 {
		t.Errorf("backend saw %d requests; want 0", n)
	}
}
