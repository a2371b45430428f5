package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawBackend answers every request on a connection with the canned
// response resp (keep-alive as the response says).
func rawBackend(t *testing.T, resp string) string {
	t.Helper()
	return rawApp(t, func(c net.Conn, req *http.Request) bool {
		_, _ = io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, resp); err != nil {
			return false
		}
		return !strings.Contains(resp, "Connection: close") && (strings.Contains(resp, "Content-Length") || strings.Contains(resp, "chunked"))
	})
}

func TestFastPathResponses(t *testing.T) {
	tests := []struct {
		name, resp, method string
		wantStatus         int
		wantBody           string
		wantHeader         map[string]string
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App: 1\r\n\r\nhello", "GET", 200, "hello", map[string]string{"X-App": "1"}},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n", "GET", 200, "hello world", nil},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, "", nil},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, "", nil},
		{"early hints skipped", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", 200, "ok", nil},
		{"until eof", "HTTP/1.1 200 OK\r\n\r\nstreamed", "GET", 200, "streamed", nil},
		{"http/1.0 upstream", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", "GET", 200, "old", nil},
		{"hop-by-hop removed", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\nx", "GET", 200, "x", map[string]string{"Keep-Alive": ""}},
		{"both framings refused", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", 502, "Bad Gateway\n", nil},
		{"bad status line", "HTTP/1.1 2x0 OK\r\n\r\n", "GET", 502, "Bad Gateway\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addrs := startServer(t, appConfig(rawBackend(t, tt.resp), nil))
			raw := cat(v1Header("203.0.113.1:1", "10.0.0.1:81"), []byte(tt.method+" /x HTTP/1.1\r\nHost: a\r\n\r\n"))
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(raw)
			req, _ := http.NewRequest(tt.method, "/x", nil)
			resp, err := http.ReadResponse(bufio.NewReader(c), req)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if tt.name == "until eof" && !resp.Close {
				t.Errorf("close-delimited upstream body: client connection not marked close")
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
		})
	}
}

func TestFastPathKeepAliveAndStaleUpstream(t *testing.T) {
	// The backend closes every connection after one answer without saying
	// so: the pooled connection is stale for the next request, which must
	// be retried on a fresh one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
				time.Sleep(20 * time.Millisecond)
			}()
		}
	}()
	_, addrs := startServer(t, appConfig("http://"+ln.Addr().String(), nil))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write(v2Header("203.0.113.1:1", "10.0.0.1:81"))
	br := bufio.NewReader(c)
	for i := 0; i < 5; i++ {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q; want 200 ok", i, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond) // the upstream closes its side meanwhile
	}
}

// A pooled upstream connection keeps the deadline of its last exchange when
// the response was fully buffered; the next exchange sets a fresh one, so a
// connection idle for longer than upstream_timeout still serves.
func TestFastPathReusesUpstreamAfterItsDeadline(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.UpstreamTimeout = 100 * time.Millisecond }))
	for i := range 3 {
		resp, _, err := roundTrip(t, addrs[0], cat(v1Header("203.0.113.1:1", "10.0.0.1:81"), get("/x", "a")))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %v %v; want 200", i, resp, err)
		}
		time.Sleep(250 * time.Millisecond) // past the pooled connection's deadline
	}
	if got := seen.count(); got != 3 {
		t.Errorf("upstream saw %d requests; want 3", got)
	}
}

func TestPipelinedAcrossParsers(t *testing.T) {
	be, seen := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, nil))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Two fast requests, then a POST with a body (handed to net/http), in one write.
	_, _ = c.Write(cat(v1Header("203.0.113.9:1", "10.0.0.1:81"),
		[]byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")))
	br := bufio.NewReader(c)
	for i, m := range []string{"GET", "HEAD", "POST"} {
		req, _ := http.NewRequest(m, "/", nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("response %d: status %d", i, resp.StatusCode)
		}
	}
	if seen.count() != 3 || seen.last(t).Header.Get("X-Forwarded-For") != "203.0.113.9" {
		t.Errorf("backend saw %d requests, last XFF %q; want 3 from 203.0.113.9", seen.count(), seen.last(t).Header.Get("X-Forwarded-For"))
	}
}

func BenchmarkFastRedirect(b *testing.B) {
	l := &listener{name: "bench", metrics: NewMetrics().listener("bench")}
	st := &listenerState{cfg: ListenerConfig{Mode: ModeRedirect}}
	head := []byte("GET /path/to/page?query=1 HTTP/1.1\r\nHost: www.example.com:80\r\nUser-Agent: bench\r\n\r\n")
	data := bytes.Repeat(head, 1)
	f := &httpConn{br: bufio.NewReader(bytes.NewReader(nil)), bw: bufio.NewWriterSize(io.Discard, 4096)}
	b.ReportAllocs()
	for b.Loop() {
		f.br.Reset(bytes.NewReader(data))
		if err := parseFastHead(head, &f.head, headerRules{}); err != nil {
			b.Fatal(err)
		}
		answerRedirect(l, f, head[f.head.host.start:f.head.host.end], head[f.head.target.start:f.head.target.end], st, true)
	}
}
