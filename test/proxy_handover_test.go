//go:build integration

package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/echo"
	"github.com/elbguard/elbguard/test/harness"
)

// hoLoad is the continuous load of TestProxyHandover and what it saw.
type hoLoad struct {
	addr string

	kaOK, kaFail         atomic.Int64 // keep-alive requests
	busyOK, busyFail     atomic.Int64 // keep-alive requests of busyKeepAlive, no retry
	busyReconnects       atomic.Int64 // busyKeepAlive connections ended by Connection: close
	churnOK, churnFail   atomic.Int64 // one request per connection
	refused              atomic.Int64 // connect() refused, any client
	wsOpened, wsDialFail atomic.Int64
	wsMsgs               atomic.Int64
	wsAbnormal           atomic.Int64 // ended without a Close frame
	wsAlive              atomic.Int64
	slowest              atomic.Int64 // ns, the longest request (connect to last byte) of either kind

	mu       sync.Mutex
	wsClosed map[websocket.StatusCode]int // ended by a Close frame, by status
	errs     []string
}

func (l *hoLoad) fail(kind string, err error) {
	if errors.Is(err, syscall.ECONNREFUSED) {
		l.refused.Add(1)
	}
	l.mu.Lock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), kind, err))
	}
	l.mu.Unlock()
}

func (l *hoLoad) took(start time.Time) {
	d := int64(time.Since(start))
	for {
		cur := l.slowest.Load()
		if d <= cur || l.slowest.CompareAndSwap(cur, d) {
			return
		}
	}
}

func (l *hoLoad) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	// What the load balancer sends first on every connection.
	if _, err := c.Write([]byte("PROXY TCP4 198.51.100.9 10.0.0.1 40000 81\r\n")); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (l *hoLoad) client() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return l.dial(ctx) },
	}}
}

// keepAlive sends requests over one pooled connection (a new one when the
// proxy closes it, as any HTTP client does).
func (l *hoLoad) keepAlive(ctx context.Context) {
	c := l.client()
	for ctx.Err() == nil {
		start := time.Now()
		resp, err := c.Get("http://app.example/ka")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.kaFail.Add(1)
			l.fail("keep-alive", err)
		} else {
			l.kaOK.Add(1)
			l.took(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// busyKeepAlive sends requests back to back on one connection with no
// retry, as a load balancer's pooled backend connection does: the next
// request is written as soon as the answer is read. A Connection: close
// answer ends the connection cleanly and the next request goes on a new
// one; any write or read failure (a reset, an EOF where an answer was
// due) is a failed request. (net/http's Transport, in keepAlive, quietly
// retries a GET that met a closed idle connection, so it cannot see this.)
func (l *hoLoad) busyKeepAlive(ctx context.Context) {
	var (
		c  net.Conn
		br *bufio.Reader
	)
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = l.dial(context.Background()); err != nil {
				l.busyFail.Add(1)
				l.fail("busy keep-alive dial", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(c)
		}
		start := time.Now()
		_ = c.SetDeadline(start.Add(20 * time.Second))
		closed, err := func() (bool, error) {
			if _, err := io.WriteString(c, "GET /busy HTTP/1.1\r\nHost: app.example\r\n\r\n"); err != nil {
				return false, fmt.Errorf("write: %w", err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return false, fmt.Errorf("read: %w", err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return false, fmt.Errorf("read body: %w", err)
			}
			if resp.StatusCode != http.StatusOK {
				return false, fmt.Errorf("status %d", resp.StatusCode)
			}
			return resp.Close, nil
		}()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			l.busyFail.Add(1)
			l.fail("busy keep-alive", err)
		default:
			l.busyOK.Add(1)
			l.took(start)
		}
		if err != nil || closed {
			if closed {
				l.busyReconnects.Add(1)
			}
			_ = c.Close()
			c = nil
		}
	}
}

// churn opens a connection per request, as a TCP listener of the load
// balancer does.
func (l *hoLoad) churn(ctx context.Context) {
	for ctx.Err() == nil {
		start := time.Now()
		err := func() error {
			c, err := l.dial(context.Background())
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, "GET /churn HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}()
		if err != nil {
			l.churnFail.Add(1)
			l.fail("churn", err)
		} else {
			l.churnOK.Add(1)
			l.took(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// webSocket keeps one WebSocket open, echoing a message every 300 ms; when
// the proxy closes it (a Close frame, as a drain ends), it reconnects, as
// browsers' WebSocket clients do.
func (l *hoLoad) webSocket(ctx context.Context) {
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		c, _, err := websocket.Dial(dctx, "ws://app.example"+echo.PathWebSocket, &websocket.DialOptions{HTTPClient: l.client()})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.wsDialFail.Add(1)
			l.fail("websocket dial", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		l.wsOpened.Add(1)
		err = func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(300 * time.Millisecond):
				}
				wctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := c.Write(wctx, websocket.MessageText, []byte("ping"))
				if err == nil {
					var got []byte
					_, got, err = c.Read(wctx)
					if err == nil && string(got) != "ping" {
						err = fmt.Errorf("echo %q", got)
					}
				}
				cancel()
				if err != nil {
					return err
				}
				l.wsMsgs.Add(1)
			}
		}()
		if err == nil { // the test ended with it open
			l.wsAlive.Add(1)
			_ = c.Close(websocket.StatusNormalClosure, "test over")
			return
		}
		if st := websocket.CloseStatus(err); st != -1 {
			l.mu.Lock()
			l.wsClosed[st]++
			l.mu.Unlock()
		} else {
			l.wsAbnormal.Add(1)
			l.fail("websocket", err)
		}
		_ = c.CloseNow()
	}
}

// TestProxyHandover: continuous load (keep-alive requests, busy keep-alive
// connections that never retry, one request per
// connection, 100 WebSockets) through 5 restarts (`systemctl restart` with
// elbguard-proxy.socket holding the ports) and 5 upgrades (ExecReload:
// check, then SIGUSR2 hand-over) between two builds of different versions.
// Nothing may be refused or fail; every WebSocket ends with a Close frame or
// is still open; the processes' file descriptors come back to the baseline.
// Then the bad input: a broken config is refused by check, and a hand-over
// or SIGHUP with it leaves the running process serving, the field logged.
func TestProxyHandover(t *testing.T) {
	dir := t.TempDir()
	binA, binB := filepath.Join(dir, "elbguard-proxy-A"), filepath.Join(dir, "elbguard-proxy-B")
	buildVersion(t, "handover-A", binA)
	buildVersion(t, "handover-B", binB)
	bin := filepath.Join(dir, "usr-bin", "elbguard-proxy")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	install(t, binA, bin)

	upstream, _ := pxStartApp(t)
	appF, appAddr := holdSocket(t)
	adminF, adminAddr := holdSocket(t)
	cfgPath := filepath.Join(dir, "proxy.yaml")
	cfg := fmt.Sprintf(`admin: %s
shutdown_timeout: 1s
access_log: {path: ""}
listeners:
  - listen: %q
    mode: http
    proxy_protocol: required
    upstream: %s
`, adminAddr, appAddr, upstream)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newHOManager(t, bin, cfgPath, filepath.Join(dir, "proxy.log"), []*os.File{appF, adminF})
	first := m.start()
	baseline := steadyFDs(t, first) // the READY notification's socket closes after the send
	if !m.logHas("listening on an inherited socket", appAddr, "systemd=true") {
		t.Fatalf("the first process did not take the held socket %s\n%s", appAddr, m.tailLog())
	}

	load := &hoLoad{addr: appAddr, wsClosed: map[websocket.StatusCode]int{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(n int, f func(context.Context)) {
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(ctx) }()
		}
	}
	run(4, load.keepAlive)
	run(8, load.busyKeepAlive)
	run(4, load.churn)
	run(100, load.webSocket)
	defer func() { stop(); wg.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); load.wsOpened.Load() < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 100 WebSockets open after 20 s; errors: %v", load.wsOpened.Load(), load.errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)

	bins := []string{binB, binA}
	versions := []string{"handover-B", "handover-A"}
	var restartStops []time.Duration
	healthOK := 0
	start := time.Now()
	for i := range 5 {
		stopped, pid := m.restart()
		restartStops = append(restartStops, stopped)
		t.Logf("restart %d: old processes gone after %v, new pid %d", i+1, stopped.Round(time.Millisecond), pid)
		// Long enough for the drained WebSockets to reconnect: each step
		// moves all 100.
		time.Sleep(1500 * time.Millisecond)

		install(t, bins[i%2], bin)
		// The admin health endpoint answers 200 throughout an upgrade: the
		// new process shares its socket, the old one stops answering on it.
		// Each check is a new connection, as the SSM install script's curl
		// makes: what is asserted is that the socket never refuses and that
		// no accepted check goes unanswered. Several clients at once, so
		// that one is almost always between accept and request when the old
		// process stops: http.Server.Shutdown closed such a connection
		// without an answer (EOF, about one per upgrade with 6 clients). (A
		// keep-alive client may also meet the old process closing its idle
		// connection as it drains, the race HTTP/1.1 leaves to clients to
		// retry, RFC 9112 §9.3.1.)
		const healthClients = 6
		healthDone := make(chan [2]int, healthClients)
		var healthErr atomic.Value
		for range healthClients {
			go func() {
				var ok, bad int
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
					resp, err := c.Get("http://" + adminAddr + "/healthz")
					if err == nil {
						_ = resp.Body.Close()
					}
					if err == nil && resp.StatusCode == http.StatusOK {
						ok++
						continue
					}
					bad++
					if err != nil {
						healthErr.CompareAndSwap(nil, err.Error())
					} else {
						healthErr.CompareAndSwap(nil, resp.Status)
					}
				}
				healthDone <- [2]int{ok, bad}
			}()
		}
		pid, err := m.reload()
		if err != nil {
			t.Fatalf("upgrade %d: %v\n%s", i+1, err, m.tailLog())
		}
		if !m.logHas("elbguard-proxy starting", "version="+versions[i%2], fmt.Sprintf("pid=%d", pid)) {
			t.Errorf("upgrade %d: pid %d does not run version %s", i+1, pid, versions[i%2])
		}
		var h [2]int
		for range healthClients {
			r := <-healthDone
			h[0], h[1] = h[0]+r[0], h[1]+r[1]
		}
		healthOK += h[0]
		if h[1] > 0 {
			t.Errorf("upgrade %d: the admin health check failed %d times (of %d), first: %v; want 200 throughout", i+1, h[1], h[0]+h[1], healthErr.Load())
		}
		t.Logf("upgrade %d: new pid %d (%s)", i+1, pid, versions[i%2])
		time.Sleep(time.Second)
	}
	cycles := time.Since(start)
	time.Sleep(time.Second)
	stop()
	wg.Wait()

	// Every process but the main one has finished its drain and exited.
	for deadline := time.Now().Add(10 * time.Second); len(m.running()) > 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if r := m.running(); len(r) != 1 || r[0] != m.mainPID() {
		t.Errorf("processes still running: %v; want only the main one %d", r, m.mainPID())
	}
	loaded := openFDs(t, m.mainPID())
	// Hand over once more with no load: the fresh process holds what the
	// first one held, no descriptor carried over from 10 generations.
	fresh, err := m.reload()
	if err != nil {
		t.Fatal(err)
	}
	after := steadyFDs(t, fresh)
	for deadline := time.Now().Add(10 * time.Second); after != baseline && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		after = openFDs(t, fresh)
	}

	load.mu.Lock()
	closed, errs := fmt.Sprint(load.wsClosed), load.errs
	load.mu.Unlock()
	t.Logf("SUMMARY handover: 5 restarts + 5 upgrades in %v under load: keep-alive %d ok / %d failed, "+
		"busy keep-alive (no retry) %d ok / %d failed / %d clean reconnects on Connection: close, "+
		"one-per-connection %d ok / %d failed, refused %d, slowest request %v; WebSockets opened %d (100 at once), %d echoes, "+
		"ended by Close frame %s, abnormal %d, dial failures %d, alive at the end %d; restart stop times %v; "+
		"admin health during upgrades %d × 200, 0 other; open fds: first process %d, after the load %d (pooled upstream connections), fresh process %d",
		cycles.Round(time.Millisecond), load.kaOK.Load(), load.kaFail.Load(), load.busyOK.Load(), load.busyFail.Load(), load.busyReconnects.Load(), load.churnOK.Load(), load.churnFail.Load(),
		load.refused.Load(), time.Duration(load.slowest.Load()).Round(time.Millisecond), load.wsOpened.Load(), load.wsMsgs.Load(), closed, load.wsAbnormal.Load(),
		load.wsDialFail.Load(), load.wsAlive.Load(), restartStops, healthOK, baseline, loaded, after)
	if n := load.kaFail.Load() + load.busyFail.Load() + load.churnFail.Load() + load.refused.Load() + load.wsAbnormal.Load() + load.wsDialFail.Load(); n > 0 {
		t.Errorf("%d failures (refused %d); first errors:\n%s", n, load.refused.Load(), strings.Join(errs, "\n"))
	}
	if load.kaOK.Load() == 0 || load.busyOK.Load() == 0 || load.busyReconnects.Load() == 0 || load.churnOK.Load() == 0 || load.wsMsgs.Load() == 0 {
		t.Errorf("no traffic went through")
	}
	if after != baseline {
		t.Errorf("open fds of a fresh process after 10 generations: %d; want the first process's %d", after, baseline)
	}
	m.mu.Lock()
	if len(m.exitErr) > 0 {
		t.Errorf("processes exited with errors: %v", m.exitErr)
	}
	m.mu.Unlock()

	hoBadConfig(t, m, bin, cfgPath, cfg)
}

// hoBadConfig: with a broken config, check fails and names the field (so
// ExecReload fails and systemctl reports it), and a hand-over or a SIGHUP
// that gets the broken config anyway leaves the running process serving.
func hoBadConfig(t *testing.T, m *hoManager, bin, cfgPath, cfg string) {
	t.Helper()
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(cfg, "mode: http", "mode: htp", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "--config", cfgPath).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `listeners[0].mode "htp"`) {
		t.Errorf("check of a broken config: %v, %q; want exit 1 naming listeners[0].mode", err, out)
	}
	if _, err := m.reload(); err == nil || !strings.Contains(err.Error(), `listeners[0].mode "htp"`) {
		t.Errorf("ExecReload with a broken config: %v; want it failed by the check, naming the field", err)
	}
	main := m.mainPID()
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGHUP} {
		if err := syscall.Kill(main, sig); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m.logHas("upgrade failed", `listeners[0].mode`) && m.logHas("reload failed", `listeners[0].mode`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no logged failure naming listeners[0].mode after SIGUSR2 and SIGHUP with a broken config\n%s", m.tailLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := m.mainPID(); got != main {
		t.Errorf("main process %d after a failed hand-over; want %d still", got, main)
	}

	// A config that passes the check but that the new process cannot start
	// with (a port another program holds): the reload fails, the running
	// process keeps serving.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	extra := cfg + fmt.Sprintf("  - listen: %q\n    mode: redirect\n    proxy_protocol: required\n", busy.Addr().String())
	if err := os.WriteFile(cfgPath, []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.reload(); err == nil || !strings.Contains(err.Error(), "keeps serving") {
		t.Errorf("reload with a port the new process cannot bind: %v; want it failed, the old process serving", err)
	}
	if !m.logHas(busy.Addr().String(), "address already in use") {
		t.Errorf("the new process did not log why it could not start:\n%s", m.tailLog())
	}
	if got := m.mainPID(); got != main {
		t.Errorf("main process %d after a failed hand-over; want %d still", got, main)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	load := &hoLoad{addr: cfgAddr(cfg)}
	resp, err := load.client().Get("http://app.example/after-bad-config")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("request after the failed reloads: %v %v; want 200 from the old process", resp, err)
	} else {
		_ = resp.Body.Close()
	}
}

// cfgAddr returns the listen address of the config's listener.
func cfgAddr(cfg string) string {
	for _, line := range strings.Split(cfg, "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "- listen: ") {
			return strings.Trim(strings.TrimPrefix(s, "- listen: "), `"`)
		}
	}
	return ""
}

// TestProxySocketActivation starts elbguard-proxy the way systemd does, with
// systemd's own systemd-socket-activate: it binds the listener and the admin
// address, and starts the proxy only when the first connection arrives,
// passing the sockets in LISTEN_FDS with LISTEN_FDNAMES. That first
// connection, made while no proxy ran, is served, not refused.
func TestProxySocketActivation(t *testing.T) {
	activate := pkgTool(t, "systemd-socket-activate")
	bin := filepath.Join(t.TempDir(), "elbguard-proxy")
	buildVersion(t, "activation", bin)
	upstream, _ := pxStartApp(t)
	app, admin := harness.FreeAddr(t), harness.FreeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "proxy.yaml")
	cfg := fmt.Sprintf("admin: %s\nshutdown_timeout: 1s\naccess_log: {path: \"\"}\nlisteners:\n  - listen: %q\n    mode: http\n    proxy_protocol: required\n    upstream: %s\n",
		admin, app, upstream)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "proxy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(activate, "-l", app, "-l", admin, "--fdname=app:admin", bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	load := &hoLoad{addr: app}
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		// The first request that connects starts the proxy (until the
		// socket is bound, connecting is refused: that is before any
		// process runs, and is retried).
		resp, err = load.client().Get("http://app.example/first")
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("first request through the socket-activated proxy: %v %v\n%s", resp, err, b)
	}
	_ = resp.Body.Close()
	b, _ := os.ReadFile(logPath)
	for _, addr := range []string{app, admin} {
		if !strings.Contains(string(b), `"listening on an inherited socket" listen=`+addr) {
			t.Errorf("the proxy did not take the activated socket for %s:\n%s", addr, b)
		}
	}
	if hr, err := http.Get("http://" + admin + "/healthz"); err != nil || hr.StatusCode != http.StatusOK {
		t.Errorf("admin health on the activated socket: %v %v", hr, err)
	} else {
		_ = hr.Body.Close()
	}
}
