package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential test sends one corpus of requests (the hostile ones
// included) through both parsers: a server whose requests take the fast
// path wherever its strict parser accepts them, and a server that sends
// every request to net/http's parser (netHTTPOnly). Both are in front of
// the same app, with the same configuration. The app must receive the
// same bytes, the client must receive the same bytes, and the access log
// must say the same (but for time and duration). Nothing is normalized:
// the proxy adds no Date and one writer answers for both parsers.

// diffApp is a raw app whose answers depend on the path, recording every
// request it receives in canonical form.
type diffApp struct {
	mu   sync.Mutex
	reqs []string
}

func (a *diffApp) since(n int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs[n:])
}

func (a *diffApp) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func startDiffApp(t *testing.T) (*diffApp, string) {
	t.Helper()
	a := &diffApp{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go a.serve(c)
		}
	}()
	return a, "http://" + ln.Addr().String()
}

// recording keeps every byte read from an app connection.
type recording struct {
	r   io.Reader
	buf []byte
}

func (rec *recording) Read(p []byte) (int, error) {
	n, err := rec.r.Read(p)
	rec.buf = append(rec.buf, p[:n]...)
	return n, err
}

func (a *diffApp) serve(c net.Conn) {
	defer c.Close()
	rec := &recording{r: c}
	br := bufio.NewReader(rec)
	used := 0
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		end := len(rec.buf) - br.Buffered()
		a.mu.Lock()
		a.reqs = append(a.reqs, string(rec.buf[used:end]))
		a.mu.Unlock()
		used = end
		var resp string
		switch p := r.URL.Path; {
		case p == "/ws" && r.Header.Get("Upgrade") != "":
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\nhello")
			return
		case p == "/ws-deny":
			resp = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"
		case p == "/chunked":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		case p == "/204":
			resp = "HTTP/1.1 204 No Content\r\nX-App: 1\r\n\r\n"
		case p == "/304":
			resp = "HTTP/1.1 304 Not Modified\r\nEtag: \"e\"\r\n\r\n"
		case p == "/hop":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok"
		case p == "/hsts":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: 2\r\n\r\nok"
		case p == "/trailer":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: v\r\n\r\n"
		case p == "/trailer-bad":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX\n\r\n"
		case p == "/trailer-crcr":
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\r\n\r\n"
		case p == "/head-nolength" && r.Method == http.MethodHead:
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-App: 1\r\n\r\n"
		case p == "/untyped":
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<html"
		default:
			b := "app " + r.Method + " " + r.RequestURI
			resp = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-App: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
	}
}

// received reads every byte the client receives for one corpus entry,
// until the proxy closes the connection or is quiet for 300ms, and says
// which. The first byte gets 3s: a proxy goroutine scheduled late on a
// busy machine (the package runs under -race beside the other tests) is
// not "the client received nothing".
func received(c net.Conn) string {
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		wait := 300 * time.Millisecond
		if b.Len() == 0 {
			wait = 3 * time.Second
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return b.String() + "[open]"
			}
			return b.String() + "[closed]"
		}
	}
}

func TestDifferentialPaths(t *testing.T) {
	app, upstream := startDiffApp(t)
	downURL := "http://" + refusingAddr(t) // an upstream that refuses connections
	cfg := func(logPath string) Config {
		return Config{AccessLog: AccessLogConfig{Path: logPath, Format: LogFormatJSON, FlushInterval: 5 * time.Millisecond},
			Listeners: []ListenerConfig{
				{Mode: ModeHTTP, Upstream: upstream, HSTS: "max-age=60"},
				{Mode: ModeRedirect, HSTS: "max-age=60"},
				{Mode: ModeHTTP, Upstream: downURL},
				{Mode: ModeHTTP, Upstream: upstream},
				{Mode: ModeHTTP, Upstream: upstream, ClientMaxBodySize: 16, ClientBodyBufferSize: 8, DropRequestHeaders: []string{"X-Tenant"}},
			}}
	}
	fastLog, parsedLog := t.TempDir()+"/fast.log", t.TempDir()+"/parsed.log"
	_, fastAddrs := startServer(t, cfg(fastLog))
	_, parsedAddrs := startServerWith(t, cfg(parsedLog), func(s *Server) { s.netHTTPOnly = true })
	paths := []struct {
		name    string
		addrs   []string
		logPath string
	}{{"fast path", fastAddrs, fastLog}, {"net/http parser", parsedAddrs, parsedLog}}
	hdr := v1Header("203.0.113.7:5555", "10.0.0.1:81")
	ws := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"}
	corpus := []struct {
		name     string
		listener int
		raw      string
	}{
		{"GET", 0, string(req("GET", "/a?b=c%20d"))},
		{"HEAD", 0, string(req("HEAD", "/h"))},
		{"close", 0, string(req("GET", "/c", "Connection: close"))},
		{"spoofed forwarding headers", 0, string(req("GET", "/s", spoofHeaders...))},
		{"underscores", 0, string(req("GET", "/u", "X_User: u", "x-lower: l", "X-Dup: 1", "X-Dup: 2"))},
		{"interleaved duplicates and case", 0, string(req("GET", "/d", "X-Dup: 1", "accept: */*", "x-dup: 2", "ACCEPT-language: en", "X-dup: 3"))},
		{"Pragma alone", 0, string(req("GET", "/pragma", "Pragma: no-cache"))},
		{"HEAD of a chunked answer", 0, string(req("HEAD", "/chunked"))},
		{"HTTP/1.0", 0, "GET /ten HTTP/1.0\r\nHost: app.example\r\n\r\n"},
		{"HTTP/1.0, chunked answer", 0, "GET /chunked HTTP/1.0\r\nHost: app.example\r\n\r\n"},
		{"POST with a body, then a GET", 0, string(req("POST", "/post", "Content-Length: 5")) + "hello" + string(req("GET", "/after"))},
		{"chunked POST", 0, string(req("POST", "/post", "Transfer-Encoding: chunked")) + "5\r\nhello\r\n0\r\n\r\n"},
		{"Expect: 100-continue", 0, string(req("PUT", "/put", "Content-Length: 2", "Expect: 100-continue")) + "ok"},
		{"values with spaces", 0, string(req("GET", "/v", "X-A:   spaced \t", "X-Empty:"))},
		{"keep-alive hop headers", 0, string(req("GET", "/k", "Connection: keep-alive", "Keep-Alive: timeout=5", "Proxy-Connection: keep-alive", "TE: trailers", "Proxy-Authorization: Basic x"))},
		{"h2c upgrade", 0, string(req("GET", "/h2", "Connection: Upgrade", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA"))},
		{"health", 0, string(req("GET", "/healthz"))},
		{"health with query", 0, string(req("HEAD", "/healthz?x=1"))},
		{"chunked answer", 0, string(req("GET", "/chunked"))},
		{"204", 0, string(req("GET", "/204"))},
		{"304", 0, string(req("GET", "/304", "If-None-Match: \"e\""))},
		{"hop-by-hop answer headers", 0, string(req("GET", "/hop"))},
		{"answer without Content-Type", 0, string(req("GET", "/untyped"))},
		{"app's own HSTS", 0, string(req("GET", "/hsts"))},
		{"app's own HSTS, listener without", 2 + 1, string(req("GET", "/hsts"))},
		{"chunked answer with a trailer", 0, string(req("GET", "/trailer"))},
		{"websocket", 0, string(req("GET", "/ws", ws...))},
		{"websocket declined", 0, string(req("GET", "/ws-deny", ws...))},
		{"two Hosts", 0, "GET /2h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"bad Host", 0, "GET /bh HTTP/1.1\r\nHost: [::1]evil.com\r\n\r\n"},
		{"absolute form", 0, "GET http://app.example/abs?q HTTP/1.1\r\nHost: app.example\r\n\r\n"},
		{"pipelined", 0, string(req("GET", "/p1")) + string(req("GET", "/p2"))},
		{"redirect", 1, string(req("GET", "/r?x=1"))},
		{"redirect with port", 1, "GET /r HTTP/1.1\r\nHost: app.example:80\r\n\r\n"},
		{"redirect bad Host", 1, "GET /r HTTP/1.1\r\nHost: [::1]evil.com\r\n\r\n"},
		{"redirect health", 1, string(req("GET", "/healthz"))},
		{"upstream down", 2, string(req("GET", "/down"))},
		{"upstream down, websocket", 2, string(req("GET", "/ws", ws...))},
		// Issue 21: request bodies, response framing, methods, upgrades.
		{"upstream down, HEAD, then a GET", 2, string(req("HEAD", "/down")) + string(req("GET", "/healthz"))},
		{"HEAD answered without a length, then a GET", 0, string(req("HEAD", "/head-nolength")) + string(req("GET", "/after"))},
		{"trailer ending in a bare LF", 0, string(req("GET", "/trailer-bad"))},
		{"trailer ending in CR CR LF", 0, string(req("GET", "/trailer-crcr"))},
		{"trace in lower case", 0, "trace /t HTTP/1.1\r\nHost: app.example\r\n\r\n"},
		{"TRACK", 0, string(req("TRACK", "/t"))},
		{"websocket upgrade on HTTP/1.0", 0, "GET /ws HTTP/1.0\r\nHost: app.example\r\n" + strings.Join(ws, "\r\n") + "\r\n\r\n"},
		{"chunked POST spilled to a file", 4, string(req("POST", "/post", "Transfer-Encoding: chunked")) + "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"},
		{"POST over client_max_body_size", 4, string(req("POST", "/post", "Content-Length: 17")) + "12345678901234567"},
		{"chunked POST over client_max_body_size", 4, string(req("POST", "/post", "Transfer-Encoding: chunked")) + "11\r\n12345678901234567\r\n0\r\n\r\n"},
		{"operator's dropped header", 4, string(req("GET", "/tenant", "X-Tenant: admin", "x_tenant: admin", "X-Amzn-Oidc-Identity: admin"))},
	}
	for _, tt := range corpus {
		t.Run(tt.name, func(t *testing.T) {
			var got [2][3]string // app, client, access log
			for i, p := range paths {
				c, err := net.Dial("tcp", p.addrs[tt.listener])
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				n := app.len()
				if _, err := c.Write(cat(hdr, []byte(tt.raw))); err != nil {
					t.Fatalf("write: %v", err)
				}
				client := received(c)
				c.Close()
				time.Sleep(20 * time.Millisecond)
				got[i] = [3]string{strings.Join(app.since(n), "\n---\n"), client, logLines(t, p.logPath)}
			}
			fast, parsed := got[0], got[1]
			t.Logf("app received %q\nclient received %q", fast[0], fast[1])
			if fast[1] == "[open]" || fast[1] == "[closed]" {
				t.Errorf("the client received nothing (%s)", fast[1])
			}
			if fast[0] != parsed[0] {
				t.Errorf("the app received different bytes:\nfast path:\n%q\nnet/http parser:\n%q", fast[0], parsed[0])
			}
			if fast[1] != parsed[1] {
				t.Errorf("the client received different bytes:\nfast path:\n%q\nnet/http parser:\n%q", fast[1], parsed[1])
			}
			if fast[2] != parsed[2] {
				t.Errorf("the access log differs:\nfast path:\n%s\nnet/http parser:\n%s", fast[2], parsed[2])
			}
		})
	}
}

// logLines returns the access-log lines written since the last call (the
// file is truncated after reading), without time and duration, once the
// log has been quiet for 100ms (the log flushes every 5ms).
func logLines(t *testing.T, path string) string {
	t.Helper()
	var data []byte
	for last, same := -1, 0; same < 4; last = len(data) {
		time.Sleep(25 * time.Millisecond)
		data, _ = os.ReadFile(path)
		if same++; len(data) != last {
			same = 0
		}
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatalf("truncate access log: %v", err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		delete(m, "time")
		delete(m, "duration_ms")
		if _, ok := m["upstream_ms"]; ok { // both paths asked the app, or neither
			m["upstream_ms"] = "asked"
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}
