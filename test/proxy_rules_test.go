//go:build integration

package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// pxRawRequest dials addr from src, writes raw and reads one response; nil
// when the proxy closed the connection without answering.
func pxRawRequest(t *testing.T, src, addr string, raw []byte) *http.Response {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func pxHeader(t *testing.T, h *proxyproto.Header) []byte {
	t.Helper()
	b, err := h.Format()
	if err != nil {
		t.Fatalf("format PROXY header: %v", err)
	}
	return b
}

func pxV1From(t *testing.T, src string) []byte {
	return pxHeader(t, proxyproto.HeaderProxyFromAddrs(1, &net.TCPAddr{IP: net.ParseIP(src), Port: 40000},
		&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 81}))
}

const pxGetApp = "GET /app HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"

// TestProxyRefusesHeaderless checks that a connection without a PROXY
// header gets only the health path, and that the app never sees it.
func TestProxyRefusesHeaderless(t *testing.T) {
	upstream, app := pxStartApp(t)
	p := pxStartProxy(t, upstream, "")
	if resp := pxRawRequest(t, "127.0.0.1", p.App, []byte(pxGetApp)); resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("header-less request: %v; want 400", resp)
	}
	out := pxCurl(t, "127.0.0.1", "http://"+p.App+"/healthz")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Errorf("header-less health check: %q; want 200", out)
	}
	if n := app.count(); n != 0 {
		t.Errorf("the app saw %d requests; want 0", n)
	}
	metrics := pxCurl(t, "127.0.0.1", "http://"+p.Admin+"/metrics")
	if !strings.Contains(metrics, `elbguard_proxy_header_errors_total{listener="`+p.App+`",reason="missing"} 1`) {
		t.Errorf("metrics lack the missing-header count:\n%s", pxGrepLines(metrics, "elbguard_proxy_header"))
	}
}

// TestProxyLocalHeader sends a v2 LOCAL header (NLB health checks): no
// client address, connection allowed, the socket peer is used.
func TestProxyLocalHeader(t *testing.T) {
	upstream, app := pxStartApp(t)
	p := pxStartProxy(t, upstream, "")
	local := pxHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC})
	resp := pxRawRequest(t, "127.0.0.10", p.App, append(local, pxGetApp...))
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("LOCAL header: %v; want 200", resp)
	}
	if got := app.last(t).Header.Get("X-Forwarded-For"); got != "127.0.0.10" {
		t.Errorf("X-Forwarded-For = %q; want the socket peer 127.0.0.10", got)
	}
}

// TestProxyTrustedCIDRs: only 127.0.0.2 may send PROXY headers; a required
// listener refuses every other source.
func TestProxyTrustedCIDRs(t *testing.T) {
	upstream, app := pxStartApp(t)
	p := pxStartProxy(t, upstream, "    trusted_cidrs: [127.0.0.2/32]\n")
	if resp := pxRawRequest(t, "127.0.0.2", p.App, append(pxV1From(t, "198.51.100.1"), pxGetApp...)); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("trusted source: %v; want 200", resp)
	}
	if got := app.last(t).Header.Get("X-Forwarded-For"); got != "198.51.100.1" {
		t.Errorf("X-Forwarded-For = %q; want 198.51.100.1", got)
	}
	n := app.count()
	if resp := pxRawRequest(t, "127.0.0.3", p.App, append(pxV1From(t, "198.51.100.2"), pxGetApp...)); resp != nil {
		t.Errorf("untrusted source: got %d; want the connection refused", resp.StatusCode)
	}
	if got := app.count(); got != n {
		t.Errorf("the app saw %d requests from an untrusted source; want 0", got-n)
	}
}

// TestProxyGracefulShutdown sends SIGTERM with a request in flight: it
// completes, new connections are refused, and the process exits 0.
func TestProxyGracefulShutdown(t *testing.T) {
	upstream, app := pxStartApp(t)
	p := pxStartProxy(t, upstream, "")
	done := make(chan *http.Response, 1)
	go func() {
		var resp *http.Response
		defer func() { done <- resp }() // sent even if pxRawRequest fails the test
		resp = pxRawRequest(t, "127.0.0.1", p.App, append(pxV1From(t, "198.51.100.3"), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"...))
	}()
	// SIGTERM only once the request is in flight: the app has it (and
	// answers /slow a second later).
	deadline := time.Now().Add(10 * time.Second)
	for app.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the /slow request did not reach the app within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("in-flight request during shutdown: %v; want 200", resp)
	}
	if err := p.Proc.Wait(15 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v; want status 0", err)
	}
	if c, err := net.DialTimeout("tcp", p.App, time.Second); err == nil {
		c.Close()
		t.Errorf("listener still accepts after shutdown")
	}
	pxWaitLog(t, p.Log, `"GET /slow HTTP/1.1" 200`)
}

func pxGrepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
