package demo

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestStandIn checks the stand-in load balancer: a connection from
// ClientIP reaches the backend behind a PROXY v1 header announcing
// ClientIP, over plain TCP and with TLS ended at the stand-in.
func TestStandIn(t *testing.T) {
	cert, err := newCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	headers := make(chan *proxyproto.Header, 2)
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				h, err := proxyproto.Read(br)
				if err != nil {
					headers <- nil
					return
				}
				headers <- h
				_, _ = io.Copy(c, br) // echo the payload
			}()
		}
	}()
	plain, tlsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := startStandIn(ctx, slog.New(slog.DiscardHandler), []route{
		{listen: plain, backend: backend.Addr().String()},
		{listen: tlsAddr, backend: backend.Addr().String(), tls: &tls.Config{Certificates: []tls.Certificate{cert.Pair}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientIP)}}
	for _, tt := range []struct {
		name string
		addr string
		tls  bool
	}{{"tcp", plain, false}, {"tls", tlsAddr, true}} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := d.DialContext(ctx, "tcp", tt.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if tt.tls {
				c = tls.Client(c, &tls.Config{RootCAs: cert.Pool, ServerName: DemoHost})
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatalf("write: %v", err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo: got %q, %v; want ping", buf, err)
			}
			h := <-headers
			if h == nil {
				t.Fatal("backend got no valid PROXY header")
			}
			src, ok := h.SourceAddr.(*net.TCPAddr)
			if h.Version != 1 || !ok || src.IP.String() != ClientIP {
				t.Errorf("got PROXY v%d from %v; want v1 from %s", h.Version, h.SourceAddr, ClientIP)
			}
			if dst := h.DestinationAddr.String(); dst != tt.addr {
				t.Errorf("got destination %s; want the stand-in's listener %s", dst, tt.addr)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestHAProxyConfig(t *testing.T) {
	cfg := haproxyConfig("127.0.0.1:1080", "127.0.0.1:1443", "/w/cert.pem", "127.0.0.1:2080", "127.0.0.1:2081")
	for _, want := range []string{
		"bind 127.0.0.1:1080\n",
		"bind 127.0.0.1:1443 ssl crt /w/cert.pem\n",
		"server instance 127.0.0.1:2080 send-proxy\n",
		"server instance 127.0.0.1:2081 send-proxy\n",
		"timeout tunnel 1h",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("HAProxy config lacks %q:\n%s", want, cfg)
		}
	}
}
