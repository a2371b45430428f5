package proxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// lineServer answers each line with "echo: line"; with withHeader it first
// reads a PROXY header and reports it.
func lineServer(t *testing.T, withHeader bool) (string, chan *proxyproto.Header) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hdrs := make(chan *proxyproto.Header, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if withHeader {
					h, err := proxyproto.Read(r)
					if err != nil {
						return
					}
					hdrs <- h
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, "echo: "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), hdrs
}

func TestTCPMode(t *testing.T) {
	for _, sp := range []string{"", "v1", "v2"} {
		t.Run("send_proxy="+sp, func(t *testing.T) {
			up, hdrs := lineServer(t, sp != "")
			cfg := Config{Listeners: []ListenerConfig{{Mode: ModeTCP, Upstream: up, SendProxy: sp}}}
			s, addrs := startServer(t, cfg)
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write(cat(v2Header("192.0.2.5:7777", "10.0.0.1:81"), []byte("ping\n"))); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != "echo: ping\n" {
				t.Fatalf("got %q, %v; want echo: ping", line, err)
			}
			if sp != "" {
				h := <-hdrs
				if got := h.SourceAddr.String(); got != "192.0.2.5:7777" {
					t.Errorf("upstream PROXY source = %s; want 192.0.2.5:7777", got)
				}
				if want := map[string]byte{"v1": 1, "v2": 2}[sp]; h.Version != want {
					t.Errorf("upstream PROXY version = %d; want %d", h.Version, want)
				}
			}
			c.Close()
			deadline := time.Now().Add(3 * time.Second)
			for metricValue(t, s, "elbguard_proxy_websockets_active", nil) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestTCPModeRequiresHeader(t *testing.T) {
	up, _ := lineServer(t, false)
	s, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeTCP, Upstream: up, HeaderTimeout: 200 * time.Millisecond}}})
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = c.Write([]byte("ping\n"))
	if n, err := c.Read(make([]byte, 16)); err == nil {
		t.Errorf("read %d bytes; want the connection closed", n)
	}
	if got := metricValue(t, s, "elbguard_proxy_header_errors_total", map[string]string{"reason": reasonMissing}); got != 1 {
		t.Errorf("missing header errors = %v; want 1", got)
	}
}
