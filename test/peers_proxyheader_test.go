//go:build integration

package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/elbguard/elbguard/test/harness"
)

// received is what the backend saw on one connection: the decoded PROXY
// header and the payload line that followed it.
type received struct {
	header  *proxyproto.Header
	payload string
	err     error
}

// headerBackend is a tiny TCP server that expects a PROXY header (v1 or v2)
// followed by one line, and reports both.
func headerBackend(t *testing.T) (string, <-chan received) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan received, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				h, err := proxyproto.Read(r)
				if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
					return // a readiness probe that closed early
				}
				if err != nil {
					got <- received{err: fmt.Errorf("read PROXY header: %w", err)}
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					// The harness's readiness probe connects and closes
					// without sending anything: not a test connection.
					if line == "" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
						return
					}
					got <- received{header: h, err: fmt.Errorf("read payload: %w", err)}
					return
				}
				_, _ = io.WriteString(c, "ok\n")
				got <- received{header: h, payload: line}
			}(c)
		}
	}()
	return ln.Addr().String(), got
}

// sendThrough connects to front from the given local source address, sends
// one line and waits for the backend's answer.
func sendThrough(t *testing.T, front string, src netip.Addr) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	c, err := d.Dial("tcp", front)
	if err != nil {
		t.Fatalf("dial %s: %v", front, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ok\n" {
		t.Fatalf("answer = %q, %v; want \"ok\\n\"", line, err)
	}
}

func checkHeader(t *testing.T, got <-chan received, wantVersion byte, wantSrc netip.Addr, wantDst string) {
	t.Helper()
	var r received
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("backend received nothing")
	}
	if r.err != nil {
		t.Fatalf("backend: %v", r.err)
	}
	h := r.header
	if h.Version != wantVersion {
		t.Errorf("PROXY version = %d; want %d", h.Version, wantVersion)
	}
	if h.Command != proxyproto.PROXY || h.TransportProtocol != proxyproto.TCPv4 {
		t.Errorf("command/transport = %v/%v; want PROXY/TCPv4", h.Command, h.TransportProtocol)
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok || src.AddrPort().Addr().Unmap() != wantSrc {
		t.Errorf("source = %v; want %v (the client's real address)", h.SourceAddr, wantSrc)
	}
	if h.DestinationAddr.String() != wantDst {
		t.Errorf("destination = %v; want %v", h.DestinationAddr, wantDst)
	}
	if r.payload != "hello\n" {
		t.Errorf("payload = %q; want %q", r.payload, "hello\n")
	}
}

// TestPeersHAProxySendProxy puts a real HAProxy with send-proxy and
// send-proxy-v2 in the load balancer's place and checks the header it sends:
// the client's own address (127.0.0.2, not HAProxy's) and the front address.
func TestPeersHAProxySendProxy(t *testing.T) {
	backend, got := headerBackend(t)
	v1, v2 := harness.FreeAddr(t), harness.FreeAddr(t)
	harness.StartHAProxy(t, harness.HAProxyTCPDefaults+fmt.Sprintf(`frontend v1
    bind %s
    default_backend app_v1
frontend v2
    bind %s
    default_backend app_v2
backend app_v1
    server app %s send-proxy
backend app_v2
    server app %s send-proxy-v2
`, v1, v2, backend, backend))

	client := netip.MustParseAddr("127.0.0.2")
	for _, tc := range []struct {
		name    string
		front   string
		version byte
	}{
		{"send-proxy", v1, 1},
		{"send-proxy-v2", v2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sendThrough(t, tc.front, client)
			checkHeader(t, got, tc.version, client, tc.front)
		})
	}
}

// TestPeersNginxStreamProxyProtocol does the same with nginx's stream module
// and `proxy_protocol on`, the other load-balancer stand-in.
func TestPeersNginxStreamProxyProtocol(t *testing.T) {
	backend, got := headerBackend(t)
	front := harness.FreeAddr(t)
	harness.StartNginx(t, fmt.Sprintf(`%s
worker_processes 1;
events { worker_connections 256; }
stream {
    server {
        listen %s;
        proxy_pass %s;
        proxy_protocol on;
    }
}
`, harness.NginxStreamModule(), front, backend))

	client := netip.MustParseAddr("127.0.0.3")
	sendThrough(t, front, client)
	checkHeader(t, got, 1, client, front)
}
