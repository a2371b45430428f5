//go:build integration

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/elbguard/elbguard/test/harness"
)

// TestProxyTCPMode: HAProxy (send-proxy-v2) → elbguard-proxy in tcp mode
// with send_proxy v1 → a PROXY-aware line server, which must see the
// original client address.
func TestProxyTCPMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The readiness probes of the harness also come through (and close at
	// once): only connections that carry a line are reported.
	sources := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				h, err := proxyproto.Read(r)
				if err != nil {
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				sources <- fmt.Sprintf("v%d %s", h.Version, h.SourceAddr)
				_, _ = io.WriteString(c, "echo: "+line)
			}()
		}
	}()
	front := harness.FreeAddr(t)
	cfg := fmt.Sprintf("admin: off\nlisteners:\n  - listen: %q\n    mode: tcp\n    proxy_protocol: required\n    upstream: %s\n    send_proxy: v1\n",
		front, ln.Addr())
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.Start(t, harness.Build(t, "./cmd/elbguard-proxy"), []string{"--config", path})
	harness.WaitTCP(t, front, 10*time.Second)
	lb := harness.FreeAddr(t)
	harness.StartHAProxy(t, fmt.Sprintf(`defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend lb
  bind %s
  default_backend proxy
backend proxy
  server p %s send-proxy-v2
`, lb, front))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.11")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", lb)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "ping\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("through HAProxy and the tcp listener: %q, %v; want echo: ping", line, err)
	}
	got := <-sources
	if len(got) < 14 || got[:14] != "v1 127.0.0.11:" {
		t.Errorf("upstream saw PROXY header %q; want v1 from 127.0.0.11", got)
	}
}
