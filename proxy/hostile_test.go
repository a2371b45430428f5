package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// The hostile-input tests send what an attacker on the internet (or a
// misconfigured peer) could send and assert what the app behind the proxy
// saw: nothing, or exactly the requests the proxy parsed, carrying the true
// client address from the PROXY header. Each case runs on its own
// connection; a bystander connection, opened first, must keep working.

// appRequest is one request as the app received it.
type appRequest struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// String is the short form the tables compare: method, URI and the
// client address the app was given.
func (r appRequest) String() string {
	return r.Method + " " + r.URI + " from " + r.Header.Get("X-Forwarded-For")
}

// appLog records every request the app received, with its body.
type appLog struct {
	mu       sync.Mutex
	reqs     []appRequest
	inflight int
}

// settle waits until the app is idle and has received nothing new for
// 50ms: a request the proxy started relaying before it answered the
// client may reach the app just after.
func (a *appLog) settle() {
	last := -1
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		a.mu.Lock()
		n, busy := len(a.reqs), a.inflight > 0
		a.mu.Unlock()
		if n == last && !busy {
			return
		}
		last = n
	}
}

func (a *appLog) since(n int) []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs[n:])
}

func (a *appLog) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

// hostileRig is a recording app behind a server with two listeners:
// [0] http, PROXY header required, trusted only from 127.0.0.1;
// [1] http, PROXY header optional, trusted only from 127.0.0.1.
type hostileRig struct {
	app   *appLog
	addrs []string
	// bystander is a keep-alive connection from a legitimate client,
	// opened before any hostile input.
	bystander *bufio.ReadWriter
	byConn    net.Conn
}

const (
	trustedSrc   = "127.0.0.1"
	untrustedSrc = "127.0.0.9"
	clientAddr   = "203.0.113.7" // the client the load balancer saw
	bystanderIP  = "198.51.100.200"
)

func newHostileRig(t *testing.T) *hostileRig {
	t.Helper()
	app := &appLog{}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.mu.Lock()
		app.inflight++
		app.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		app.mu.Lock()
		app.inflight--
		app.reqs = append(app.reqs, appRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(body)})
		app.mu.Unlock()
		_, _ = io.WriteString(w, "app\n")
	}))
	t.Cleanup(be.Close)
	lc := func(policy string) ListenerConfig {
		return ListenerConfig{Mode: ModeHTTP, ProxyProtocol: policy, Upstream: be.URL, TrustedCIDRs: []string{trustedSrc + "/32"},
			MaxHeaderBytes: 8 << 10, HeaderTimeout: 500 * time.Millisecond}
	}
	_, addrs := startServer(t, Config{Listeners: []ListenerConfig{lc(ProxyRequired), lc(ProxyOptional)}})
	rig := &hostileRig{app: app, addrs: addrs}
	c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
	if err != nil {
		t.Fatalf("dial bystander: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(v1Header(bystanderIP+":4000", "10.0.0.1:81")); err != nil {
		t.Fatalf("bystander header: %v", err)
	}
	rig.byConn = c
	rig.bystander = bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	rig.checkBystander(t)
	return rig
}

// checkBystander sends one request on the bystander connection: it must be
// answered and reach the app with the bystander's address.
func (rig *hostileRig) checkBystander(t *testing.T) {
	t.Helper()
	n := rig.app.len()
	_ = rig.byConn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = rig.bystander.WriteString("GET /bystander HTTP/1.1\r\nHost: app.example\r\n\r\n")
	if err := rig.bystander.Flush(); err != nil {
		t.Fatalf("bystander write: %v", err)
	}
	resp, err := http.ReadResponse(rig.bystander.Reader, nil)
	if err != nil {
		t.Fatalf("bystander: %v; want its keep-alive connection unaffected", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := rig.app.since(n)
	if resp.StatusCode != http.StatusOK || len(got) != 1 || got[0].String() != "GET /bystander from "+bystanderIP {
		t.Fatalf("bystander: status %d, app saw %v; want 200 and GET /bystander from %s", resp.StatusCode, got, bystanderIP)
	}
}

// exchange sends raw from src to the listener and reads the answers. It
// returns the statuses of the responses read, in order, and whether the
// proxy closed the connection (rather than keeping it open) afterwards.
func exchange(t *testing.T, src, addr string, raw []byte) (statuses []int, closed bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write(raw) // may fail once the proxy closed: reading tells what it did
	br := bufio.NewReader(c)
	for {
		// The proxy closes after an error answer and after its header
		// timeout (500ms); a kept-alive connection idles past 750ms.
		wait := 750 * time.Millisecond
		if len(statuses) == 0 {
			wait = 2 * time.Second // the first answer or close, however late a busy machine runs the proxy
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			return statuses, !(errors.As(err, &ne) && ne.Timeout())
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: unparsable answer: %v", statuses, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
}

// hostileCase is one input and what must come of it.
type hostileCase struct {
	name string
	src  string // source address; default trustedSrc
	l    int    // listener index
	raw  []byte
	// want are the statuses the client reads, in order (nil: none).
	want []int
	// keepAlive: the proxy may leave the connection open afterwards;
	// otherwise it must close it.
	keepAlive bool
	// app is what the app saw (appRequest.String), in order; nil: nothing.
	app []string
	// check inspects the app's requests further.
	check func(t *testing.T, got []appRequest)
}

func (rig *hostileRig) run(t *testing.T, tests []hostileCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = trustedSrc
			}
			n := rig.app.len()
			statuses, closed := exchange(t, src, rig.addrs[tt.l], tt.raw)
			rig.app.settle()
			got := rig.app.since(n)
			var gotApp []string
			for _, r := range got {
				gotApp = append(gotApp, r.String())
			}
			if !slices.Equal(gotApp, tt.app) {
				t.Errorf("app saw %q; want %q", gotApp, tt.app)
			}
			for _, r := range got {
				if strings.Contains(r.URI, "smuggled") {
					t.Errorf("app saw the smuggled request %s", r)
				}
			}
			if !slices.Equal(statuses, tt.want) {
				t.Errorf("client got statuses %v; want %v", statuses, tt.want)
			}
			if !closed && !tt.keepAlive {
				t.Errorf("connection left open; want it closed")
			}
			if tt.check != nil && len(got) > 0 {
				tt.check(t, got)
			}
			rig.checkBystander(t)
		})
	}
}

// spoofHeaders claim another client address, protocol, port and host.
var spoofHeaders = []string{
	"X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 6.6.6.7, 6.6.6.8", "X-Real-IP: 6.6.6.6",
	"Forwarded: for=6.6.6.6;proto=http;host=evil.example", "X-Forwarded-Proto: http",
	"X-Forwarded-Port: 1", "X-Forwarded-Host: evil.example", "X-Forwarded-Server: evil.example",
	"X-Amzn-Vpce-Id: vpce-spoofed", "x-forwarded-for: 6.6.6.9", "X-FORWARDED-PROTO: ws",
	// CGI-style apps read '_' as '-' (HTTP_X_FORWARDED_FOR).
	"X_Forwarded_For: 6.6.6.10", "x_real_ip: 6.6.6.11", "X-Forwarded_Proto: http", "X_AMZN_VPCE_ID: vpce-spoofed",
	// Names libraries read before X-Forwarded-For.
	"Client-IP: 6.6.6.12", "True-Client-IP: 6.6.6.13", "X-Client-IP: 6.6.6.14", "CF-Connecting-IP: 6.6.6.15",
	"X-Cluster-Client-IP: 6.6.6.16", "Fastly-Client-IP: 6.6.6.17", "X-Original-Forwarded-For: 6.6.6.18",
	"X-Forwarded: for=6.6.6.19", "Forwarded-For: 6.6.6.20", "True_Client_IP: 6.6.6.21",
	// Issue 21: more names apps and frameworks read, ALB's sign-in
	// headers, and the original-URL headers IIS-style routers obey.
	"Proxy-Client-IP: 6.6.6.22", "WL-Proxy-Client-IP: 6.6.6.23", "X-Originating-IP: 6.6.6.24", "X-Remote-IP: 6.6.6.25",
	"X-Remote-Addr: 6.6.6.26", "X-ProxyUser-Ip: 6.6.6.27", "X-Envoy-External-Address: 6.6.6.28",
	"X-Appengine-User-Ip: 6.6.6.29", "Cf-Pseudo-IPv4: 6.6.6.30", "X-Original-URL: /admin", "X-Rewrite-URL: /admin",
	"X-Amzn-Oidc-Data: forged", "X-Amzn-Oidc-Identity: admin", "X-Amzn-Oidc-Accesstoken: forged", "x_amzn_oidc_data: forged",
}

// clientAddressHeaders are the canonical names the app must never get
// from a client.
var clientAddressHeaders = []string{"Client-Ip", "True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip",
	"X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Original-Forwarded-For", "X-Forwarded", "Forwarded-For",
	"Proxy-Client-Ip", "Wl-Proxy-Client-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Proxyuser-Ip",
	"X-Envoy-External-Address", "X-Appengine-User-Ip", "Cf-Pseudo-Ipv4", "X-Original-Url", "X-Rewrite-Url",
	"X-Amzn-Oidc-Data", "X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Accesstoken"}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func req(method, path string, lines ...string) []byte {
	return []byte(method + " " + path + " HTTP/1.1\r\nHost: app.example\r\n" + strings.Join(append(lines, ""), "\r\n") + "\r\n")
}

// onlyTrueAddress checks the forwarding headers the app got: exactly the
// proxy's, with the client address ip, the destination port and the VPC
// endpoint id (none when empty) the proxy learnt, and nothing the client sent.
func onlyTrueAddress(ip, port, vpce string) func(t *testing.T, got []appRequest) {
	return func(t *testing.T, got []appRequest) {
		t.Helper()
		for _, r := range got {
			for k, want := range map[string][]string{
				"X-Forwarded-For": {ip}, "X-Real-Ip": {ip}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Port": {port},
				"Forwarded": nil, "X-Forwarded-Host": nil, "X-Forwarded-Server": nil, "X-Amzn-Vpce-Id": nil,
			} {
				if k == "X-Amzn-Vpce-Id" && vpce != "" {
					want = []string{vpce}
				}
				if got := r.Header[k]; !slices.Equal(got, want) {
					t.Errorf("%s: app saw %s = %q; want %q", r, k, got, want)
				}
			}
			for _, k := range clientAddressHeaders {
				if v, ok := r.Header[k]; ok {
					t.Errorf("%s: app saw %s = %q; want it removed", r, k, v)
				}
			}
			for k := range r.Header {
				if strings.ContainsRune(k, '_') {
					t.Errorf("%s: app saw %s; want no underscore spelling of a forwarding header", r, k)
				}
			}
			if r.Host != "app.example" {
				t.Errorf("%s: app saw Host %q; want app.example", r, r.Host)
			}
		}
	}
}

func TestHostileSpoofedForwardingHeaders(t *testing.T) {
	rig := newHostileRig(t)
	hdr := v1Header(clientAddr+":5555", "10.0.0.1:81")
	vpce := proxyproto.TLV{Type: tlvparse.PP2_TYPE_AWS, Value: append([]byte{tlvparse.PP2_SUBTYPE_AWS_VPCE_ID}, "vpce-0123abcd"...)}
	trueOnly := onlyTrueAddress(clientAddr, "81", "")
	from := " from " + clientAddr
	rig.run(t, []hostileCase{
		{name: "fast path GET", raw: cat(hdr, req("GET", "/a", spoofHeaders...)),
			want: []int{200}, keepAlive: true, app: []string{"GET /a" + from}, check: trueOnly},
		{name: "net/http parser POST with body", raw: cat(hdr, req("POST", "/b", slices.Concat(spoofHeaders, []string{"Content-Length: 2"})...), []byte("hi")),
			want: []int{200}, keepAlive: true, app: []string{"POST /b" + from}, check: trueOnly},
		{name: "Connection names the forwarding headers", raw: cat(hdr, req("GET", "/c",
			slices.Concat(spoofHeaders, []string{"Connection: keep-alive, X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Port, X-Amzn-Vpce-Id"})...)),
			want: []int{200}, keepAlive: true, app: []string{"GET /c" + from}, check: trueOnly},
		{name: "pipelined second request spoofs", raw: cat(hdr, req("GET", "/d1"), req("GET", "/d2", spoofHeaders...)),
			want: []int{200, 200}, keepAlive: true, app: []string{"GET /d1" + from, "GET /d2" + from}, check: trueOnly},
		{name: "websocket upgrade spoofs", raw: cat(hdr, req("GET", "/ws", slices.Concat(spoofHeaders, []string{"Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"})...)),
			want: []int{200}, keepAlive: true, app: []string{"GET /ws" + from}, check: trueOnly},
		{name: "v2 header with VPC endpoint TLV", raw: cat(v2Header(clientAddr+":5555", "10.0.0.1:81", vpce), req("GET", "/e", spoofHeaders...)),
			want: []int{200}, keepAlive: true, app: []string{"GET /e" + from}, check: onlyTrueAddress(clientAddr, "81", "vpce-0123abcd")},
		{name: "LOCAL header: the socket peer, not the headers", raw: cat([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), req("GET", "/f", spoofHeaders...)),
			want: []int{200}, keepAlive: true, app: []string{"GET /f from " + trustedSrc}, check: onlyTrueAddress(trustedSrc, portOf(rig.addrs[0]), "")},
		{name: "optional listener without header: the socket peer", src: untrustedSrc, l: 1, raw: req("GET", "/g", spoofHeaders...),
			want: []int{200}, keepAlive: true, app: []string{"GET /g from " + untrustedSrc}, check: onlyTrueAddress(untrustedSrc, portOf(rig.addrs[1]), "")},
		{name: "required listener without header", raw: req("GET", "/h", spoofHeaders...), want: []int{400}},
		{name: "header inside the request", raw: cat(req("GET", "/i", spoofHeaders...), hdr), want: []int{400}},
	})
}

func TestHostileUntrustedSources(t *testing.T) {
	rig := newHostileRig(t)
	v1 := v1Header("198.51.100.66:5555", "10.0.0.1:81")
	v2 := v2Header("198.51.100.66:5555", "10.0.0.1:81")
	rig.run(t, []hostileCase{
		{name: "v1 header on required listener", src: untrustedSrc, raw: cat(v1, req("GET", "/a"))},
		{name: "v2 header on required listener", src: untrustedSrc, raw: cat(v2, req("GET", "/b"))},
		{name: "no header on required listener", src: untrustedSrc, raw: req("GET", "/c", "X-Forwarded-For: 6.6.6.6")},
		{name: "v1 header on optional listener", src: untrustedSrc, l: 1, raw: cat(v1, req("GET", "/d"))},
		{name: "v2 header on optional listener", src: untrustedSrc, l: 1, raw: cat(v2, req("GET", "/e"))},
		{name: "LOCAL header on optional listener", src: untrustedSrc, l: 1, raw: cat([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), req("GET", "/f"))},
	})
}

// v2With builds a v2 PROXY/TCP4 header from clientAddr with raw TLV bytes
// and the given declared length (negative: the true length).
func v2With(tlvs []byte, declared int) []byte {
	body := []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0x00, 0x51}
	body = append(body, tlvs...)
	if declared < 0 {
		declared = len(body)
	}
	out := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11")
	out = binary.BigEndian.AppendUint16(out, uint16(declared))
	return append(out, body...)
}

func TestHostileV2TLVs(t *testing.T) {
	rig := newHostileRig(t)
	get := req("GET", "/tlv", "X-Amzn-Vpce-Id: vpce-spoofed")
	vpce := append([]byte{0xEA, 0x00, 0x0e, tlvparse.PP2_SUBTYPE_AWS_VPCE_ID}, "vpce-0123abcd"...)
	rig.run(t, []hostileCase{
		{name: "valid VPC endpoint TLV", raw: cat(v2With(vpce, -1), get), want: []int{200}, keepAlive: true,
			app: []string{"GET /tlv from " + clientAddr}, check: onlyTrueAddress(clientAddr, "81", "vpce-0123abcd")},
		{name: "TLV length one past the header", raw: cat(v2With(append([]byte{0xEA, 0x00, 0x0f}, vpce[3:]...), -1), get)},
		{name: "TLV length 0xffff", raw: cat(v2With([]byte{0xEA, 0xff, 0xff, 0x01, 'v'}, -1), get)},
		{name: "TLV cut inside its length", raw: cat(v2With(append(vpce, 0x04, 0x00), -1), get)},
		{name: "second TLV overflows", raw: cat(v2With(append(vpce, 0x02, 0x00, 0x40, 'a'), -1), get)},
		{name: "header length swallows the request", raw: cat(v2With(nil, 12+len(get)), get)},
		{name: "header length past MaxV2HeaderSize", raw: cat(v2With(make([]byte, 8), 5000), get)},
		{name: "header length shorter than the addresses", raw: cat(v2With(nil, 8), get)},
	})
}

func TestHostileRequestSmuggling(t *testing.T) {
	rig := newHostileRig(t)
	hdr := v1Header(clientAddr+":5555", "10.0.0.1:81")
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: app.example\r\n\r\n"
	second := "GET /second HTTP/1.1\r\nHost: app.example\r\n\r\n"
	from := " from " + clientAddr
	rig.run(t, []hostileCase{
		{name: "CL then TE", raw: cat(hdr, req("POST", "/a", "Content-Length: 4", "Transfer-Encoding: chunked"), []byte("0\r\n\r\n"+smuggled)),
			want: []int{400}},
		{name: "TE then CL", raw: cat(hdr, req("POST", "/b", "Transfer-Encoding: chunked", "Content-Length: 4"), []byte("0\r\n\r\n"+smuggled)),
			want: []int{400}},
		{name: "CL with TE chunked hides a second request", raw: cat(hdr, req("POST", "/c", fmt.Sprintf("Content-Length: %d", 5+len(smuggled)), "Transfer-Encoding: chunked"),
			[]byte("0\r\n\r\n"+smuggled)), want: []int{400}},
		{name: "duplicate differing CL", raw: cat(hdr, req("POST", "/d", "Content-Length: 4", fmt.Sprintf("Content-Length: %d", 4+len(smuggled))), []byte("abcd"+smuggled)),
			want: []int{400}},
		{name: "CL list with differing values", raw: cat(hdr, req("POST", "/e", fmt.Sprintf("Content-Length: 4, %d", 4+len(smuggled))), []byte("abcd"+smuggled)),
			want: []int{400}},
		{name: "TE obfuscated with a space before the colon", raw: cat(hdr, req("POST", "/f", "Transfer-Encoding : chunked", "Content-Length: 4"), []byte("0\r\n\r\n"+smuggled)),
			want: []int{400}},
		// net/http ignores Transfer-Encoding on HTTP/1.0 (the body would be
		// empty and the chunks dropped); nginx refuses it: 400.
		{name: "TE on HTTP/1.0", raw: cat(hdr, []byte("POST /te10 HTTP/1.0\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+smuggled)),
			want: []int{400}},
		{name: "TE not chunked last", raw: cat(hdr, req("POST", "/g", "Transfer-Encoding: chunked, identity", "Content-Length: 4"), []byte("0\r\n\r\n"+smuggled)),
			want: []int{501}},
		// An obs-fold is replaced by a space (RFC 9112 5.2 allows that or
		// a 400): the folded "Transfer-Encoding" is part of X-A's value,
		// Content-Length frames the body, and what follows is a second
		// request the proxy parsed and answered itself. The app sees both
		// exactly as the proxy did, re-framed, with the true address:
		// nothing passes the proxy unparsed.
		{name: "TE in an obs-fold", raw: cat(hdr, req("POST", "/h", "X-A: a", " Transfer-Encoding: chunked", "Content-Length: 4"), []byte("0\r\n\r\n"+second)),
			want: []int{200, 200}, keepAlive: true, app: []string{"POST /h" + from, "GET /second" + from},
			check: func(t *testing.T, got []appRequest) {
				if got[0].Body != "0\r\n\r" || got[0].Header.Get("X-A") != "a Transfer-Encoding: chunked" || len(got[0].Header["Transfer-Encoding"]) != 0 {
					t.Errorf("app saw X-A %q, Transfer-Encoding %q, body %q; want the fold unfolded into X-A and a 4-byte body",
						got[0].Header.Get("X-A"), got[0].Header["Transfer-Encoding"], got[0].Body)
				}
				onlyTrueAddress(clientAddr, "81", "")(t, got)
			}},
		{name: "obs-fold", raw: cat(hdr, req("GET", "/i", "X-A: a", "\tb")), want: []int{200}, keepAlive: true, app: []string{"GET /i" + from},
			check: func(t *testing.T, got []appRequest) {
				if v := got[0].Header["X-A"]; !slices.Equal(v, []string{"a b"}) {
					t.Errorf("app saw X-A %q; want [\"a b\"]", v)
				}
			}},
		{name: "bare LF head with a body hiding a request", raw: cat(hdr, []byte(fmt.Sprintf("POST /j HTTP/1.1\nHost: app.example\nContent-Length: %d\n\n%s", len(smuggled), smuggled))),
			want: []int{200}, keepAlive: true, app: []string{"POST /j" + from},
			check: func(t *testing.T, got []appRequest) {
				if got[0].Body != smuggled {
					t.Errorf("app saw body %q; want the hidden request as body, byte for byte", got[0].Body)
				}
			}},
		// Bare-LF heads are answered as net/http answers them (it accepts
		// them), not left to time out.
		{name: "bare LF only", raw: cat(hdr, []byte("GET /k1 HTTP/1.1\nHost: app.example\nX-Forwarded-For: 6.6.6.6\n\nGET /k2 HTTP/1.1\nHost: app.example\n\n")),
			want: []int{200, 200}, keepAlive: true, app: []string{"GET /k1" + from, "GET /k2" + from}, check: onlyTrueAddress(clientAddr, "81", "")},
		{name: "bare LF head after a CRLF request", raw: cat(hdr, req("GET", "/k3"), []byte("GET /k4 HTTP/1.1\nHost: app.example\n\n")),
			want: []int{200, 200}, keepAlive: true, app: []string{"GET /k3" + from, "GET /k4" + from}},
		{name: "bare CR in a header line", raw: cat(hdr, []byte("GET /l HTTP/1.1\r\nHost: app.example\rX-A: b\r\n\r\n")), want: []int{400}},
		// A broken chunk is the client's error: 400, the connection closed,
		// and the app saw nothing (the body is buffered before the app is
		// contacted; TestBodyTimeout streams with request_buffering off),
		// never a body byte or the smuggled request.
		{name: "chunk size overflow", raw: cat(hdr, req("POST", "/m", "Transfer-Encoding: chunked"), []byte("ffffffffffffffff1\r\nx\r\n0\r\n\r\n"+smuggled)),
			want: []int{400}},
		// A quoted chunk extension does not span lines: the chunk is "xx",
		// then a request the proxy parsed and answered.
		{name: "chunk extension with an open quote", raw: cat(hdr, req("POST", "/n", "Transfer-Encoding: chunked"), []byte("2;a=\"\r\nxx\r\n0\r\n\r\n"+second)),
			want: []int{200, 200}, keepAlive: true, app: []string{"POST /n" + from, "GET /second" + from},
			check: func(t *testing.T, got []appRequest) {
				if got[0].Body != "xx" {
					t.Errorf("app saw body %q; want xx", got[0].Body)
				}
			}},
	})
}

func TestHostileHeaderFloods(t *testing.T) {
	rig := newHostileRig(t)
	hdr := v1Header(clientAddr+":5555", "10.0.0.1:81")
	many := make([]string, 2000)
	for i := range many {
		many[i] = fmt.Sprintf("X-H%d: v", i)
	}
	rig.run(t, []hostileCase{
		{name: "too many headers", raw: cat(hdr, req("GET", "/a", many...)), want: []int{431}},
		{name: "one huge header", raw: cat(hdr, req("GET", "/b", "X-Big: "+strings.Repeat("b", 64<<10))), want: []int{431}},
		{name: "huge request line", raw: cat(hdr, req("GET", "/c?"+strings.Repeat("q", 64<<10))), want: []int{431}},
		{name: "huge header after a valid request", raw: cat(hdr, req("GET", "/d"), req("GET", "/e", "X-Big: "+strings.Repeat("b", 64<<10))),
			want: []int{200, 431}, app: []string{"GET /d from " + clientAddr}},
		{name: "headers never end", raw: cat(hdr, []byte("GET /f HTTP/1.1\r\nHost: app.example\r\nX-A: a\r\n"))},
		{name: "PROXY header never ends", raw: []byte("PROXY TCP4 203.0.113.7 10.0.0.1 ")},
	})
	t.Run("concurrent floods leave others served", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := net.Dialer{Timeout: 2 * time.Second}
				c, err := d.Dial("tcp", rig.addrs[0])
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				_, _ = c.Write(cat(hdr, []byte("GET /flood HTTP/1.1\r\nHost: app.example\r\n")))
				for j := 0; j < 200; j++ { // a slow drip of header lines
					if _, err := fmt.Fprintf(c, "X-%d-%d: %s\r\n", i, j, strings.Repeat("f", 60)); err != nil {
						return
					}
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
		for range 5 {
			rig.checkBystander(t)
			if resp, _, err := roundTrip(t, rig.addrs[0], cat(hdr, get("/fresh", "app.example"))); err != nil || resp.StatusCode != 200 {
				t.Errorf("fresh connection during floods: %v, %v; want 200", resp, err)
			}
		}
		wg.Wait()
		for _, r := range rig.app.since(0) {
			if r.URI == "/flood" {
				t.Errorf("app saw a flood request: %s", r)
			}
		}
	})
}

// TestHostileUpstreamFraming: the fast path relays upstream framing that
// net/http (and so the client) would read differently only never; a sign
// in a length is refused like any other bad framing.
func TestHostileUpstreamFraming(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n",
		// HTTP/1.0 has no Transfer-Encoding: net/http ignores it and reads
		// to EOF, the relay would have de-chunked (FuzzRespHead found it).
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 100 \r\ntrAnsfer-EnCoding:Chunked\r\n\r\n",
	} {
		var rh respHead
		if err := parseRespHead([]byte(head), &rh, false); err == nil {
			t.Errorf("parseRespHead(%q) accepted length %d; want refused", head, rh.length)
		}
	}
	for _, body := range []string{"+5\r\nhello\r\n0\r\n\r\n", "-0\r\n\r\n"} {
		var out strings.Builder
		bw := bufio.NewWriter(&out)
		if _, _, err := copyChunked(bw, bufio.NewReader(strings.NewReader(body))); err == nil {
			t.Errorf("copyChunked(%q) relayed it; want refused", body)
		}
	}
}
