package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// memConn is a net.Conn reading from a fixed byte slice.
type memConn struct {
	r *bytes.Reader
}

func (c *memConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 81} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5000} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

func BenchmarkHeaderDecode(b *testing.B) {
	l := &listener{name: "bench", metrics: NewMetrics().listener("bench")}
	st := &listenerState{cfg: ListenerConfig{Mode: ModeHTTP, HeaderTimeout: time.Second}, required: true}
	for name, hdr := range map[string][]byte{
		"v1": v1Header("203.0.113.7:5555", "10.0.0.1:81"),
		"v2": v2Header("203.0.113.7:5555", "10.0.0.1:81"),
	} {
		data := append(slices.Clip(hdr), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			mc := &memConn{r: bytes.NewReader(data)}
			for b.Loop() {
				mc.r.Reset(data)
				pc := proxyproto.NewConn(mc, proxyproto.WithPolicy(proxyproto.USE),
					proxyproto.ValidateHeader(validateHeader), proxyproto.SetReadHeaderTimeout(0))
				fc := &frontConn{Conn: pc, l: l, st: st, headerDecoder: headerDecoder{ppc: pc}}
				if err := fc.readHeader(); err != nil || !fc.hasHeader {
					b.Fatalf("decode: %v", err)
				}
			}
		})
	}
}

// BenchmarkRequestHead measures the upstream head of one request, written
// from each parser's form: the fast path's spans (sorted in place) and
// net/http's header map.
func BenchmarkRequestHead(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:8080")
	st := &listenerState{upstream: u, protoVal: []string{"https"}}
	fc := &frontConn{clientInfo: clientInfo{xff: []string{"203.0.113.7"}, port: []string{"443"}}}
	raw := "GET /path?q=1 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Forwarded-For: 6.6.6.6\r\nCookie: a=1\r\n\r\n"
	b.Run("fast", func(b *testing.B) {
		f := &httpConn{fc: fc}
		head := []byte(raw)
		b.ReportAllocs()
		for b.Loop() {
			if err := parseFastHead(head, &f.head, headerRules{}); err != nil {
				b.Fatal(err)
			}
			(&listener{}).fastRequest(f, head, st, nil)
		}
	})
	b.Run("net/http", func(b *testing.B) {
		f := &httpConn{fc: fc}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			b.Fatal(err)
		}
		delete(r.Header, "Host")
		b.ReportAllocs()
		for b.Loop() {
			(&listener{}).parsedRequest(f, r, r.RequestURI, st, "", noBodyFraming)
		}
	})
}

// BenchmarkProxyKeepAlive measures a whole proxied request on one
// keep-alive connection through real sockets (proxy and backend).
func BenchmarkProxyKeepAlive(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello\n")
	}))
	defer be.Close()
	s := NewServer(nil)
	cfg := Config{Admin: "off", AccessLog: AccessLogConfig{Path: b.TempDir() + "/a.log"},
		Listeners: []ListenerConfig{{Listen: "127.0.0.1:0", Mode: ModeHTTP, Upstream: be.URL}}}
	if err := s.Start(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write(v1Header("203.0.113.7:5555", "10.0.0.1:81"))
	br := bufio.NewReader(c)
	req := []byte("GET /bench HTTP/1.1\r\nHost: app\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
