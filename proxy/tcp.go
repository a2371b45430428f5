package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// serveTCP is the accept loop of a tcp listener. It returns when the
// listener is closed.
func (l *listener) serveTCP(fl *frontListener) {
	for {
		c, ok := l.accept(fl)
		if !ok {
			return
		}
		fc, ok := c.(*frontConn)
		if !ok {
			_ = c.Close()
			continue
		}
		l.tcpConns.Add(1)
		go func() {
			defer l.tcpConns.Done()
			l.handleTCP(fc)
		}()
	}
}

// handleTCP decodes the PROXY header, dials the upstream, optionally sends
// a PROXY header there, and copies bytes both ways.
func (l *listener) handleTCP(fc *frontConn) {
	st := fc.st
	start := time.Now()
	if err := fc.readHeader(); err != nil {
		_ = fc.Close()
		return
	}
	if st.required && !fc.hasHeader {
		l.metrics.headerError(reasonMissing)
		_ = fc.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.DialTimeout)
	bc, err := st.dialer.DialContext(ctx, "tcp", st.cfg.Upstream)
	cancel()
	if err != nil {
		_, reason := classifyUpstreamError(context.Background(), err)
		l.metrics.upstreamError(reason)
		l.srv.log.Warn("upstream error", slog.String("listener", l.name), slog.String("upstream", st.cfg.Upstream),
			slog.String("reason", reason), slog.String("error", err.Error()))
		_ = fc.Close()
		return
	}
	if st.cfg.SendProxy != "" {
		if err := writeProxyHeader(bc, fc, st.cfg.SendProxy); err != nil {
			l.metrics.upstreamError("other")
			_ = bc.Close()
			_ = fc.Close()
			return
		}
	}
	upstream, _ := bc.(*net.TCPConn)
	t := &tunnel{
		l: l, fc: fc, upstream: upstream, up: bc, idle: st.cfg.TunnelIdleTimeout, splice: true,
		parkAfter: st.cfg.parkAfter(),
		e: entry{listener: l.name, client: fc.src.Addr(), start: start, method: "TCP", uri: st.cfg.Upstream,
			proto: "-", status: 200, tunnel: true},
	}
	t.run()
}

// writeProxyHeader sends the client's addresses to a PROXY-aware upstream.
func writeProxyHeader(w net.Conn, fc *frontConn, version string) error {
	v := byte(1)
	if version == "v2" {
		v = 2
	}
	var h *proxyproto.Header
	if fc.local || !fc.src.IsValid() || !fc.dst.IsValid() {
		h = &proxyproto.Header{Version: v, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	} else {
		h = proxyproto.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(fc.src), net.TCPAddrFromAddrPort(fc.dst))
	}
	if err := w.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("set deadline for PROXY %s header: %w", version, err)
	}
	if _, err := h.WriteTo(w); err != nil {
		return fmt.Errorf("send PROXY %s header upstream: %w", version, err)
	}
	if err := w.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear write deadline: %w", err)
	}
	return nil
}

// accept returns the next connection from ln, backing off like net/http on
// failures such as EMFILE; ok is false once ln is closed.
func (l *listener) accept(ln net.Listener) (c net.Conn, ok bool) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err == nil {
			return c, true
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, false
		}
		if backoff == 0 {
			backoff = 5 * time.Millisecond
		} else if backoff *= 2; backoff > time.Second {
			backoff = time.Second
		}
		l.srv.log.Warn("accept failed", slog.String("listener", l.name), slog.String("error", err.Error()))
		time.Sleep(backoff)
	}
}
