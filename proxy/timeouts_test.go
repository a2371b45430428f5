package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// appEnd records how the app's side of one exchange ended.
type appEnd struct {
	err error
	at  time.Time
}

// TestBodyTimeout: a client that sends a head announcing a large body and
// then one byte holds the app's connection (request_buffering off: the
// body streams) only for body_timeout; it gets 408, both connections are
// closed, and it is counted. With buffering on the app is never contacted
// (TestHostileSlowBodyHoldsNoWorker).
func TestBodyTimeout(t *testing.T) {
	ended := make(chan appEnd, 4)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		ended <- appEnd{err, time.Now()}
	}))
	t.Cleanup(be.Close)
	s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) {
		l.BodyTimeout = 300 * time.Millisecond
		l.RequestBuffering = BufferingOff
	}))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, _ = c.Write(cat(v1Header("203.0.113.7:5555", "10.0.0.1:81"), []byte("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nx")))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("client got %v, %v; want 408 with Connection: close", resp, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("client connection: %v; want closed by the proxy (EOF)", err)
	}
	select {
	case e := <-ended:
		if e.err == nil || e.at.Sub(start) > 2*time.Second {
			t.Errorf("app body read ended with %v after %s; want an error within body_timeout", e.err, e.at.Sub(start))
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("app still reading the body 3s later; want its connection closed after body_timeout")
	}
	if got := metricValue(t, s, "elbguard_proxy_rejected_total", map[string]string{"reason": "body_timeout"}); got != 1 {
		t.Errorf("rejected_total{reason=body_timeout} = %v; want 1", got)
	}
}

// slowReader dials addr with a 4 KiB receive buffer and writes raw, then
// reads nothing.
func slowReader(t *testing.T, addr string, raw []byte) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	return c
}

// floodApp answers every request (and a WebSocket upgrade with a 101) by
// writing until its connection fails, and reports how that ended.
func floodApp(t *testing.T) (string, chan appEnd) {
	t.Helper()
	ended := make(chan appEnd, 8)
	app := rawApp(t, func(c net.Conn, r *http.Request) bool {
		var err error
		if r.Header.Get("Upgrade") != "" {
			_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		} else {
			_, err = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 256<<20)
		}
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; err == nil && i < 4096; i++ {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Write(chunk)
		}
		ended <- appEnd{err, time.Now()}
		return false
	})
	return app, ended
}

// TestSendTimeout: a client that stops reading a large answer (or a
// WebSocket's stream) holds the app's connection only for send_timeout:
// both sides are closed and it is counted, on the fast path, on the
// net/http parser and in a WebSocket tunnel.
func TestSendTimeout(t *testing.T) {
	for _, tt := range []struct{ name, extra string }{
		{"fast path", ""},
		{"net/http parser", "Connection: X-Hop\r\n"},
		{"websocket", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, ended := floodApp(t)
			s, addrs := startServer(t, appConfig(app, func(l *ListenerConfig) { l.SendTimeout = 300 * time.Millisecond }))
			start := time.Now()
			c := slowReader(t, addrs[0], cat(v1Header("203.0.113.7:5555", "10.0.0.1:81"), []byte("GET /big HTTP/1.1\r\nHost: a\r\n"+tt.extra+"\r\n")))
			select {
			case e := <-ended:
				if e.err == nil {
					t.Fatalf("app wrote 256 MiB to a client that reads nothing; want its connection closed")
				}
				if d := e.at.Sub(start); d > 4*time.Second {
					t.Errorf("app connection closed after %s; want soon after send_timeout", d)
				}
			case <-time.After(8 * time.Second):
				t.Fatalf("app still writing 8s later; want its connection closed after send_timeout")
			}
			// The client's connection is closed too: what it holds, then the end.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("client connection still open; want it closed")
			}
			if got := metricValue(t, s, "elbguard_proxy_rejected_total", map[string]string{"reason": "send_timeout"}); got != 1 {
				t.Errorf("rejected_total{reason=send_timeout} = %v; want 1", got)
			}
		})
	}
}

// TestSlowHeadBoundedOnce: header_timeout bounds a whole request head
// once, from its first byte, whichever parser ends up reading it (net/http
// Server's ReadHeaderTimeout): a slowloris whose head outgrows the fast
// parser's 4 KiB buffer just before the timeout, then trickles on, is cut
// at header_timeout, not given a second one by net/http's parser.
func TestSlowHeadBoundedOnce(t *testing.T) {
	// 2s: a second header_timeout would cut at 3.75s; the bound, 3s,
	// leaves a busy machine a second.
	const timeout = 2 * time.Second
	be, _ := backend(t)
	_, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.HeaderTimeout = timeout }))
	line := "X-Pad: " + strings.Repeat("p", 90) + "\r\n"
	for _, tt := range []struct {
		name  string
		start string        // sent at once
		wait  time.Duration // then, before outgrowing the fast parser
		flip  string
	}{
		{"outgrows 4 KiB late", "GET /slow HTTP/1.1\r\nHost: a\r\n" + strings.Repeat(line, 38), timeout * 7 / 8, strings.Repeat(line, 4)},
		{"bare LF late", "GET /slow HTTP/1.1\r\nHost: a\r\n", timeout * 7 / 8, "X-A: b\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			start := time.Now()
			_, _ = c.Write(cat(v1Header("203.0.113.7:1", "10.0.0.1:81"), []byte(tt.start)))
			time.Sleep(tt.wait)
			_, _ = c.Write([]byte(tt.flip))
			closed := make(chan time.Duration, 1)
			go func() {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, c)
				closed <- time.Since(start)
			}()
			for {
				select {
				case d := <-closed:
					if d > timeout+time.Second {
						t.Errorf("head cut after %s; want within header_timeout %s of its first byte", d.Round(time.Millisecond), timeout)
					}
					return
				case <-time.After(50 * time.Millisecond):
					_, _ = c.Write([]byte("X-B: c\r\n")) // the trickle goes on
				}
			}
		})
	}
}

// TestClientGoneEndsTheWait: a client that leaves while the app has not
// answered (a long poll) ends the exchange: the app's connection is closed
// within about clientCheck, whichever parser read the request, instead of
// holding a worker of the app until it answers.
func TestClientGoneEndsTheWait(t *testing.T) {
	for _, tt := range []struct{ name, raw string }{
		{"fast path", "GET /poll HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"net/http parser", "POST /poll HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan time.Duration, 1)
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // net/http watches the connection once the body is read
				start := time.Now()
				select {
				case <-r.Context().Done(): // net/http saw its connection closed
				case <-time.After(10 * time.Second):
				}
				ended <- time.Since(start)
			}))
			t.Cleanup(be.Close)
			_, addrs := startServer(t, appConfig(be.URL, nil))
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			_, _ = c.Write(cat(v1Header("203.0.113.7:5555", "10.0.0.1:81"), []byte(tt.raw)))
			time.Sleep(200 * time.Millisecond)
			c.Close()
			select {
			case d := <-ended:
				if d > 4*time.Second {
					t.Errorf("the app's wait ended after %s; want about clientCheck (%s) after the client left", d, clientCheck)
				}
			case <-time.After(8 * time.Second):
				t.Fatalf("the app still waits 8s after its client left; want its connection closed")
			}
		})
	}
}
