package demo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// haproxyConfig is HAProxy standing in for the Classic ELB after the fix:
// TCP:80 to instance port 80 and SSL:443 (TLS ended here, with the demo's
// certificate) to instance port 81, both sending a PROXY v1 header.
func haproxyConfig(lb80, lb443, pemPath, backend80, backend81 string) string {
	return fmt.Sprintf(`# HAProxy in the Classic ELB's place: TCP:80 -> 80 and SSL:443 -> 81, with PROXY headers.
global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h

frontend elb_tcp_80
    bind %s
    default_backend instance_80

frontend elb_ssl_443
    bind %s ssl crt %s
    default_backend instance_81

backend instance_80
    server instance 127.0.0.1:%s send-proxy

backend instance_81
    server instance 127.0.0.1:%s send-proxy
`, lb80, lb443, pemPath, portOf(backend80), portOf(backend81))
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}

// route is one listener of the stand-in load balancer.
type route struct {
	listen  string
	backend string
	tls     *tls.Config // nil: plain TCP
}

// standIn is a minimal load balancer of our own for machines without
// HAProxy: it accepts connections (ending TLS where configured), sends a
// PROXY v1 header announcing the client's address to the backend, then
// copies bytes both ways.
type standIn struct {
	log *slog.Logger
	lns []net.Listener
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startStandIn listens on every route; Close stops it.
func startStandIn(ctx context.Context, log *slog.Logger, routes []route) (*standIn, error) {
	s := &standIn{log: log, conns: map[net.Conn]struct{}{}}
	var lc net.ListenConfig
	for _, rt := range routes {
		ln, err := lc.Listen(ctx, "tcp", rt.listen)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("stand-in load balancer: listen on %s: %w", rt.listen, err)
		}
		s.lns = append(s.lns, ln)
		s.wg.Add(1)
		go s.accept(ln, rt)
	}
	return s, nil
}

func (s *standIn) accept(ln net.Listener, rt route) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("stand-in load balancer: accept", "listen", rt.listen, "error", err.Error())
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.serve(c, rt); err != nil {
				s.log.Info("stand-in load balancer: connection", "client", c.RemoteAddr().String(), "error", err.Error())
			}
		}()
	}
}

// serve relays one client connection to the backend behind a PROXY header.
func (s *standIn) serve(client net.Conn, rt route) error {
	if !s.track(client) {
		client.Close()
		return nil
	}
	defer s.untrack(client)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rt.tls != nil {
		tc := tls.Server(client, rt.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		client = tc
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", rt.backend)
	if err != nil {
		return fmt.Errorf("dial backend %s: %w", rt.backend, err)
	}
	if !s.track(up) {
		up.Close()
		return nil
	}
	defer s.untrack(up)
	hdr := proxyproto.HeaderProxyFromAddrs(1, client.RemoteAddr(), client.LocalAddr())
	if _, err := hdr.WriteTo(up); err != nil {
		return fmt.Errorf("send PROXY header to %s: %w", rt.backend, err)
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done
	<-done
	return nil
}

// track records a connection so that Close can end it; it reports false
// once the stand-in is closing.
func (s *standIn) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *standIn) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close stops listening, ends every connection and waits for the
// goroutines.
func (s *standIn) Close() {
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}
