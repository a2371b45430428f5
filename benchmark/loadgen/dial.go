package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	proxyproto "github.com/pires/go-proxyproto"
)

// ErrNoOps is returned by Result.Err when a run completed no operation.
var ErrNoOps = errors.New("load: no operation completed")

// Dialer opens TCP connections to Addr and, when Proxy is 1 or 2, writes a
// PROXY protocol header of that version first, as a Classic ELB (v1) or an
// NLB (v2) does. The zero Proxy value sends no header (a direct connection).
type Dialer struct {
	// Addr is the host:port to connect to.
	Addr string
	// Proxy is the PROXY protocol version to send: 0 (none), 1 or 2.
	Proxy int
	// Client is the client address the header claims; each connection gets
	// its own source port. The zero value means 198.51.100.7 (TEST-NET-2).
	Client netip.Addr
	// SpreadSources binds each connection to the next loopback source
	// address (127.1.0.1, 127.1.0.2, ... over 127.0.0.0/8), so that
	// thousands of held connections do not share 127.0.0.1's ephemeral
	// ports with the proxies' own connections to the backend. Only for a
	// loopback Addr.
	SpreadSources bool

	port   atomic.Uint32
	source atomic.Uint32
}

// sourceAddr is the k-th spread source address: 127.1.0.1 onwards, 250
// per third octet (never .0 or .255).
func sourceAddr(k uint32) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, byte(1+k/(250*250)%254), byte(k/250%250), byte(1+k%250))}
}

// DefaultClient is the client address the PROXY headers claim by default.
var DefaultClient = netip.MustParseAddr("198.51.100.7")

// Dial connects and writes the PROXY header, if any.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	if d.SpreadSources {
		nd.LocalAddr = sourceAddr(d.source.Add(1) - 1)
	}
	c, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.Addr, err)
	}
	if d.Proxy == 0 {
		return c, nil
	}
	if err := d.writeHeader(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialContext has net.Dialer's signature so an http.Transport (and so a
// WebSocket client) can use the Dialer; network and addr are ignored.
func (d *Dialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	return d.Dial(ctx)
}

func (d *Dialer) writeHeader(c net.Conn) error {
	if d.Proxy != 1 && d.Proxy != 2 {
		return fmt.Errorf("load: PROXY version %d; want 0, 1 or 2", d.Proxy)
	}
	client := d.Client
	if !client.IsValid() {
		client = DefaultClient
	}
	port := 1024 + int(d.port.Add(1)%60000)
	src := &net.TCPAddr{IP: client.AsSlice(), Port: port}
	h := proxyproto.HeaderProxyFromAddrs(byte(d.Proxy), src, c.RemoteAddr())
	if _, err := h.WriteTo(c); err != nil {
		return fmt.Errorf("write PROXY v%d header to %s: %w", d.Proxy, d.Addr, err)
	}
	return nil
}
