package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2cApp switches to "h2c" whenever it is asked to (as an app with
// golang.org/x/net/http2/h2c does), then writes bytes no forwarding rule
// ever sees; a request without Upgrade gets a plain 200. It records the
// heads it received.
func h2cApp(t *testing.T) (string, func() []http.Header) {
	t.Helper()
	var mu sync.Mutex
	var heads []http.Header
	addr := rawApp(t, func(c net.Conn, r *http.Request) bool {
		mu.Lock()
		heads = append(heads, r.Header.Clone())
		mu.Unlock()
		if r.Header.Get("Upgrade") != "" {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI-h2-frames")
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
		return true
	})
	return addr, func() []http.Header {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(heads)
	}
}

// TestHostileH2CNotTunnelled: only Upgrade: websocket switches protocols.
// An h2c upgrade (or any other) reaches the app as a plain request without
// Upgrade, HTTP2-Settings and Connection, and the client gets its answer.
func TestHostileH2CNotTunnelled(t *testing.T) {
	app, heads := h2cApp(t)
	_, addrs := startServer(t, appConfig(app, nil))
	hdr := v1Header("203.0.113.7:5555", "10.0.0.1:81")
	for _, tt := range []struct{ name, lines string }{
		{"h2c upgrade (net/http parser: Connection names HTTP2-Settings)", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"},
		{"h2c upgrade (fast path)", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"},
		{"websocket listed after h2c", "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n"},
		{"upgrade on POST", "Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := len(heads())
			method := "GET"
			if strings.Contains(tt.lines, "Content-Length") {
				method = "POST"
			}
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(cat(hdr, []byte(method+" /h2 HTTP/1.1\r\nHost: app.example\r\n"+tt.lines+"\r\n")))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "plain" {
				t.Errorf("client got %d %q; want 200 plain (no protocol switch)", resp.StatusCode, body)
			}
			got := heads()[n:]
			if len(got) != 1 {
				t.Fatalf("app saw %d requests; want 1", len(got))
			}
			for _, k := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v, ok := got[0][k]; ok {
					t.Errorf("app saw %s = %q; want it removed", k, v)
				}
			}
		})
	}
}

// TestHostileUnderscoreHeaders: names with '_' are dropped by default
// (nginx's underscores_in_headers off); underscores_in_headers lets them
// through, but never a spelling of a forwarding or client-address header.
func TestHostileUnderscoreHeaders(t *testing.T) {
	be, seen := backend(t)
	hdr := v1Header("203.0.113.7:5555", "10.0.0.1:81")
	for _, tt := range []struct {
		name  string
		allow bool
		raw   []byte
		want  []string // header names the app must see
		never []string // and must not
	}{
		{"fast path, default", false, get("/u", "a", "X_User: u", "X-Ok: 1", "True_Client_IP: 6.6.6.6"),
			[]string{"X-Ok"}, []string{"X_User", "True_Client_IP", "True-Client-Ip"}},
		{"net/http parser, default", false, get("/u", "a", "X_User: u", "X-Ok: 1", "Connection: X-Hop", "X-Hop: 1"),
			[]string{"X-Ok"}, []string{"X_User", "X-Hop"}},
		{"fast path, allowed", true, get("/u", "a", "X_User: u", "X_Forwarded_For: 6.6.6.6", "Client_IP: 6.6.6.6"),
			[]string{"X_User"}, []string{"X_Forwarded_For", "Client_IP"}},
		{"net/http parser, allowed", true, get("/u", "a", "X_User: u", "X_Real_IP: 6.6.6.6", "Connection: X-Hop"),
			[]string{"X_User"}, []string{"X_Real_IP"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.UnderscoresInHeaders = tt.allow }))
			resp, _, err := roundTrip(t, addrs[0], cat(hdr, tt.raw))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%v %v; want 200", resp, err)
			}
			h := seen.last(t).Header
			has := func(name string) bool { // the app's net/http canonicalizes X_User as X_user
				for k := range h {
					if strings.EqualFold(k, name) {
						return true
					}
				}
				return false
			}
			for _, k := range tt.want {
				if !has(k) {
					t.Errorf("app did not see %s; want it (got %v)", k, h)
				}
			}
			for _, k := range tt.never {
				if has(k) {
					t.Errorf("app saw %s; want it dropped (got %v)", k, h)
				}
			}
		})
	}
}

// TestHostileRedirectHost: whatever the Host, Location names a valid host
// or the answer is 400; never a raw byte, never what follows a bracketed
// address.
func TestHostileRedirectHost(t *testing.T) {
	_, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeRedirect, ProxyProtocol: ProxyRequired}}})
	hdr := v1Header("203.0.113.7:5555", "10.0.0.1:80")
	for _, tt := range []struct {
		name, host string
		want       int
		location   string
	}{
		{"plain", "app.example", 301, "https://app.example/r"},
		{"port", "app.example:80", 301, "https://app.example/r"},
		{"IPv6 literal with port", "[::1]:80", 301, "https://[::1]/r"},
		{"text after an IPv6 literal", "[::1]evil.com", 400, ""},
		{"text after an IPv6 literal and a port", "[::1]:80evil.com", 400, ""},
		{"raw 0xFF", "app\xffexample", 400, ""},
		{"raw 0xFF after the port", "app.example:80\xff", 400, ""},
		{"userinfo", "evil.com@app.example", 400, ""},
		{"empty port", "app.example:", 301, "https://app.example/r"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := roundTrip(t, addrs[0], cat(hdr, []byte("GET /r HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")))
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if loc := resp.Header.Get("Location"); resp.StatusCode != tt.want || loc != tt.location {
				t.Errorf("got %d Location %q; want %d Location %q", resp.StatusCode, loc, tt.want, tt.location)
			}
		})
	}
}

// exchangeSegments is exchange with the input in separate writes, 30ms
// apart (separate TCP segments, separate reads at the proxy).
func exchangeSegments(t *testing.T, addr string, segs ...[]byte) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for i, s := range segs {
		if i > 0 {
			time.Sleep(30 * time.Millisecond)
		}
		_, _ = c.Write(s)
	}
	br := bufio.NewReader(c)
	for {
		wait := 750 * time.Millisecond
		if len(statuses) == 0 {
			wait = 2 * time.Second // the first answer or close, however late a busy machine runs the proxy
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			return statuses, !(errors.As(err, &ne) && ne.Timeout())
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: unparsable answer: %v", statuses, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
}

// TestHostileConflictingFraming: a request head with both Content-Length
// and Transfer-Encoding is answered 400 and its connection closed (RFC 9112
// §6.1) however it arrives: split across segments, or behind a pipelined
// request on either path. The app never sees it.
func TestHostileConflictingFraming(t *testing.T) {
	rig := newHostileRig(t)
	hdr := v1Header(clientAddr+":5555", "10.0.0.1:81")
	from := " from " + clientAddr
	cl := []byte("POST /both HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n")
	te := []byte("Transfer-Encoding: chunked\r\n")
	end := []byte("\r\n0\r\n\r\n")
	post := req("POST", "/p", "Content-Length: 2")
	for _, tt := range []struct {
		name string
		segs [][]byte
		want []int
		app  []string
	}{
		{"in one segment", [][]byte{cat(hdr, cl, te, end)}, []int{400}, nil},
		{"split after Content-Length", [][]byte{cat(hdr, cl), cat(te, end)}, []int{400}, nil},
		{"split inside the name", [][]byte{cat(hdr, cl, te[:9]), cat(te[9:], end)}, []int{400}, nil},
		{"split after Transfer-Encoding", [][]byte{cat(hdr, []byte("POST /both HTTP/1.1\r\nHost: app.example\r\n"), te), cat([]byte("Content-Length: 5\r\n"), end)}, []int{400}, nil},
		{"behind a fast-path request", [][]byte{cat(hdr, req("GET", "/g"), cl, te, end)}, []int{200, 400}, []string{"GET /g" + from}},
		{"behind a net/http request", [][]byte{cat(hdr, post, []byte("hi"), cl, te, end)}, []int{200, 400}, []string{"POST /p" + from}},
		{"behind a net/http request, split", [][]byte{cat(hdr, post, []byte("hi")), cl, cat(te, end)}, []int{200, 400}, []string{"POST /p" + from}},
		{"behind a net/http request whose body looks like a clean head", [][]byte{
			cat(hdr, req("POST", "/p", "Content-Length: 47"), []byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), cl), cat(te, end)},
			[]int{200, 400}, []string{"POST /p" + from}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := rig.app.len()
			statuses, closed := exchangeSegments(t, rig.addrs[0], tt.segs...)
			rig.app.settle()
			var gotApp []string
			for _, r := range rig.app.since(n) {
				gotApp = append(gotApp, r.String())
			}
			if !slices.Equal(statuses, tt.want) || !closed || !slices.Equal(gotApp, tt.app) {
				t.Errorf("client got %v (closed %v), app saw %q; want %v, closed, app %q", statuses, closed, gotApp, tt.want, tt.app)
			}
			rig.checkBystander(t)
		})
	}
}

// TestHostileRequestTargets: a request target is origin form, absolute
// form (scheme, "://", authority), "*", or CONNECT's authority; anything
// else net/http's parser accepts (an authority or a scheme-only URI on
// GET) is refused 400, as nginx does, instead of reaching the app as "/".
func TestHostileRequestTargets(t *testing.T) {
	rig := newHostileRig(t)
	hdr := v1Header(clientAddr+":5555", "10.0.0.1:81")
	from := " from " + clientAddr
	line := func(method, target string) []byte {
		return cat(hdr, []byte(method+" "+target+" HTTP/1.1\r\nHost: app.example\r\n\r\n"))
	}
	rig.run(t, []hostileCase{
		{name: "authority form on GET", raw: line("GET", "app.example:80"), want: []int{400}},
		{name: "scheme without authority", raw: line("GET", "http:/t"), want: []int{400}},
		{name: "scheme and empty authority", raw: line("GET", "http:///t"), want: []int{400}},
		{name: "opaque URI", raw: line("POST", "mailto:a@app.example"), want: []int{400}},
		{name: "absolute form", raw: line("GET", "http://app.example/t?q"), want: []int{200}, keepAlive: true, app: []string{"GET /t?q" + from}},
		{name: "OPTIONS *", raw: line("OPTIONS", "*"), want: []int{200}, keepAlive: true}, // answered by the app's net/http itself
		{name: "CONNECT", raw: line("CONNECT", "app.example:443"), want: []int{405}},
		{name: "TRACE", raw: line("TRACE", "/t"), want: []int{405}},
	})
}
