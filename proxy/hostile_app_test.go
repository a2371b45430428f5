package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The hostile-app tests (issue 21): an ordinary or misbehaving app behind
// the proxy, and the clients nginx protects such apps from. Each runs on
// both parsers: a server whose requests take the fast path wherever its
// parser accepts them, and one that sends every request to net/http's.

// bothParsers runs fn against a server started with cfg, once per parser.
func bothParsers(t *testing.T, cfg Config, fn func(t *testing.T, addrs []string)) {
	t.Helper()
	for _, p := range []struct {
		name    string
		netHTTP bool
	}{{"fast path", false}, {"net/http parser", true}} {
		t.Run(p.name, func(t *testing.T) {
			_, addrs := startServerWith(t, cfg, func(s *Server) { s.netHTTPOnly = p.netHTTP })
			fn(t, addrs)
		})
	}
}

// dialClient opens a client connection that sent its PROXY header.
func dialClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(v1Header("203.0.113.7:5555", "10.0.0.1:81")); err != nil {
		t.Fatalf("write PROXY header: %v", err)
	}
	return c, bufio.NewReader(c)
}

// readAnswer reads one response to method and its body.
func readAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	rq, _ := http.NewRequest(method, "/", nil)
	resp, err := http.ReadResponse(br, rq)
	if err != nil {
		t.Fatalf("read answer to %s: %v", method, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// syncWorkerApp is an app with one synchronous worker (Unicorn, gunicorn
// sync, a PHP-FPM pool of one): it accepts one connection, reads one
// request with its body, answers with Connection: close, and only then
// accepts the next. It records the requests' heads and bodies.
type syncWorkerApp struct {
	mu    sync.Mutex
	heads []http.Header
	body  []string
}

func startSyncWorker(t *testing.T) (*syncWorkerApp, string) {
	t.Helper()
	a := &syncWorkerApp{}
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
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if r, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				body, _ := io.ReadAll(r.Body)
				a.mu.Lock()
				a.heads = append(a.heads, r.Header.Clone())
				a.body = append(a.body, string(body))
				a.mu.Unlock()
				msg := fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, len(body))
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
			}
			c.Close()
		}
	}()
	return a, "http://" + ln.Addr().String()
}

// TestHostileSlowBodyHoldsNoWorker: a client trickles a 1,000-byte body
// (here 10 bytes every 50 ms) to a one-worker app. With request_buffering
// on (the default) the app is contacted only when the body is whole, so
// another client is answered at once; the trickled body reaches the app
// whole, with its Content-Length, even when the client chunked it.
func TestHostileSlowBodyHoldsNoWorker(t *testing.T) {
	for _, te := range []string{"Content-Length: 1000", "Transfer-Encoding: chunked"} {
		t.Run(te, func(t *testing.T) {
			app, upstream := startSyncWorker(t)
			bothParsers(t, appConfig(upstream, nil), func(t *testing.T, addrs []string) {
				slow, slowBR := dialClient(t, addrs[0])
				if _, err := slow.Write(req("POST", "/slow", te)); err != nil {
					t.Fatalf("write head: %v", err)
				}
				trickled := make(chan error, 1)
				go func() {
					for i := range 100 {
						part := []byte(strings.Repeat(strconv.Itoa(i%10), 10))
						if strings.HasPrefix(te, "Transfer") {
							part = cat([]byte("a\r\n"), part, []byte("\r\n"))
							if i == 99 {
								part = cat(part, []byte("0\r\n\r\n"))
							}
						}
						if _, err := slow.Write(part); err != nil {
							trickled <- err
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
					trickled <- nil
				}()
				time.Sleep(300 * time.Millisecond) // the slow client is well into its body
				for i, raw := range [][]byte{req("GET", "/other"), cat(req("POST", "/other", "Content-Length: 2"), []byte("hi"))} {
					start := time.Now()
					c, br := dialClient(t, addrs[0])
					_, _ = c.Write(raw)
					_ = c.SetReadDeadline(time.Now().Add(4 * time.Second))
					resp, body := readAnswer(t, br, "GET")
					// A held worker would answer after the trickle (about 5s);
					// 3s leaves a busy machine room.
					if d := time.Since(start); resp.StatusCode != http.StatusOK || d > 3*time.Second {
						t.Errorf("other client %d: %d %q after %s while a body trickles; want 200 at once", i, resp.StatusCode, body, d)
					}
				}
				if err := <-trickled; err != nil {
					t.Fatalf("trickle: %v", err)
				}
				_ = slow.SetReadDeadline(time.Now().Add(3 * time.Second))
				resp, body := readAnswer(t, slowBR, "POST")
				if resp.StatusCode != http.StatusOK || body != "POST /slow 1000" {
					t.Errorf("slow client: %d %q; want 200 \"POST /slow 1000\"", resp.StatusCode, body)
				}
				app.mu.Lock()
				defer app.mu.Unlock()
				last := app.heads[len(app.heads)-1]
				if last.Get("Content-Length") != "1000" || len(last["Transfer-Encoding"]) != 0 {
					t.Errorf("app got Content-Length %q, Transfer-Encoding %q; want 1000 and none", last.Get("Content-Length"), last["Transfer-Encoding"])
				}
			})
		})
	}
}

// TestRequestBufferingOff: with request_buffering off the body streams to
// the app as it arrives (today's behaviour, for apps that read uploads
// progressively): the app has the head before the body is complete.
func TestRequestBufferingOff(t *testing.T) {
	gotHead := make(chan struct{}, 4)
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		gotHead <- struct{}{}
		body, _ := io.ReadAll(r.Body)
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return err == nil
	})
	bothParsers(t, appConfig(app, func(l *ListenerConfig) { l.RequestBuffering = BufferingOff }), func(t *testing.T, addrs []string) {
		c, br := dialClient(t, addrs[0])
		_, _ = c.Write(cat(req("POST", "/up", "Content-Length: 4"), []byte("ab")))
		select {
		case <-gotHead:
		case <-time.After(2 * time.Second):
			t.Fatalf("app saw nothing of a half-sent body; want it streamed with request_buffering off")
		}
		_, _ = c.Write([]byte("cd"))
		if resp, body := readAnswer(t, br, "POST"); resp.StatusCode != 200 || body != "abcd" {
			t.Errorf("got %d %q; want 200 abcd", resp.StatusCode, body)
		}
	})
}

// TestRequestBodySpillsToPrivateFile: a body over client_body_buffer_size
// is kept in a temporary file that has no name (unlinked), mode 0600, in a
// directory only the proxy's user can enter, while the client sends it;
// the app receives it whole.
func TestRequestBodySpillsToPrivateFile(t *testing.T) {
	app, upstream := startSyncWorker(t)
	bothParsers(t, appConfig(upstream, nil), func(t *testing.T, addrs []string) {
		c, br := dialClient(t, addrs[0])
		body := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
		_, _ = c.Write(cat(req("POST", "/big", "Content-Length: "+strconv.Itoa(len(body))), []byte(body[:40<<10])))
		var file string
		for deadline := time.Now().Add(2 * time.Second); file == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			file = openBodyFile(t)
		}
		if file == "" {
			t.Fatalf("no open body file after 40 KiB of a 64 KiB body; want one beyond client_body_buffer_size")
		}
		if !strings.HasSuffix(file, " (deleted)") {
			t.Errorf("body file %q; want it unlinked at once", file)
		}
		fi, err := os.Stat(filepath.Dir(strings.TrimSuffix(file, " (deleted)")))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("body directory: %v, %v; want mode 0700", fi.Mode(), err)
		}
		_, _ = c.Write([]byte(body[40<<10:]))
		if resp, got := readAnswer(t, br, "POST"); resp.StatusCode != 200 || got != "POST /big 65536" {
			t.Errorf("got %d %q; want 200 \"POST /big 65536\"", resp.StatusCode, got)
		}
		app.mu.Lock()
		defer app.mu.Unlock()
		if app.body[len(app.body)-1] != body {
			t.Errorf("app got a different body (%d bytes); want the client's 64 KiB", len(app.body[len(app.body)-1]))
		}
		// The file is emptied once the exchange is over, which may be just
		// after the client has read the answer.
		f := openBodyFile(t)
		for deadline := time.Now().Add(time.Second); f != "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			f = openBodyFile(t)
		}
		if f != "" {
			t.Errorf("body file %q still holds data a second after the exchange; want it closed or emptied", f)
		}
	})
}

// openBodyFile is the target of an open file descriptor of this process
// in the buffered bodies' directory that holds data (an emptied spare is
// not one), and checks every such file's mode is 0600.
func openBodyFile(t *testing.T) string {
	t.Helper()
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		p := "/proc/self/fd/" + fd.Name()
		target, err := os.Readlink(p)
		if err != nil || !strings.Contains(target, "elbguard-proxy-bodies-") {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("body file mode %v; want 0600", fi.Mode().Perm())
		}
		if fi.Size() > 0 {
			return target
		}
	}
	return ""
}

// TestHostileBodyTooLarge: a body over client_max_body_size (1 MiB by
// default) is answered 413 and never reaches the app: announced (with or
// without Expect: 100-continue, then no 100 Continue is sent) or chunked.
func TestHostileBodyTooLarge(t *testing.T) {
	app, upstream := startSyncWorker(t)
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10))
	for _, mode := range []string{BufferingOn, BufferingOff} {
		t.Run("request_buffering "+mode, func(t *testing.T) {
			bothParsers(t, appConfig(upstream, func(l *ListenerConfig) { l.RequestBuffering = mode }), func(t *testing.T, addrs []string) {
				for _, tt := range []struct {
					name string
					raw  []byte
				}{
					{"Content-Length", req("POST", "/huge", "Content-Length: 2000000")},
					{"Expect: 100-continue", req("POST", "/huge", "Content-Length: 2000000", "Expect: 100-continue")},
					{"chunked", cat(req("POST", "/huge", "Transfer-Encoding: chunked"), []byte(strings.Repeat(chunk, 17)))},
				} {
					t.Run(tt.name, func(t *testing.T) {
						app.mu.Lock()
						n := len(app.body)
						app.mu.Unlock()
						c, br := dialClient(t, addrs[0])
						_, _ = c.Write(tt.raw)
						resp, _ := readAnswer(t, br, "POST")
						if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
							t.Errorf("got %d (close %v); want 413 and Connection: close", resp.StatusCode, resp.Close)
						}
						time.Sleep(50 * time.Millisecond)
						app.mu.Lock()
						defer app.mu.Unlock()
						if mode == BufferingOn && len(app.body) != n {
							t.Errorf("app got a body of %d bytes; want nothing of a refused one", len(app.body[len(app.body)-1]))
						}
					})
				}
			})
		})
	}
}

// TestHostileClientLeavesWhileAppStreams: a client that leaves an event
// stream or a long poll whose head it has received ends the app's
// connection within about a second, not when the app next writes.
func TestHostileClientLeavesWhileAppStreams(t *testing.T) {
	closed := make(chan time.Time, 4)
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		if r.URL.Path == "/chunked" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
		} else {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n")
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1)) // the next event is far off: watch the connection
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			closed <- time.Now()
		}
		return false
	})
	bothParsers(t, appConfig(app, nil), func(t *testing.T, addrs []string) {
		for _, path := range []string{"/chunked", "/eof"} {
			t.Run(path, func(t *testing.T) {
				c, _ := dialClient(t, addrs[0])
				_, _ = c.Write(req("GET", path))
				buf := make([]byte, 4096)
				var got []byte
				for !strings.Contains(string(got), "data: 1") {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("client got %q, then %v", got, err)
					}
					got = append(got, buf[:n]...)
				}
				left := time.Now()
				c.Close()
				select {
				case at := <-closed:
					if d := at.Sub(left); d > 2500*time.Millisecond {
						t.Errorf("the app's connection closed %s after the client left; want within about a second", d)
					}
				case <-time.After(6 * time.Second):
					t.Fatalf("the app's connection still open 6s after its client left; want it closed within about a second")
				}
			})
		}
	})
}

// TestUpstreamReadTimeout: upstream_read_timeout bounds each wait for the
// app's answer, head and body alike; a head written in two parts 1.5 s
// apart is one answer (it used to be a 504 after the 1 s client check);
// 0 means none, for a listener that streams on purpose.
func TestUpstreamReadTimeout(t *testing.T) {
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		switch r.URL.Path {
		case "/split-head":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Part: 1\r\n")
			time.Sleep(1500 * time.Millisecond)
			_, _ = io.WriteString(c, "Content-Length: 2\r\n\r\nok")
			return true
		case "/stall-head":
			time.Sleep(3 * time.Second)
		case "/stall-body":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
			time.Sleep(3 * time.Second)
			_, _ = io.WriteString(c, "cd")
		case "/slow-events":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for range 3 {
				time.Sleep(600 * time.Millisecond)
				_, _ = io.WriteString(c, "2\r\nev\r\n")
			}
			_, _ = io.WriteString(c, "0\r\n\r\n")
			return true
		}
		return false
	})
	short, none := 400*time.Millisecond, time.Duration(0)
	for _, tt := range []struct {
		name    string
		timeout *time.Duration
		path    string
		status  int
		body    string
		maxWait time.Duration // the client's answer (or close) comes before
	}{
		{"head in two parts, default", nil, "/split-head", 200, "ok", 2500 * time.Millisecond},
		{"stalled head", &short, "/stall-head", 504, "Gateway Timeout\n", 1500 * time.Millisecond},
		{"stalled body", &short, "/stall-body", 200, "", 1500 * time.Millisecond}, // closed mid-body
		{"events 600ms apart, none", &none, "/slow-events", 200, "evevev", 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bothParsers(t, appConfig(app, func(l *ListenerConfig) { l.UpstreamReadTimeout = tt.timeout }), func(t *testing.T, addrs []string) {
				c, br := dialClient(t, addrs[0])
				start := time.Now()
				_, _ = c.Write(req("GET", tt.path))
				rq, _ := http.NewRequest("GET", tt.path, nil)
				resp, err := http.ReadResponse(br, rq)
				if err != nil {
					t.Fatalf("read answer: %v", err)
				}
				body, err := io.ReadAll(resp.Body)
				d := time.Since(start)
				if resp.StatusCode != tt.status || d > tt.maxWait {
					t.Errorf("got %d after %s; want %d within %s", resp.StatusCode, d, tt.status, tt.maxWait)
				}
				if tt.body == "" {
					if err == nil {
						t.Errorf("body %q read whole; want the connection closed mid-body", body)
					}
				} else if string(body) != tt.body || err != nil {
					t.Errorf("body %q, %v; want %q", body, err, tt.body)
				}
			})
		})
	}
}

// TestHostileHeadAnswersCarryNoBody: the proxy's own answers to HEAD (a
// 502 here) carry no body; a kept-alive client reads its next response,
// not 12 stray bytes.
func TestHostileHeadAnswersCarryNoBody(t *testing.T) {
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	upstream := "http://" + down.Addr().String()
	down.Close()
	bothParsers(t, appConfig(upstream, nil), func(t *testing.T, addrs []string) {
		c, br := dialClient(t, addrs[0])
		_, _ = c.Write(cat(req("HEAD", "/x"), req("GET", "/healthz")))
		if resp, _ := readAnswer(t, br, "HEAD"); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("HEAD: %d; want 502", resp.StatusCode)
		}
		resp, body := readAnswer(t, br, "GET")
		if resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Errorf("the next answer: %d %q; want the health check's 200 \"ok\\n\", no stray bytes before it", resp.StatusCode, body)
		}
	})
}

// TestHostileHeadWithoutLengthPoisonsNoOne: an app answers HEAD without a
// Content-Length (as if it were a GET to be read until it closes) and
// writes a body late. The next client must get its own answer, never the
// late bytes (a 302 to an attacker's site), whichever parser read the HEAD.
func TestHostileHeadWithoutLengthPoisonsNoOne(t *testing.T) {
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		if r.Method == http.MethodHead {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nSet-Cookie: session=victim\r\n\r\n")
			time.Sleep(100 * time.Millisecond) // after the proxy pooled the connection and the next request took it
			_, err := io.WriteString(c, poison)
			return err == nil
		}
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(r.URL.Path), r.URL.Path)
		return err == nil
	})
	bothParsers(t, appConfig(app, nil), func(t *testing.T, addrs []string) {
		for i := range 3 {
			a, abr := dialClient(t, addrs[0])
			_, _ = a.Write(req("HEAD", "/h"))
			if resp, _ := readAnswer(t, abr, "HEAD"); resp.StatusCode != 200 {
				t.Fatalf("HEAD: %d; want 200", resp.StatusCode)
			}
			b, bbr := dialClient(t, addrs[0])
			_, _ = b.Write(req("GET", "/mine"))
			resp, body := readAnswer(t, bbr, "GET")
			if resp.StatusCode != 200 || body != "/mine" || resp.Header.Get("Location") != "" {
				t.Fatalf("round %d: the next client got %d %q (Location %q); want its own 200 \"/mine\"", i, resp.StatusCode, body, resp.Header.Get("Location"))
			}
			time.Sleep(150 * time.Millisecond)
		}
	})
}

// TestHostileChunkedTrailers: a chunked answer whose trailer section has a
// line ending in a bare LF, or in CR CR LF, is a broken answer: 502 when
// nothing was sent yet, and the app's connection is not reused.
func TestHostileChunkedTrailers(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		mu.Lock()
		conns[c.RemoteAddr().String()] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/bare-lf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX\n\r\n")
		case "/bare-lf-field":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\n\r\n")
		case "/cr-cr-lf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\r\n\r\n")
		case "/no-colon":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T\r\n\r\n")
		default:
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n")
		}
		return true
	})
	bothParsers(t, appConfig(app, nil), func(t *testing.T, addrs []string) {
		for _, path := range []string{"/bare-lf", "/bare-lf-field", "/cr-cr-lf", "/no-colon"} {
			t.Run(path, func(t *testing.T) {
				mu.Lock()
				clear(conns)
				mu.Unlock()
				c, br := dialClient(t, addrs[0])
				_, _ = c.Write(cat(req("GET", path), req("GET", "/good")))
				if resp, _ := readAnswer(t, br, "GET"); resp.StatusCode != http.StatusBadGateway {
					t.Errorf("broken trailer: %d; want 502", resp.StatusCode)
				}
				if resp, body := readAnswer(t, br, "GET"); resp.StatusCode != 200 || body != "ok" || resp.Trailer.Get("X-T") != "1" {
					t.Errorf("next answer: %d %q trailer %v; want 200 ok with its trailer", resp.StatusCode, body, resp.Trailer)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(conns) != 2 {
					t.Errorf("the app served both answers on %d connection(s); want the broken one's not reused", len(conns))
				}
			})
		}
	})
}

// TestTrailerLine: the strict trailer rule, line by line.
func TestTrailerLine(t *testing.T) {
	for _, tt := range []struct {
		line    string
		end, ok bool
	}{
		{"\r\n", true, true},
		{"X-T: 1\r\n", false, true},
		{"X-T:\r\n", false, true},
		{"\n", false, false},
		{"X\n", false, false},
		{"X-T: 1\n", false, false},
		{"X-T: 1\r\r\n", false, false},
		{"\r\r\n", false, false},
		{"X-T\r\n", false, false},
		{": 1\r\n", false, false},
		{"X T: 1\r\n", false, false},
		{"X-T: a\x00b\r\n", false, false},
	} {
		if end, ok := trailerLine([]byte(tt.line)); end != tt.end || ok != tt.ok {
			t.Errorf("trailerLine(%q) = %v, %v; want %v, %v", tt.line, end, ok, tt.end, tt.ok)
		}
	}
}

// TestHostileTraceAndHTTP10Upgrade: TRACE and TRACK in any case get 405
// and never reach the app; Upgrade on an HTTP/1.0 request is ignored
// (RFC 9110 §7.8): the app gets a plain request, the client its 200, never
// a 101 and a tunnel.
func TestHostileTraceAndHTTP10Upgrade(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" upgrade="+r.Header.Get("Upgrade")+" connection="+r.Header.Get("Connection"))
		mu.Unlock()
		if r.Header.Get("Upgrade") != "" {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			return false
		}
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	bothParsers(t, appConfig(app, nil), func(t *testing.T, addrs []string) {
		for _, tt := range []struct {
			name, raw string
			status    int
			app       string
		}{
			{"TRACE", "TRACE /t HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\n\r\n", 405, ""},
			{"trace", "trace /t HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\n\r\n", 405, ""},
			{"Trace", "Trace /t HTTP/1.1\r\nHost: a\r\n\r\n", 405, ""},
			{"TRACK", "TRACK /t HTTP/1.1\r\nHost: a\r\n\r\n", 405, ""},
			{"track", "track /t HTTP/1.1\r\nHost: a\r\n\r\n", 405, ""},
			{"HTTP/1.0 websocket upgrade", "GET /ws HTTP/1.0\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 200, "GET /ws upgrade= connection="},
		} {
			t.Run(tt.name, func(t *testing.T) {
				mu.Lock()
				seen = nil
				mu.Unlock()
				c, br := dialClient(t, addrs[0])
				_, _ = c.Write([]byte(tt.raw))
				if resp, _ := readAnswer(t, br, "GET"); resp.StatusCode != tt.status {
					t.Errorf("got %d; want %d", resp.StatusCode, tt.status)
				}
				time.Sleep(30 * time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				if got := strings.Join(seen, "; "); got != tt.app {
					t.Errorf("app saw %q; want %q", got, tt.app)
				}
			})
		}
	})
}

// TestHostileOperatorHeaders: names listed in drop_request_headers never
// reach the app from a client, in any case or spelt with '_', and neither
// do X-Amzn-Oidc-* (ALB's sign-in, which an app written for an ALB trusts).
func TestHostileOperatorHeaders(t *testing.T) {
	be, seen := backend(t)
	cfg := appConfig(be.URL, func(l *ListenerConfig) {
		l.DropRequestHeaders = []string{"X-Tenant-Admin", "x_internal_user"}
		l.UnderscoresInHeaders = true // the operator's names go whatever their spelling
	})
	bothParsers(t, cfg, func(t *testing.T, addrs []string) {
		c, br := dialClient(t, addrs[0])
		_, _ = c.Write(req("GET", "/h", "X-Tenant-Admin: yes", "x-tenant-admin: yes", "X_Tenant_Admin: yes", "X-Internal-User: root",
			"X-Amzn-Oidc-Data: forged", "X-Amzn-Oidc-Identity: admin", "x-amzn-oidc-accesstoken: t", "X_Amzn_Oidc_Data: forged",
			"X-Keep: 1", "X_Keep_Under: 1"))
		if resp, _ := readAnswer(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("got %d; want 200", resp.StatusCode)
		}
		r := seen.last(t)
		for k := range r.Header {
			if lk := strings.ToLower(strings.ReplaceAll(k, "_", "-")); strings.HasPrefix(lk, "x-tenant-admin") ||
				strings.HasPrefix(lk, "x-internal-user") || strings.HasPrefix(lk, "x-amzn-oidc-") {
				t.Errorf("app saw %s = %q; want it dropped", k, r.Header[k])
			}
		}
		if r.Header.Get("X-Keep") != "1" || r.Header.Get("X_Keep_Under") != "1" {
			t.Errorf("app headers %v; want X-Keep and X_Keep_Under kept", r.Header)
		}
	})
}
