package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkChurn is make bench's "connection churn" on loopback in one
// process: per iteration a new connection, a PROXY header, one GET with
// Connection: close relayed to a keep-alive upstream, the response read
// to the proxy's FIN, close. The client's work shows in the figures too;
// compare runs of the same benchmark, not with BenchmarkProxyKeepAlive.
func BenchmarkChurn(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 128))
	}))
	defer be.Close()
	s := NewServer(nil)
	cfg := Config{Admin: "off", AccessLog: AccessLogConfig{Path: b.TempDir() + "/a.log"},
		Listeners: []ListenerConfig{{Listen: "127.0.0.1:0", Mode: ModeHTTP, ProxyProtocol: ProxyRequired, Upstream: be.URL}}}
	if err := s.Start(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	addr := s.Addrs()[0].String()
	req := "GET /churn HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	for name, hdr := range map[string][]byte{
		"v1": v1Header("203.0.113.7:5555", "10.0.0.1:81"),
		"v2": v2Header("203.0.113.7:5555", "10.0.0.1:81"),
	} {
		b.Run(name, func(b *testing.B) {
			msg := append(append([]byte(nil), hdr...), req...)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				var got []byte
				for {
					n, err := c.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				_ = c.Close()
				if !strings.HasPrefix(string(got), "HTTP/1.1 200 ") {
					b.Fatalf("response %q; want 200", got)
				}
			}
		})
	}
}
