//go:build integration

package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/echo"
	"github.com/elbguard/elbguard/test/harness"
)

// pxApp is what the app behind the proxy saw.
type pxApp struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (a *pxApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func (a *pxApp) last(t *testing.T) *http.Request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		t.Fatalf("the app received no request")
	}
	return a.reqs[len(a.reqs)-1]
}

// pxStartApp runs the app behind the proxy: /ws is the demo's WebSocket echo
// (test/echo), /slow answers after 1 s, everything else answers "hello".
func pxStartApp(t *testing.T) (string, *pxApp) {
	t.Helper()
	rec := &pxApp{}
	ws := &echo.Server{ReadLimit: 1 << 24}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(context.Background()))
		rec.mu.Unlock()
		switch r.URL.Path {
		case echo.PathWebSocket:
			ws.ServeHTTP(w, r)
			return
		case "/slow":
			time.Sleep(time.Second)
		}
		fmt.Fprintf(w, "hello %s\n", r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// pxProxy are the listeners of one elbguard-proxy process.
type pxProxy struct {
	Redirect, App, Admin string
	Log, Config          string // access log and config file paths
	Proc                 *harness.Process
}

// pxStartProxy builds and starts elbguard-proxy with the seed's two
// listeners on free ports; extra is appended to the app listener's YAML.
func pxStartProxy(t *testing.T, upstream, extra string) pxProxy {
	t.Helper()
	bin := harness.Build(t, "./cmd/elbguard-proxy")
	dir := t.TempDir()
	p := pxProxy{Redirect: harness.FreeAddr(t), App: harness.FreeAddr(t), Admin: harness.FreeAddr(t),
		Log: filepath.Join(dir, "access.log")}
	cfg := fmt.Sprintf(`admin: %s
shutdown_timeout: 10s
access_log: {path: %s, format: combined, flush_interval: 50ms}
listeners:
  - listen: %q
    mode: redirect
    proxy_protocol: required
  - listen: %q
    mode: http
    proxy_protocol: required
    upstream: %s
%s`, p.Admin, p.Log, p.Redirect, p.App, upstream, extra)
	path := filepath.Join(dir, "proxy.yaml")
	p.Config = path
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Proc = harness.Start(t, bin, []string{"--config", path})
	for _, a := range []string{p.Redirect, p.App, p.Admin} {
		harness.WaitTCP(t, a, 10*time.Second)
	}
	return p
}

// curl runs curl from the source address src and returns its output
// (headers and body).
func pxCurl(t *testing.T, src string, args ...string) string {
	t.Helper()
	all := append([]string{"-s", "-S", "-i", "--max-time", "10", "--interface", src}, args...)
	res := harness.Run(t, 20*time.Second, harness.Tool(t, "curl"), all)
	if res.Code != 0 {
		t.Fatalf("curl %s: exit %d: %s", strings.Join(all, " "), res.Code, res.Stderr)
	}
	return res.Stdout
}

// pxClientFrom returns an HTTP client whose connections come from src.
func pxClientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// pxWaitLog waits until the access log contains want.
func pxWaitLog(t *testing.T, path, want string) string {
	t.Helper()
	return harness.WaitContains(t, 5*time.Second, "access log", func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}, want)
}

// pxWSEcho opens a WebSocket to url through client, echoes one message and
// closes normally.
func pxWSEcho(t *testing.T, client *http.Client, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"X-Forwarded-For": {"6.6.6.6"}}})
	if err != nil {
		t.Fatalf("websocket dial %s: %v", url, err)
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(1 << 24)
	for _, msg := range []string{"hello", strings.Repeat("x", 100000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("websocket write: %v", err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("websocket echo: got %d bytes, %v; want %d bytes", len(got), err, len(msg))
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("websocket close: %v", err)
	}
}
