package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// ErrUnsupportedHeader is returned for PROXY headers whose address family
// makes no sense on a TCP listener (UDP, UNIX sockets).
var ErrUnsupportedHeader = errors.New("proxy: unsupported PROXY header address family")

// errUntrusted marks a connection refused because its source is outside
// trusted_cidrs on a required listener.
var errUntrusted = fmt.Errorf("proxy: source not in trusted_cidrs: %w", proxyproto.ErrInvalidUpstream)

// validateHeader accepts TCP over IPv4/IPv6 and LOCAL headers whose TLVs
// (go-proxyproto only splits them on demand) fit in the header.
func validateHeader(h *proxyproto.Header) error {
	if h.Command.IsLocal() {
		return nil
	}
	if _, err := h.TLVs(); err != nil {
		return fmt.Errorf("proxy: malformed PROXY v2 TLVs: %w", err)
	}
	if h.TransportProtocol.IsStream() && (h.TransportProtocol.IsIPv4() || h.TransportProtocol.IsIPv6()) {
		return nil
	}
	if h.TransportProtocol == proxyproto.UNSPEC {
		return nil
	}
	return fmt.Errorf("%w: 0x%02x", ErrUnsupportedHeader, byte(h.TransportProtocol))
}

// frontListener accepts client connections and wraps each in a frontConn
// that decodes the PROXY header lazily, on the connection's own goroutine,
// so a slow client never blocks Accept.
type frontListener struct {
	net.Listener
	l *listener
}

func (fl *frontListener) Accept() (net.Conn, error) {
	for {
		c, err := fl.Listener.Accept()
		if err != nil {
			return nil, err
		}
		st := fl.l.state.Load()
		fc := &frontConn{Conn: c, l: fl.l, st: st}
		if raw, ok := c.(*net.TCPConn); ok {
			fc.setSocket(raw)
		}
		if st.cfg.ProxyProtocol != ProxyOff {
			policy, err := st.connPolicy(proxyproto.ConnPolicyOptions{Upstream: c.RemoteAddr(), Downstream: c.LocalAddr()})
			if err != nil {
				fl.l.metrics.headerError(reasonUntrusted)
				_ = c.Close()
				continue
			}
			if st.cfg.Mode == ModeTCP {
				fc.ppc = proxyproto.NewConn(c,
					proxyproto.WithPolicy(policy),
					proxyproto.ValidateHeader(validateHeader),
					proxyproto.SetReadHeaderTimeout(st.cfg.HeaderTimeout))
				fc.Conn = fc.ppc
			} else {
				// The keep-alive loop decodes the header from its own pooled
				// reader (readHeaderFrom): no wrapper, no reader of its own.
				fc.decode, fc.policy = true, policy
			}
		}
		fl.l.metrics.connections.Inc()
		fl.l.metrics.activeConns.Inc()
		return fc, nil
	}
}

// setSocket makes raw the connection's socket: the raw reads and writes
// after the header, with send_timeout on redirect and http listeners (at
// accept, and when a parked keep-alive connection gets a Go socket back).
func (c *frontConn) setSocket(raw *net.TCPConn) {
	c.raw = raw
	c.rs = newRawSock(raw)
	if c.rs != nil && c.st.cfg.Mode != ModeTCP && c.st.cfg.SendTimeout > 0 {
		d, l := c.st.cfg.SendTimeout, c.l
		c.rs.sendTimeout = d
		c.rs.timedOut = func() { l.clientTimedOut(c, "send_timeout", d) }
	}
}

// frontConn is an accepted client connection: the socket, the decoding of
// its PROXY header, what that header says about the client, and the
// connection's bookkeeping, each its own part. Read decodes the header on
// first use. HTTP state lives elsewhere (httpConn, the keep-alive loop's).
type frontConn struct {
	net.Conn // *proxyproto.Conn, or the raw conn when proxy_protocol is off
	l        *listener
	st       *listenerState // config snapshot at accept
	clientSocket
	headerDecoder
	clientInfo
	connStats
}

// clientSocket is the TCP socket under the PROXY decoding.
type clientSocket struct {
	raw      *net.TCPConn // the socket, for pump
	rs       *rawSock     // raw's reads and writes once the header is done (nil if raw is)
	rawReads bool         // reads go to rs; go-proxyproto's buffer was moved to pending
	pending  []byte       // client bytes go-proxyproto had buffered behind the header
}

// headerDecoder is the state of the PROXY header's decoding: by
// go-proxyproto's Conn in TCP mode (ppc), by readHeaderFrom on the
// keep-alive loop's reader on redirect and http listeners (decode).
type headerDecoder struct {
	ppc        *proxyproto.Conn // TCP mode with proxy_protocol on; nil otherwise
	decode     bool             // redirect and http modes with proxy_protocol on: readHeaderFrom decodes
	policy     proxyproto.Policy
	headerDone bool
	headerErr  error
	// readDeadline is the read deadline set before the header was read
	// (Unix ns, 0 for none): the header read ends at it at the latest.
	readDeadline atomic.Int64
}

// clientInfo is what the PROXY header (or, without one, the socket) says
// about the client, and the forwarding-header values made from it once.
type clientInfo struct {
	hasHeader bool // a PROXY header (PROXY or LOCAL) was received
	local     bool // the header was LOCAL (health check from the load balancer)
	src       netip.AddrPort
	dst       netip.AddrPort
	vpce      string
	xff       []string // src address, shared by every request of the connection
	port      []string // destination port
	vpceVal   []string
}

// connStats is the connection's bookkeeping for metrics.
type connStats struct {
	requests atomic.Int64
	gotData  atomic.Bool
	closed   atomic.Bool
}

// Read decodes the PROXY header on the first call, then reads payload.
func (c *frontConn) Read(b []byte) (int, error) {
	if !c.headerDone {
		if err := c.readHeader(); err != nil {
			return 0, err
		}
	}
	var (
		n   int
		err error
	)
	switch {
	case c.rs == nil || c.headerErr != nil:
		n, err = c.Conn.Read(b)
	case !c.rawReads:
		c.pending = c.drainProxyBuffer()
		c.rawReads = true
		fallthrough
	default:
		if len(c.pending) > 0 {
			n = copy(b, c.pending)
			c.pending = c.pending[n:]
		} else {
			n, err = c.rs.Read(b)
		}
	}
	if n > 0 {
		if !c.gotData.Load() {
			c.gotData.Store(true)
		}
	}
	return n, err
}

// Write goes straight to the socket once the header was processed.
func (c *frontConn) Write(b []byte) (int, error) {
	if c.headerDone && c.headerErr == nil && c.rs != nil {
		return c.rs.Write(b)
	}
	return c.Conn.Write(b)
}

// SetReadDeadline skips go-proxyproto's bookkeeping (an allocation per call,
// and net/http calls it several times per request) once the header is read.
func (c *frontConn) SetReadDeadline(t time.Time) error {
	c.noteDeadline(t)
	if c.rs != nil && c.ppc == nil {
		return c.rs.SetReadDeadline(t) // also replaces a deferred deadline
	}
	if c.headerDone && c.headerErr == nil && c.raw != nil {
		return c.raw.SetReadDeadline(t)
	}
	return c.Conn.SetReadDeadline(t)
}

// deferReadDeadline bounds the next reads by t like SetReadDeadline, but
// arms the socket's deadline (a runtime timer) only when a read has to wait
// (rawSock.DeferReadDeadline). Without the raw socket, or with go-proxyproto
// decoding, it is SetReadDeadline.
func (c *frontConn) deferReadDeadline(t time.Time) {
	if c.rs == nil || c.ppc != nil {
		_ = c.SetReadDeadline(t)
		return
	}
	c.noteDeadline(t)
	c.rs.DeferReadDeadline(t)
}

func (c *frontConn) noteDeadline(t time.Time) {
	if t.IsZero() {
		c.readDeadline.Store(0)
	} else {
		c.readDeadline.Store(t.UnixNano())
	}
}

// headerTimedOut reports whether the header read that started at start
// ended at its deadline: header_timeout after start, or the earlier read
// deadline the caller had set (the keep-alive loop sets one just before).
func (c *frontConn) headerTimedOut(start time.Time) bool {
	deadline := start.Add(c.st.cfg.HeaderTimeout)
	if ns := c.readDeadline.Load(); ns != 0 && ns < deadline.UnixNano() {
		deadline = time.Unix(0, ns)
	}
	return !time.Now().Before(deadline)
}

// SetWriteDeadline sets the socket's write deadline.
func (c *frontConn) SetWriteDeadline(t time.Time) error {
	if c.raw != nil {
		return c.raw.SetWriteDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines, as SetReadDeadline does.
func (c *frontConn) SetDeadline(t time.Time) error {
	c.noteDeadline(t)
	if c.rs != nil && c.ppc == nil {
		return c.rs.SetDeadline(t)
	}
	if c.headerDone && c.headerErr == nil && c.raw != nil {
		return c.raw.SetDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// readHeader decodes the PROXY header (once) with go-proxyproto's Conn (TCP
// mode), records the client's addresses and counts failures by reason.
// Redirect and http listeners decode with readHeaderFrom.
func (c *frontConn) readHeader() error {
	if c.headerDone {
		return c.headerErr
	}
	c.headerDone = true
	c.src = addrOf(c.Conn.RemoteAddr())
	c.dst = addrOf(c.Conn.LocalAddr())
	if c.decode { // a fast-path connection read before its header was decoded: a bug, never "no header"
		return c.failHeader(errors.New("proxy: PROXY header not decoded before the first read"))
	}
	if c.ppc != nil {
		start := time.Now()
		if _, err := c.ppc.Read(nil); err != nil {
			return c.failHeader(err)
		}
		h := c.ppc.ProxyHeader()
		c.useHeader(h)
		if h == nil && c.st.required && c.headerTimedOut(start) {
			// go-proxyproto reports a header timeout as "no header".
			c.l.metrics.headerError(reasonTimeout)
		}
	}
	c.finishClient()
	return nil
}

// readHeaderFrom decodes the PROXY header (once) from br, a reader over c
// itself (the keep-alive loop's pooled one), with go-proxyproto's parser and the
// rules of its Conn: the policy set at accept (USE, or REJECT for a source
// outside trusted_cidrs: a header is an error), validateHeader, and a
// timeout read as "no header" (counted as a timeout on a required
// listener). Unlike its Conn it needs no reader of its own nor deadline
// changes: the caller's read deadline (header_timeout, set before the first
// read) bounds the header. Bytes behind the header stay in br. Without
// PROXY decoding (proxy_protocol off, or TCP mode) it is readHeader.
func (c *frontConn) readHeaderFrom(br *bufio.Reader) error {
	if !c.decode || c.headerDone {
		return c.readHeader()
	}
	c.headerDone = true // br's reads below go to the socket
	c.src = addrOf(c.Conn.RemoteAddr())
	c.dst = addrOf(c.Conn.LocalAddr())
	h, err := proxyproto.Read(br)
	timedOut := false
	if ne, ok := err.(net.Error); ok && ne.Timeout() { //nolint:errorlint // as go-proxyproto's Conn: a timeout inside a v1 line is wrapped, and stays a header error
		timedOut, err = true, proxyproto.ErrNoProxyProtocol
	}
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		h, err = nil, nil
	case err == nil && c.policy == proxyproto.REJECT:
		err = proxyproto.ErrSuperfluousProxyHeader
	case err == nil:
		err = validateHeader(h)
	}
	if err != nil {
		return c.failHeader(err)
	}
	c.useHeader(h)
	if h == nil && timedOut && c.st.required {
		c.l.metrics.headerError(reasonTimeout)
	}
	c.finishClient()
	return nil
}

// failHeader records and counts a PROXY header error.
func (c *frontConn) failHeader(err error) error {
	c.headerErr = fmt.Errorf("read PROXY header from %s: %w", c.src, err)
	c.l.metrics.headerError(headerErrorReason(err))
	return c.headerErr
}

// useHeader records what a decoded PROXY header (nil: none) says.
func (c *frontConn) useHeader(h *proxyproto.Header) {
	if h == nil {
		return
	}
	c.hasHeader = true
	c.local = h.Command.IsLocal()
	if !c.local {
		if s, ok := h.SourceAddr.(*net.TCPAddr); ok {
			c.src = s.AddrPort()
		}
		if d, ok := h.DestinationAddr.(*net.TCPAddr); ok {
			c.dst = d.AddrPort()
		}
	}
	if tlvs, err := h.TLVs(); err == nil && len(tlvs) > 0 {
		c.vpce = tlvparse.FindAWSVPCEndpointID(tlvs)
	}
}

// finishClient normalizes the client's addresses and makes the forwarding
// header values once the header is decoded.
func (c *frontConn) finishClient() {
	c.src = netip.AddrPortFrom(c.src.Addr().Unmap(), c.src.Port())
	c.dst = netip.AddrPortFrom(c.dst.Addr().Unmap(), c.dst.Port())
	c.xff = []string{c.src.Addr().String()}
	c.port = []string{strconv.Itoa(int(c.dst.Port()))}
	if c.vpce != "" {
		c.vpceVal = []string{c.vpce}
	}
}

// Close closes the connection once and settles its metrics.
func (c *frontConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.l.metrics.activeConns.Dec()
	if c.gotData.Load() && c.requests.Load() == 0 && c.st.cfg.Mode != ModeTCP {
		// Bytes arrived but net/http never produced a request: not HTTP,
		// conflicting framing, oversized or unfinished headers.
		c.l.metrics.reject("bad_request")
	}
	if c.Conn == nil {
		return nil // parked without a Go socket: parkedConn.close closes its descriptor
	}
	if err := c.Conn.Close(); err != nil {
		return fmt.Errorf("close client connection %s: %w", c.src, err)
	}
	return nil
}

// reader returns the client side for copying when pump cannot be used:
// the go-proxyproto Conn (its WriteTo flushes its buffer, then copies from
// the raw *net.TCPConn) or the raw conn.
func (c *frontConn) reader() io.Reader {
	if c.ppc != nil {
		return c.ppc
	}
	if c.raw != nil {
		return c.raw
	}
	return c.Conn
}

// drainProxyBuffer returns client bytes go-proxyproto buffered behind the
// header and not read yet (TCP mode reads nothing before the tunnel), so
// the tunnel can then read the raw socket. A read deadline in the past
// makes the read return at once when that buffer is empty.
func (c *frontConn) drainProxyBuffer() []byte {
	if c.rawReads { // drained before: what reads have not taken yet
		p := c.pending
		c.pending = nil
		return p
	}
	if c.ppc == nil || c.headerErr != nil {
		return nil
	}
	_ = c.ppc.SetReadDeadline(time.Unix(1, 0))
	buf := make([]byte, 256) // go-proxyproto buffers at most 256 bytes
	n, _ := c.ppc.Read(buf)
	// Back to the deadline the caller had set (the keep-alive loop's).
	var dl time.Time
	if ns := c.readDeadline.Load(); ns != 0 {
		dl = time.Unix(0, ns)
	}
	_ = c.ppc.SetReadDeadline(dl)
	return buf[:n]
}

// writer returns the raw socket (upstream→client copies bypass the wrappers) or
// the wrapped conn.
func (c *frontConn) writer() io.Writer {
	if c.raw != nil {
		return c.raw
	}
	return c.Conn
}

// headerErrorReason maps go-proxyproto errors to metric reasons.
func headerErrorReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, proxyproto.ErrSuperfluousProxyHeader):
		return reasonUntrusted
	case errors.Is(err, ErrUnsupportedHeader):
		return reasonUnsupported
	case errors.Is(err, proxyproto.ErrVersion1HeaderTooLong):
		return reasonOversized
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, proxyproto.ErrCantReadVersion1Header):
		return reasonTruncated
	case errors.As(err, &ne) && ne.Timeout():
		return reasonTimeout
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return reasonMissing
	default:
		return reasonMalformed
	}
}

// addrOf converts a net.Addr to an AddrPort without allocating for TCP.
func addrOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.AddrPort()
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return ap
	}
}
