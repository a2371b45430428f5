package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// seen is what the test backend received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *seen) last(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatalf("backend received no request")
	}
	return s.reqs[len(s.reqs)-1]
}

// backend is an httptest server recording requests; /slow sleeps.
func backend(t *testing.T) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r.Clone(context.Background()))
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello "+r.Header.Get("X-Forwarded-For")+"\n")
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// startServer starts a Server with cfg on loopback ports, returning it and
// its listener addresses.
func startServer(t *testing.T, cfg Config) (*Server, []string) {
	t.Helper()
	return startServerWith(t, cfg, nil)
}

// startServerWith is startServer with a hook on the Server before Start.
func startServerWith(t *testing.T, cfg Config, before func(*Server)) (*Server, []string) {
	t.Helper()
	if cfg.Admin == "" {
		cfg.Admin = "127.0.0.1:0"
	}
	for i := range cfg.Listeners {
		if cfg.Listeners[i].Listen == "" {
			cfg.Listeners[i].Listen = "127.0.0.1:0"
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s := NewServer(log)
	if before != nil {
		before(s)
	}
	if err := s.Start(context.Background(), cfg); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	var addrs []string
	for _, a := range s.Addrs() {
		addrs = append(addrs, a.String())
	}
	return s, addrs
}

func v1Header(src, dst string) []byte {
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := proxyproto.HeaderProxyFromAddrs(1, s, d).Format()
	if err != nil {
		panic(err)
	}
	return b
}

func v2Header(src, dst string, tlvs ...proxyproto.TLV) []byte {
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	h := proxyproto.HeaderProxyFromAddrs(2, s, d)
	if len(tlvs) > 0 {
		if err := h.SetTLVs(tlvs); err != nil {
			panic(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		panic(err)
	}
	return b
}

// roundTrip dials addr, writes raw bytes and reads one HTTP response (nil
// with the error when the connection closes without one).
func roundTrip(t *testing.T, addr string, raw []byte) (*http.Response, string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), nil
}

func get(path, host string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return []byte(b.String())
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

var osReadFile = os.ReadFile

// dialWithHeader opens a connection that already sent a PROXY v1 header.
func dialWithHeader(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if _, err := c.Write(v1Header("203.0.113.1:1", "10.0.0.1:81")); err != nil {
		t.Fatalf("write header: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("hi\n"))
	buf := make([]byte, 9)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("session not established: %v", err)
	}
	return c
}

// rawApp is an app written byte by byte: it accepts connections on a free
// loopback port until the test ends, reads their requests in order and calls
// answer for each; answer writes the raw response to c and says whether the
// connection goes on (false closes it).
func rawApp(t *testing.T, answer func(c net.Conn, r *http.Request) bool) string {
	t.Helper()
	return "http://" + serveConns(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil || !answer(c, r) {
				return
			}
		}
	})
}

// serveConns accepts connections on a free loopback port until the test
// ends and runs serve on each, on its own goroutine, closing it after; it
// returns the address.
func serveConns(tb testing.TB, serve func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// refusingAddr is a loopback address whose connections are refused: a
// socket bound to it that does not listen, held until the test ends.
// (Listening on port 0 and closing frees the port, and the next listener
// on port 0, the proxy's own, may get it: the "dead" upstream was then the
// proxy itself.)
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
