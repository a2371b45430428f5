package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

var upgradeReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// fastUpgrade relays a WebSocket upgrade request (webSocketUpgrade: the
// only protocol switch the proxy makes): dial,
// forward the head, and on 101 hand both sockets to a tunnel (pump, two
// goroutines, no buffers kept). Other answers are relayed and the client
// connection closed. It reports whether a tunnel took the connection.
func (l *listener) fastUpgrade(f *httpConn, head []byte, st *listenerState, start time.Time) bool {
	h := &f.head
	e := l.fastEntry(f, head, start)
	out := l.fastRequest(f, head, st, trimOWS(head[h.upgrade.start:h.upgrade.end]))
	_, _ = f.br.Discard(h.size)
	return l.upgrade(f, out, e, st)
}

// upgrade relays the upgrade request head out (either parser's, already
// consumed from the client) and, on 101, hands both sockets to a tunnel,
// which logs e when it ends. Any other answer is relayed, logged, and the
// client connection closed. It reports whether a tunnel took the
// connection.
func (l *listener) upgrade(f *httpConn, out []byte, e entry, st *listenerState) bool {
	fc := f.fc
	t0 := time.Now()
	fail := func(err error) bool {
		status, sent, _ := l.answerUpstreamError(f, st, err, false)
		f.upstreamTime = l.upstreamTook(t0)
		l.finish(f, &e, status, sent)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.DialTimeout)
	bc, err := st.dialer.DialContext(ctx, "tcp", st.transport.addr)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("dial upstream %s: %w", st.transport.addr, err))
	}
	f.upstream.Store(&upConn{c: bc}) // closed by a hard close (wakeIdleConns) while the handshake waits
	defer f.upstream.Store(nil)
	_ = bc.SetDeadline(time.Now().Add(st.cfg.UpstreamTimeout))
	if _, err := bc.Write(out); err != nil {
		_ = bc.Close()
		return fail(fmt.Errorf("write upgrade request: %w", err))
	}
	l.metrics.toUpstream.Add(float64(len(out)))
	ubr := upgradeReaders.Get().(*bufio.Reader)
	ubr.Reset(bc)
	defer func() {
		ubr.Reset(nil)
		upgradeReaders.Put(ubr)
	}()
	var rh respHead
	for {
		b, err := readFastHead(ubr)
		if err == nil {
			err = parseRespHead(b, &rh, true)
		}
		if err != nil {
			_ = bc.Close()
			return fail(fmt.Errorf("read upgrade response: %w", err))
		}
		if rh.status >= 200 || rh.status == http.StatusSwitchingProtocols {
			break
		}
		_, _ = ubr.Discard(rh.size)
	}
	_ = bc.SetDeadline(time.Time{})
	if rh.status != http.StatusSwitchingProtocols {
		// The app declined the upgrade: relay its answer, then close.
		sent, _, _, _ := l.relayResponse(f, ubr, &rh, st, false, false, false)
		_ = bc.Close()
		f.upstreamTime = l.upstreamTook(t0)
		l.finish(f, &e, rh.status, sent)
		return false
	}
	e.upstream = l.upstreamTook(t0) // until the 101, as nginx's $upstream_response_time is for the handshake
	b, _ := ubr.Peek(rh.size)
	bw := f.bw
	_, _ = bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ")
	_, _ = bw.Write(bytes.Trim(b[rh.upgrade.start:rh.upgrade.end], " \t"))
	_, _ = bw.WriteString("\r\n")
	for _, k := range rh.relay[:rh.nrelay] {
		_, _ = bw.Write(b[k.start:k.end])
	}
	_, _ = bw.WriteString("\r\n")
	_, _ = ubr.Discard(rh.size)
	down := new(wsFrames)
	if n := ubr.Buffered(); n > 0 { // frames the app sent right after its 101
		early, _ := ubr.Peek(n)
		down.feed(early)
		_, _ = bw.Write(early)
	}
	if err := bw.Flush(); err != nil {
		_ = bc.Close()
		return false
	}
	if n := f.br.Buffered(); n > 0 { // frames the client sent right after its request
		early, _ := f.br.Peek(n)
		if _, err := bc.Write(early); err != nil {
			_ = bc.Close()
			return false
		}
	}
	// The keep-alive loop left a read deadline on the client socket; the
	// tunnel has its own idle rule (none by default), so it must not inherit
	// it (drainProxyBuffer clears it too, but only with PROXY decoding on).
	_ = fc.SetReadDeadline(time.Time{})
	l.startWebSocket(fc, bc, st, e, down)
	return true
}

// errUpgradeBody refuses upgrade requests that carry a body.
var errUpgradeBody = errors.New("proxy: upgrade request with a body")

// startWebSocket turns a switched connection into a tunnel (pump, two
// goroutines) that logs e, as a session, when it ends; both paths call it
// once the 101 and any early bytes are relayed. down has seen the frames the
// app sent with its 101 (wsclose.go).
func (l *listener) startWebSocket(fc *frontConn, bc net.Conn, st *listenerState, e entry, down *wsFrames) {
	e.status, e.tunnel = http.StatusSwitchingProtocols, true
	upstream, _ := bc.(*net.TCPConn)
	t := &tunnel{l: l, fc: fc, upstream: upstream, up: bc, idle: st.cfg.TunnelIdleTimeout,
		sendTimeout: st.cfg.SendTimeout, e: e, down: down, parkAfter: st.cfg.parkAfter()}
	l.metrics.request(http.StatusSwitchingProtocols)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.LogAttrs(context.Background(), slog.LevelDebug, "websocket open", slog.String("listener", l.name),
			slog.String("client", fc.src.String()))
	}
	t.run()
}
