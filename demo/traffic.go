package demo

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/echo"
	"github.com/elbguard/elbguard/test/peer"
)

// ClientIP is the address the demo's client connects from, so that the real
// client address differs from the load balancer's (127.0.0.1): Linux routes
// all of 127.0.0.0/8 to the loopback interface.
const ClientIP = "127.0.0.2"

// Redirect request of the demo and the Location it must get back.
const (
	redirectURI  = "/login?next=%2Fchat&lang=en"
	wantLocation = "https://" + DemoHost + redirectURI
	spoofedIP    = "203.0.113.66"
)

// proxySide is what the proxy part started: addresses of the app,
// elbguard-proxy's listeners and the load balancer in front of them.
type proxySide struct {
	app       string // the echo app
	redirect  string // elbguard-proxy's :80 (redirect)
	appPort   string // elbguard-proxy's :81 (http to the app)
	admin     string // elbguard-proxy's admin listener
	lb80      string // the load balancer's TCP:80
	lb443     string // the load balancer's SSL:443
	accessLog string
	lbName    string // "HAProxy" or "the stand-in load balancer"
}

// proxyPart is step 5 of the story: elbguard-proxy on the instance, behind
// a load balancer that sends PROXY headers, carrying a redirect, the real
// client IP and a WebSocket.
func (r *run) proxyPart(ctx context.Context) {
	r.ui.part("Part 2: elbguard-proxy on the instance",
		"The seed's two listeners (:80 redirect, :81 app) behind a load balancer sending PROXY headers;\n"+
			"a client at "+ClientIP+" gets the redirect, a WebSocket, and its own address in the access log.")
	r.proxy = &proxySide{accessLog: r.path("access.log")}
	r.steps(ctx, []namedStep{
		{"Start the app: a small WebSocket echo server", r.startApp},
		{"Start elbguard-proxy with the seed's two listeners", r.startProxy},
		{"Put a load balancer sending PROXY headers in front", r.startLoadBalancer},
		{"HTTP to the load balancer's :80: 301 to https", r.checkRedirect},
		{"HTTPS to :443 → :81: the app sees the real client IP", r.checkClientIP},
		{"WebSocket through :443 → :81: echo", r.checkWebSocket},
		{"Access log: the client IP from the PROXY header", r.checkAccessLog},
	})
}

// startApp serves the echo app on a free loopback port inside this process.
func (r *run) startApp(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the app: %w", err)
	}
	srv := &http.Server{Handler: &echo.Server{Log: r.cfg.Log}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	r.atExit(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	})
	r.proxy.app = ln.Addr().String()
	r.ui.say("http://%s: GET any path → what the app saw (JSON); %s → WebSocket echo", r.proxy.app, echo.PathWebSocket)
	return nil
}

// proxyConfig is elbguard-proxy's configuration for the demo: the sample
// deploy/elbguard-proxy.yaml with free loopback ports.
func (p *proxySide) proxyConfig() string {
	return fmt.Sprintf(`# elbguard-proxy for the demo: deploy/elbguard-proxy.yaml with free loopback ports.
admin: %s
shutdown_timeout: 5s
access_log: {path: %s, format: combined, flush_interval: 100ms}
listeners:
  - listen: "%s"       # the seed's :80
    mode: redirect
    proxy_protocol: required
    trusted_cidrs: [127.0.0.1/32]   # only the load balancer may send PROXY headers
  - listen: "%s"       # the seed's :81
    mode: http
    proxy_protocol: required
    trusted_cidrs: [127.0.0.1/32]
    upstream: http://%s
`, p.admin, p.accessLog, p.redirect, p.appPort, p.app)
}

// startProxy writes the configuration and starts elbguard-proxy.
func (r *run) startProxy(ctx context.Context) error {
	p := r.proxy
	for _, a := range []*string{&p.redirect, &p.appPort, &p.admin} {
		addr, err := peer.FreeAddr()
		if err != nil {
			return err
		}
		*a = addr
	}
	_ = os.Remove(p.accessLog)
	cfgPath := r.path("elbguard-proxy.yaml")
	cfg := p.proxyConfig()
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", cfgPath, err)
	}
	r.ui.cmd("elbguard-proxy --config " + cfgPath)
	r.ui.block(cfg, true)
	proc, err := peer.Start(r.cfg.Proxy, []string{"--config", cfgPath}, r.processOptions())
	if err != nil {
		return err
	}
	r.started(proc)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for _, a := range []string{p.redirect, p.appPort, p.admin} {
		if err := peer.WaitTCP(wctx, a); err != nil {
			return fmt.Errorf("elbguard-proxy does not listen: %w", err)
		}
	}
	resp, err := get(wctx, http.DefaultClient, "http://"+p.admin+"/healthz", "")
	if err != nil {
		return fmt.Errorf("elbguard-proxy admin health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("elbguard-proxy admin /healthz answered %s; want 200", resp.Status)
	}
	r.ui.good("listening: redirect %s (the seed's :80), app %s (the seed's :81), admin %s", p.redirect, p.appPort, p.admin)
	return nil
}

// startLoadBalancer starts HAProxy with send-proxy in the load balancer's
// place, or the stand-in when HAProxy is missing (or not wanted).
func (r *run) startLoadBalancer(ctx context.Context) error {
	p := r.proxy
	for _, a := range []*string{&p.lb80, &p.lb443} {
		addr, err := peer.FreeAddr()
		if err != nil {
			return err
		}
		*a = addr
	}
	if r.cert == nil {
		cert, err := newCertificate(time.Now())
		if err != nil {
			return err
		}
		r.cert = cert
	}
	bin, lookErr := peer.Look(r.cfg.Root, "haproxy")
	if r.cfg.NoHAProxy || lookErr != nil {
		if lookErr != nil {
			r.ui.say("HAProxy not found (%v):", lookErr)
		}
		r.ui.say("using the stand-in load balancer: TLS ended here, a PROXY v1 header written with go-proxyproto")
		s, err := startStandIn(ctx, r.cfg.Log, []route{
			{listen: p.lb80, backend: p.redirect},
			{listen: p.lb443, backend: p.appPort, tls: &tls.Config{Certificates: []tls.Certificate{r.cert.Pair}, MinVersion: tls.VersionTLS12}},
		})
		if err != nil {
			return err
		}
		r.atExit(s.Close)
		p.lbName = "the stand-in load balancer"
	} else {
		pemPath := r.path("demo-cert.pem")
		if err := r.cert.writePEM(pemPath); err != nil {
			return err
		}
		cfg := haproxyConfig(p.lb80, p.lb443, pemPath, p.redirect, p.appPort)
		dir := r.path("haproxy")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("make %s: %w", dir, err)
		}
		r.ui.cmd("haproxy -db -f " + dir + "/haproxy.cfg")
		r.ui.block(cfg, true)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		proc, err := peer.StartHAProxy(wctx, bin, dir, cfg)
		if err != nil {
			return fmt.Errorf("start HAProxy: %w", err)
		}
		r.started(proc)
		p.lbName = "HAProxy"
	}
	r.ui.good("%s: TCP:80 on %s → %s, SSL:443 on %s → %s, PROXY header on both", p.lbName, p.lb80, p.redirect, p.lb443, p.appPort)
	return nil
}

// clientTransport connects from ClientIP and trusts the demo's certificate
// for DemoHost.
func (r *run) clientTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientIP)}}
	return &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: r.cert.Pool, ServerName: DemoHost, MinVersion: tls.VersionTLS12},
	}
}

func get(ctx context.Context, c *http.Client, url, host string, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", url, err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp, nil
}

// checkRedirect asks for http://DemoHost/... through the load balancer's
// :80 and expects a 301 to the same URI over https.
func (r *run) checkRedirect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &http.Client{
		Transport:     r.clientTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer c.CloseIdleConnections()
	url := "http://" + r.proxy.lb80 + redirectURI
	r.ui.cmd(fmt.Sprintf("curl -si --interface %s -H 'Host: %s' '%s'", ClientIP, DemoHost, url))
	resp, err := get(ctx, c, url, DemoHost)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	r.ui.block(fmt.Sprintf("%s %s\nLocation: %s", resp.Proto, resp.Status, loc), false)
	if resp.StatusCode != http.StatusMovedPermanently || loc != wantLocation {
		return fmt.Errorf("got %d to %q; want 301 to %q", resp.StatusCode, loc, wantLocation)
	}
	r.ui.good("301 to %s: path and query kept byte for byte", loc)
	return nil
}

// checkClientIP sends a request over TLS to the load balancer's :443 with a
// forged X-Forwarded-For, and expects the app to see only the real client
// address.
func (r *run) checkClientIP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &http.Client{Transport: r.clientTransport()}
	defer c.CloseIdleConnections()
	url := "https://" + r.proxy.lb443 + "/whoami"
	r.ui.cmd(fmt.Sprintf("curl -s --interface %s --resolve %s:%s:127.0.0.1 -H 'X-Forwarded-For: %s' https://%s:%s/whoami",
		ClientIP, DemoHost, portOf(r.proxy.lb443), spoofedIP, DemoHost, portOf(r.proxy.lb443)))
	resp, err := get(ctx, c, url, DemoHost, "X-Forwarded-For", spoofedIP)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read the app's answer: %w", err)
	}
	r.ui.block(string(body), false)
	var seen echo.Seen
	if err := json.Unmarshal(body, &seen); err != nil {
		return fmt.Errorf("decode the app's answer (%s): %w", resp.Status, err)
	}
	if seen.XRealIP != ClientIP || seen.XForwardedFor != ClientIP || seen.XForwardedProto != "https" {
		return fmt.Errorf("the app saw X-Real-IP %q, X-Forwarded-For %q, X-Forwarded-Proto %q; want %s, %s, https",
			seen.XRealIP, seen.XForwardedFor, seen.XForwardedProto, ClientIP, ClientIP)
	}
	r.ui.good("the app sees the client at %s over https; the forged X-Forwarded-For %s was dropped", ClientIP, spoofedIP)
	return nil
}

// checkWebSocket opens wss://DemoHost/ws through the load balancer's :443
// and expects every message echoed.
func (r *run) checkWebSocket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tr := r.clientTransport()
	defer tr.CloseIdleConnections()
	url := "wss://" + r.proxy.lb443 + echo.PathWebSocket
	r.ui.say("dial %s (Host %s) from %s", url, DemoHost, ClientIP)
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, Host: DemoHost})
	if resp != nil && resp.Body != nil {
		resp.Body.Close() // nil or already read on success; the handshake's error body otherwise
	}
	if err != nil {
		return fmt.Errorf("WebSocket handshake through %s: %w", r.proxy.lbName, err)
	}
	defer func() { _ = c.CloseNow() }()
	r.ui.good("%s: the WebSocket is open through %s and elbguard-proxy", resp.Status, r.proxy.lbName)
	for _, msg := range []string{"hello from " + ClientIP, "proxy protocol keeps the client address", "bye"} {
		began := time.Now()
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			return fmt.Errorf("send %q: %w", msg, err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("read the echo of %q: %w", msg, err)
		}
		if string(got) != msg {
			return fmt.Errorf("echo: got %q; want %q", got, msg)
		}
		r.ui.good("sent %q, got it back in %s", msg, round(time.Since(began)))
	}
	if err := c.Close(websocket.StatusNormalClosure, "demo done"); err != nil {
		return fmt.Errorf("close the WebSocket: %w", err)
	}
	return nil
}

// checkAccessLog waits for elbguard-proxy's access log lines of the demo's
// requests and expects each to start with the client address the load
// balancer announced.
func (r *run) checkAccessLog(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r.ui.cmd("cat " + r.proxy.accessLog)
	want := []string{redirectURI, "/whoami", echo.PathWebSocket}
	var lines []string
	for {
		lines = readLines(r.proxy.accessLog)
		if missing := missingPaths(lines, want); len(missing) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			r.ui.block(strings.Join(lines, "\n"), false)
			return fmt.Errorf("no access log line for %q in %s after 10s", missingPaths(lines, want), r.proxy.accessLog)
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.ui.block(strings.Join(lines, "\n"), false)
	var errs []error
	for _, l := range lines {
		if !strings.HasPrefix(l, ClientIP+" ") {
			errs = append(errs, fmt.Errorf("access log line does not start with %s: %q", ClientIP, l))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.ui.good("every line starts with %s, the client address from the PROXY header, not the load balancer's 127.0.0.1", ClientIP)
	return nil
}

// missingPaths returns the request paths in want that no line mentions.
func missingPaths(lines, want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.Contains(l, " "+w+" ") {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// readLines returns the non-empty lines of a file, or none if it does not
// exist yet.
func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
