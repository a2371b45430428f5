package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// poison is what a misbehaving app leaves in a pooled connection: a whole
// response, sent as the body of an answer that has none by its framing.
const poison = "HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\nContent-Length: 0\r\n\r\n"

// misbehavingApp answers /page/<id> with "page <id>", and sends a body
// anyway, a moment after the head, where HTTP says there is none: on HEAD
// (Python's http.server with do_HEAD = do_GET), on 204 and on 304.
func misbehavingApp(t *testing.T) string {
	t.Helper()
	return rawApp(t, func(c net.Conn, r *http.Request) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		var head string
		switch {
		case r.Method == http.MethodHead:
			head = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(poison))
		case r.URL.Path == "/204":
			head = fmt.Sprintf("HTTP/1.1 204 No Content\r\nContent-Length: %d\r\n\r\n", len(poison))
		case r.URL.Path == "/304":
			head = fmt.Sprintf("HTTP/1.1 304 Not Modified\r\nContent-Length: %d\r\n\r\n", len(poison))
		default:
			body := "page " + strings.TrimPrefix(r.URL.Path, "/page/")
			_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			return err == nil
		}
		if _, err := io.WriteString(c, head); err != nil {
			return false
		}
		time.Sleep(time.Millisecond) // a separate segment, after the proxy relayed the head
		_, err := io.WriteString(c, poison)
		return err == nil
	})
}

// TestHostilePoolNeverServesAnotherClientsBytes: concurrent clients, some
// asking for answers the app follows with stray bytes, others for their own
// page. Every client must get its own answer: never the stray bytes of
// another client's exchange, on the fast path and on the net/http parser.
func TestHostilePoolNeverServesAnotherClientsBytes(t *testing.T) {
	_, addrs := startServer(t, appConfig(misbehavingApp(t), nil))
	for _, path := range []struct{ name, first string }{
		{"fast path", ""},
		// A Connection token naming another header is outside the fast
		// path's parser: net/http's reads the request.
		{"net/http parser", "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"},
	} {
		t.Run(path.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan string, 64)
			for g := range 6 {
				wg.Go(func() {
					c, err := net.Dial("tcp", addrs[0])
					if err != nil {
						errs <- err.Error()
						return
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					_, _ = c.Write(v1Header(fmt.Sprintf("203.0.113.%d:1000", g+1), "10.0.0.1:81"))
					br := bufio.NewReader(c)
					for i := range 40 {
						method, target, want := http.MethodGet, fmt.Sprintf("/page/%d-%d", g, i), fmt.Sprintf("200 page %d-%d", g, i)
						switch (g + i) % 4 {
						case 1:
							method, target, want = http.MethodHead, "/page/head", "200 "
						case 2:
							target, want = "/204", "204 "
						case 3:
							target, want = "/304", "304 "
						}
						extra := ""
						if i == 0 {
							extra = path.first
						}
						if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: app.example\r\n%s\r\n", method, target, extra); err != nil {
							errs <- fmt.Sprintf("client %d request %d: write: %v", g, i, err)
							return
						}
						rq, _ := http.NewRequest(method, target, nil)
						resp, err := http.ReadResponse(br, rq)
						if err != nil {
							errs <- fmt.Sprintf("client %d request %d %s %s: %v", g, i, method, target, err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if got := fmt.Sprintf("%d %s", resp.StatusCode, body); got != want || resp.Header.Get("Location") != "" {
							errs <- fmt.Sprintf("client %d request %d %s %s: got %q (Location %q); want %q",
								g, i, method, target, got, resp.Header.Get("Location"), want)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// TestPoolDropsConnectionWithStrayBytes: bytes an app sends after a
// complete answer, while its connection idles in the pool, retire the
// connection; the next request gets a fresh one and its own answer.
func TestPoolDropsConnectionWithStrayBytes(t *testing.T) {
	strayed := make(chan struct{}, 1)
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(r.URL.Path), r.URL.Path); err != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(c, poison) // stray bytes while the connection is pooled
		strayed <- struct{}{}
		return true
	})
	_, addrs := startServer(t, appConfig(app, nil))
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	for _, raw := range [][]byte{get("/first", "a"), get("/second", "a"), get("/third", "a", "Connection: X-Hop")} {
		resp, body, err := roundTrip(t, addrs[0], cat(hdr, raw))
		if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(raw), "GET "+body+" ") {
			t.Fatalf("%q: %v %q %v; want 200 and its own path", raw, resp, body, err)
		}
		select { // the stray bytes are sent while the connection is pooled
		case <-strayed:
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: the app did not send its stray bytes within 5s", raw)
		}
		time.Sleep(20 * time.Millisecond) // and arrive
	}
}

// TestShutdownClosesStalledUpstream: an app that sends a response head and
// part of its body, then nothing (a stalled app, a long poll), must not
// hold the drain past its deadline: once it is over, the exchange's
// upstream connection is closed with the client's, on either parser's
// path, and the client sees its connection closed.
func TestShutdownClosesStalledUpstream(t *testing.T) {
	stalled := make(chan struct{})
	t.Cleanup(func() { close(stalled) })
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Upgrade") == "" { // a WebSocket handshake gets no answer at all
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
		}
		<-stalled // the rest never comes while the test runs
		return false
	})
	for _, tt := range []struct{ name, raw string }{
		{"fast path", string(get("/stall", "a"))},
		{"net/http parser", string(req("POST", "/stall", "Content-Length: 2")) + "hi"},
		{"websocket handshake", string(req("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, addrs := startServer(t, appConfig(app, nil))
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(cat(v1Header("203.0.113.7:1", "10.0.0.1:81"), []byte(tt.raw))); err != nil {
				t.Fatalf("write: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // the proxy waits for the rest of the body
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				done <- s.Shutdown(ctx)
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Logf("shutdown: %v (its deadline passed, as the test wants)", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("Shutdown with a 300ms deadline still running after 3s; want the stalled exchange closed")
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := io.Copy(io.Discard, c); isTimeout(err) {
				t.Errorf("client connection still open after the drain: %v; want it closed", err)
			}
		})
	}
}

// TestStreamedAnswerReachesClient: an answer whose length is not known
// ahead (chunked, or until the app closes: server-sent events, a long
// poll, a progress stream) reaches the client as the app sends it, on
// either parser's path and de-chunked for an HTTP/1.0 client — not when
// 4 KiB have piled up in the proxy's buffer or the app ends it
// (httputil.ReverseProxy flushes such answers at once; nginx with
// proxy_buffering off, the setting for streams, too).
func TestStreamedAnswerReachesClient(t *testing.T) {
	stalled := make(chan struct{})
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/eof" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
			_, _ = io.WriteString(c, "data: 1\n\n")
		} else {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
			_, _ = io.WriteString(c, "9\r\ndata: 1\n\n\r\n")
		}
		<-stalled // the next event is far off
		return false
	})
	_, addrs := startServer(t, appConfig(app, nil))
	t.Cleanup(func() { close(stalled) }) // before the server's shutdown
	for _, tt := range []struct{ name, raw string }{
		{"chunked, fast path", string(get("/chunked", "a"))},
		{"chunked, net/http parser", string(req("POST", "/chunked", "Content-Length: 2")) + "hi"},
		{"chunked to HTTP/1.0", "GET /chunked HTTP/1.0\r\nHost: a\r\n\r\n"},
		{"until EOF, fast path", string(get("/eof", "a"))},
		{"until EOF, net/http parser", string(req("POST", "/eof", "Content-Length: 2")) + "hi"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(cat(v1Header("203.0.113.7:1", "10.0.0.1:81"), []byte(tt.raw))); err != nil {
				t.Fatalf("write: %v", err)
			}
			var got []byte
			buf := make([]byte, 4096)
			for !strings.Contains(string(got), "data: 1\n\n") {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("client got %q, then %v; want the head and the first event while the app streams", got, err)
				}
			}
			if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") {
				t.Errorf("client got %q; want a 200 head first", got)
			}
		})
	}
}

// TestEarlyAnswerToUpload: an app that answers an upload before reading
// its body (401, 413) and stops reading it is relayed: the client gets the
// app's answer, not 502, then its connection closes (the rest of its body
// is unread), as httputil.ReverseProxy relayed it; the app's connection is
// not reused. (With request_buffering off: a buffered body reaches the app
// whole or not at all, and this body is over client_max_body_size.)
func TestEarlyAnswerToUpload(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			w.Header().Set("Connection", "close")
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) {
		l.RequestBuffering, l.ClientMaxBodySize = BufferingOff, 64<<20
	}))
	const size = 16 << 20
	for _, te := range []string{"Content-Length: " + fmt.Sprint(size), "Transfer-Encoding: chunked"} {
		t.Run(te, func(t *testing.T) {
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(cat(v1Header("203.0.113.7:1", "10.0.0.1:81"), req("POST", "/upload", te))); err != nil {
				t.Fatalf("write head: %v", err)
			}
			go func() { // the body, as fast as the proxy takes it, until the proxy stops
				part := make([]byte, 64<<10)
				if strings.HasPrefix(te, "Transfer-Encoding") {
					part = cat([]byte(fmt.Sprintf("%x\r\n", len(part))), part, []byte("\r\n"))
				}
				for sent := 0; sent < size; sent += len(part) {
					if _, err := c.Write(part); err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("client: %v; want the app's 413", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
				t.Errorf("client got %d (close %v); want the app's 413 and Connection: close", resp.StatusCode, resp.Close)
			}
			if resp, body, err := roundTrip(t, addrs[0], cat(v1Header("203.0.113.7:2", "10.0.0.1:81"), get("/next", "a"))); err != nil || resp.StatusCode != http.StatusOK || body != "ok" {
				t.Errorf("next client: %v %q %v; want 200 ok", resp, body, err)
			}
		})
	}
}
