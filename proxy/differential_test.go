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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential test sends one corpus of requests (the hostile ones
// included) through both paths: the fast path, and the same bytes on a
// connection a first request handed to net/http (a Connection token naming
// another header does that; net/http then serves the connection). The app
// must receive the same request and the client the same response. What is
// compared is the parsed form, with the normalizations listed at canonical
// and canonicalResponse: header order and name case (net/http writes
// headers sorted and canonicalized), Date, and the framing headers of
// bodies net/http re-frames.

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

func (a *diffApp) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, canonical(r, body))
		a.mu.Unlock()
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

// canonical is a request as the app sees it: method, target, protocol,
// Host, every header (canonical name, values in order) sorted by name, and
// the body.
func canonical(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\nHost: %s\n", r.Method, r.RequestURI, r.Proto, r.Host)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, http.CanonicalHeaderKey(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header.Values(k))
	}
	fmt.Fprintf(&b, "TE %q CL %d\n\n%q", r.TransferEncoding, r.ContentLength, body)
	return b.String()
}

// canonicalResponse reads everything the client receives on one request
// and returns it in comparable form: each response's status line, headers
// sorted by name without Date (and without Content-Length and
// Transfer-Encoding: net/http re-frames bodies, the fast path relays the
// app's framing), body; then any bytes after a 101; then whether the proxy
// closed the connection.
func canonicalResponse(t *testing.T, c net.Conn, method string) string {
	t.Helper()
	var b strings.Builder
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				b.WriteString("[open]")
			} else {
				b.WriteString("[closed]")
			}
			return b.String()
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rq, _ := http.NewRequest(method, "/", nil)
		resp, err := http.ReadResponse(br, rq)
		if err != nil {
			fmt.Fprintf(&b, "[unparsable: %v]", err)
			return b.String()
		}
		fmt.Fprintf(&b, "%s %s\n", resp.Proto, resp.Status)
		keys := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			if k != "Date" && k != "Content-Length" && k != "Transfer-Encoding" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %q\n", k, resp.Header[k])
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			rest, _ := io.ReadAll(br)
			fmt.Fprintf(&b, "\n[tunnel %q]", rest)
			return b.String()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&b, "\n%q (close %v, err %v, trailer %q)\n", body, resp.Close, err, resp.Trailer)
	}
}

func TestDifferentialPaths(t *testing.T) {
	app, upstream := startDiffApp(t)
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	downURL := "http://" + down.Addr().String()
	down.Close() // an upstream that refuses connections
	logPath := t.TempDir() + "/access.log"
	_, addrs := startServer(t, Config{AccessLog: AccessLogConfig{Path: logPath, Format: LogFormatJSON, FlushInterval: 5 * time.Millisecond},
		Listeners: []ListenerConfig{
			{Mode: ModeHTTP, Upstream: upstream, HSTS: "max-age=60"},
			{Mode: ModeRedirect, HSTS: "max-age=60"},
			{Mode: ModeHTTP, Upstream: downURL},
			{Mode: ModeHTTP, Upstream: upstream},
		}})
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
	}
	// One connection per corpus entry and path: first a request that stays
	// on the fast path, or one that hands the connection to net/http; both
	// reach the app as GET /prime. Then the corpus bytes.
	primes := map[string]string{
		"fast path":     "GET /prime HTTP/1.1\r\nHost: app.example\r\n\r\n",
		"net/http path": "GET /prime HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Hop\r\n\r\n",
	}
	for _, tt := range corpus {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][3]string{}
			for _, path := range []string{"fast path", "net/http path"} {
				c, err := net.Dial("tcp", addrs[tt.listener])
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(cat(hdr, []byte(primes[path]))); err != nil {
					t.Fatalf("write: %v", err)
				}
				prime := canonicalResponseOne(t, c)
				if !strings.Contains(prime, " 200 ") && !strings.Contains(prime, " 301 ") && !strings.Contains(prime, " 502 ") {
					t.Fatalf("%s: priming request answered %s", path, prime)
				}
				n := app.len()
				if _, err := c.Write([]byte(tt.raw)); err != nil {
					t.Fatalf("write: %v", err)
				}
				method := strings.SplitN(tt.raw, " ", 2)[0]
				client := canonicalResponse(t, c, method)
				c.Close()
				time.Sleep(20 * time.Millisecond)
				got[path] = [3]string{strings.Join(app.since(n), "\n---\n"), client, logLines(t, logPath)}
			}
			fast, slow := got["fast path"], got["net/http path"]
			if !strings.Contains(fast[2], `"uri":"/prime"`) {
				t.Errorf("access log %q lacks the priming request", fast[2])
			}
			if fast[2] != slow[2] {
				t.Errorf("the access log differs:\nfast path:\n%s\nnet/http path:\n%s", fast[2], slow[2])
			}
			if fast[0] != slow[0] {
				t.Errorf("the app received different requests:\nfast path:\n%s\nnet/http path:\n%s", fast[0], slow[0])
			}
			if fast[1] != slow[1] {
				t.Errorf("the client received different answers:\nfast path:\n%s\nnet/http path:\n%s", fast[1], slow[1])
			}
		})
	}
}

// canonicalResponseOne reads exactly one response (the priming one).
func canonicalResponseOne(t *testing.T, c net.Conn) string {
	t.Helper()
	// The priming answer is small and arrives in one read; read it byte by
	// byte up to the end of its body so nothing after it is consumed.
	var buf bytes.Buffer
	one := make([]byte, 1)
	for !bytes.Contains(buf.Bytes(), []byte("\r\n\r\n")) {
		if _, err := c.Read(one); err != nil {
			return buf.String()
		}
		buf.Write(one)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf.Bytes())), nil)
	if err != nil {
		return buf.String()
	}
	body := make([]byte, resp.ContentLength)
	_, _ = io.ReadFull(c, body)
	return buf.String()
}

// logLines returns the access-log lines written since the last call (the
// file is truncated after reading), without time and duration, once the
// log has been quiet for 30ms.
func logLines(t *testing.T, path string) string {
	t.Helper()
	var data []byte
	for last := -1; ; last = len(data) {
		time.Sleep(30 * time.Millisecond)
		data, _ = os.ReadFile(path)
		if len(data) == last {
			break
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
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}
