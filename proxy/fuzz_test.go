package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// FuzzFrontEnd sends arbitrary bytes (PROXY header plus the first request)
// to a required http listener. Properties: the proxy never crashes, always
// closes or answers, and a request reaches the app only after a valid header.
func FuzzFrontEnd(f *testing.F) {
	seeds := [][]byte{
		cat(v1Header("203.0.113.7:1", "10.0.0.1:81"), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
		cat(v2Header("[2001:db8::7]:1", "[2001:db8::1]:81"), []byte("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n")),
		[]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		[]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"),
		[]byte("PROXY TCP6 ::1 ::1 65536 1\r\n"),
		// Issue 21: buffered bodies (chunked, over client_max_body_size),
		// methods in any case, an upgrade on HTTP/1.0, HEAD.
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPOST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\ntrack / HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nHEAD / HTTP/1.1\r\nHost: x\r\nX-Amzn-Oidc-Data: x\r\n\r\n"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	// Each input is sent from its own source address (Linux routes all of
	// 127/8 to lo). Inputs without a valid header register their source
	// first; the app flags any request whose X-Forwarded-For (the socket
	// peer, when no header was used) is one of them, even if it arrives late.
	var (
		invalid   sync.Map
		leaked    atomic.Value
		iteration atomic.Uint32
	)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, bad := invalid.Load(r.Header.Get("X-Forwarded-For")); bad {
			leaked.Store(r.Method + " " + r.RequestURI + " from " + r.Header.Get("X-Forwarded-For"))
		}
	}))
	f.Cleanup(be.Close)
	var (
		once sync.Once
		addr string
		srv  *Server
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		once.Do(func() {
			srv = NewServer(nil)
			cfg := Config{Admin: "off", Listeners: []ListenerConfig{{Listen: "127.0.0.1:0", Mode: ModeHTTP,
				Upstream: be.URL, HeaderTimeout: 200 * time.Millisecond}}}
			if err := srv.Start(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			addr = srv.Addrs()[0].String()
		})
		valid := false
		if h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(data))); err == nil && h != nil {
			valid = true
		}
		i := iteration.Add(1)
		src := net.IPv4(127, byte(64+(i>>16)&63), byte(i>>8), byte(i)) // 4M distinct sources
		if !valid {
			invalid.Store(src.String(), true)
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, c); err != nil {
			var ne net.Error
			if ok := asNetError(err, &ne); ok && ne.Timeout() {
				t.Fatalf("proxy neither answered nor closed within 3s")
			}
		}
		if l := leaked.Load(); l != nil {
			t.Fatalf("a request without a valid PROXY header reached the app: %v", l)
		}
	})
}

func asNetError(err error, target *net.Error) bool {
	var ne net.Error
	ok := errors.As(err, &ne)
	if ok {
		*target = ne
	}
	return ok
}
