//go:build integration

package test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/benchmark/backend"
)

// pxLoris is one slowloris connection: opened, its PROXY header never
// finished, and closed by the proxy (or by our own deadline: err is a
// timeout then).
type pxLoris struct {
	// dialing is when the client began to connect, opened when Dial
	// returned. The proxy's header_timeout starts between the two (at its
	// accept), so "closed early" is measured from dialing and "closed
	// late" from opened: a client goroutine scheduled 100 ms after its
	// connect completed (2,000 of them on a busy 2-core machine) is not
	// a proxy that closed early.
	dialing, opened, closed time.Time
	err                     error
}

// pxSlowloris keeps n connections open that never finish their PROXY
// header; each one the proxy closes is replaced, as an attacker does.
type pxSlowloris struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	ready sync.WaitGroup // the first n are open and have sent their bytes
	mu    sync.Mutex
	conns []pxLoris
}

// pxStartSlowloris starts n slowloris connections to addr. Half send the
// first 8 of the 12 bytes of the PROXY v2 signature, half nothing at all;
// each then waits for the proxy to close it (at most wait). (A partial v1
// line is not a slowloris: go-proxyproto drops a v1 line that does not
// arrive in one read at once; TestProxyFaultSlowloris checks that apart.)
func pxStartSlowloris(t *testing.T, addr string, n int, wait time.Duration) *pxSlowloris {
	t.Helper()
	partial := [][]byte{[]byte(pxV2Partial), nil}
	s := &pxSlowloris{stop: make(chan struct{})}
	s.ready.Add(n)
	for i := range n {
		s.wg.Go(func() {
			first := true
			defer func() {
				if first {
					s.ready.Done()
				}
			}()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(10+i%4))}, Timeout: 10 * time.Second}
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				dialing := time.Now()
				c, err := d.Dial("tcp", addr)
				if err != nil {
					s.record(pxLoris{dialing: dialing, opened: time.Now(), closed: time.Now(), err: err})
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l := pxLoris{dialing: dialing, opened: time.Now()}
				if b := partial[i%len(partial)]; b != nil {
					_, _ = c.Write(b)
				}
				if first {
					first = false
					s.ready.Done()
				}
				_ = c.SetReadDeadline(l.opened.Add(wait))
				var buf [512]byte
				for l.err == nil {
					_, l.err = c.Read(buf[:])
				}
				l.closed = time.Now()
				c.Close()
				s.record(l)
			}
		})
	}
	return s
}

func (s *pxSlowloris) record(l pxLoris) {
	s.mu.Lock()
	s.conns = append(s.conns, l)
	s.mu.Unlock()
}

// Stop stops replacing connections, waits for the open ones to be closed
// and returns every connection so far.
func (s *pxSlowloris) Stop() []pxLoris {
	close(s.stop)
	s.wg.Wait()
	return s.conns
}

// pxV2Partial is the first 8 bytes of the 12-byte PROXY v2 signature.
const pxV2Partial = "\r\n\r\n\x00\r\nQ"

// TestProxyFaultSlowloris opens 1,000 connections that never finish their
// PROXY header (replaced as soon as the proxy closes them): every one is
// closed by the proxy after header_timeout, the closes are counted in
// /metrics, and normal traffic's p99 latency stays within 2× of its value
// without the attack.
func TestProxyFaultSlowloris(t *testing.T) {
	const headerTimeout = 2 * time.Second
	nLoris := 1000 // the count: the soak runs longer, not wider
	b := pxStartBackend(t)
	p := pxStartProxy(t, b.URL, fmt.Sprintf("    header_timeout: %s\n", headerTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), pxScale(2*time.Minute, 15*time.Minute))
	defer cancel()

	// The latency probe: the same requests every time, paced (4 keep-alive
	// connections, one request each 2 ms per connection), so the baseline
	// and the loaded run offer the same load over the same time (2 s by
	// default; the soak run measures 10× longer).
	perWorker := pxScale(1000, 10000)
	measure := func(what string) []pxResult {
		t.Helper()
		res, dials := pxLoad{Addr: p.App, Sources: pxLoadSources(1), Workers: 4, Request: func(int) []byte { return pxGet(backend.PathSmall) },
			Pace: 2 * time.Millisecond, Count: perWorker}.Start(ctx).Wait()
		if c := pxCount(res); c.failed > 0 || c.status[200] != len(res) || len(dials) > 0 {
			t.Fatalf("%s: %s; %d failed connection attempts", what, c, len(dials))
		}
		return res
	}
	measure("warm-up")

	// A v1 line cut short is dropped at once, not after header_timeout
	// (go-proxyproto wants the line in one read), and counted as truncated.
	const partialV1 = 100
	var cut time.Duration
	for i := range partialV1 {
		c, err := net.DialTimeout("tcp", p.App, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		_, _ = c.Write([]byte("PROXY TCP4 203.0.113.9 "))
		_ = c.SetReadDeadline(sent.Add(headerTimeout + 5*time.Second))
		var buf [64]byte
		_, err = c.Read(buf[:])
		cut = max(cut, time.Since(sent))
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("partial v1 line %d: still open after %s", i, headerTimeout+5*time.Second)
		}
	}
	truncated := pxMetricSum(pxMetrics(t, p.Admin), `elbguard_proxy_header_errors_total{listener="`+p.App+`",reason="truncated"}`)
	if truncated != partialV1 || cut >= headerTimeout {
		t.Errorf("%d partial v1 lines: header_errors_total{truncated} = %g, closed within %s; want %d, before header_timeout %s",
			partialV1, truncated, cut, partialV1, headerTimeout)
	}

	// A noisy shared 2-core machine: a p99 over 4000 samples (the 40th
	// slowest) moves with whatever else runs. So: each attempt measures the
	// baseline right before the loaded run, with the same request count and
	// pace; the loaded p99 may be 2× the baseline plus 2 ms (sub-millisecond
	// p99s double from one scheduler hiccup); and up to 3 attempts are made,
	// the test failing only if every one exceeds the bound.
	var (
		loris    []pxLoris
		attempts []string
		passed   bool
		base     time.Duration
		loaded   time.Duration
		gauge    float64
	)
	for attempt := 1; attempt <= 3 && !passed; attempt++ {
		base = pxP99(measure("baseline"))
		s := pxStartSlowloris(t, p.App, nLoris, headerTimeout+10*time.Second)
		s.ready.Wait()
		gauge = pxMetricSum(pxMetrics(t, p.Admin), `elbguard_proxy_connections_active{listener="`+p.App+`"}`)
		loaded = pxP99(measure("under slowloris"))
		loris = append(loris, s.Stop()...)
		limit := 2*base + 2*time.Millisecond
		passed = loaded <= limit
		attempts = append(attempts, fmt.Sprintf("p99 %s → %s (limit %s)", base.Round(time.Microsecond), loaded.Round(time.Microsecond), limit.Round(time.Microsecond)))
	}
	if !passed {
		t.Errorf("normal traffic's p99 under %d slowloris connections exceeded 2× baseline + 2ms in every attempt: %s", nLoris, strings.Join(attempts, "; "))
	}

	var (
		closed, early, late, dialErrs int
		minWait, maxWait              time.Duration
		lateErr                       error
	)
	for _, l := range loris {
		if l.opened.Equal(l.closed) {
			dialErrs++
			continue
		}
		var ne net.Error
		if errors.As(l.err, &ne) && ne.Timeout() {
			late++
			lateErr = l.err
			continue
		}
		d := l.closed.Sub(l.opened)
		closed++
		if e := l.closed.Sub(l.dialing); minWait == 0 || e < minWait {
			minWait = e // from the start of the connect: see pxLoris
		}
		maxWait = max(maxWait, d)
		switch {
		case l.closed.Sub(l.dialing) < headerTimeout-100*time.Millisecond:
			early++
		case d > headerTimeout+1500*time.Millisecond:
			late++
			lateErr = fmt.Errorf("closed after %s", d)
		}
	}
	if dialErrs > 0 || late > 0 || early > 0 {
		t.Errorf("slowloris: %d connections, %d failed to connect, %d closed before header_timeout %s, %d not closed within header_timeout + 1.5s (%v)",
			len(loris), dialErrs, early, headerTimeout, late, lateErr)
	}
	text := pxMetrics(t, p.Admin)
	timeouts := pxMetricSum(text, `elbguard_proxy_header_errors_total{listener="`+p.App+`",reason="timeout"}`)
	if timeouts < float64(closed) {
		t.Errorf("header_errors_total{reason=\"timeout\"} = %g; want at least the %d slowloris connections closed:\n%s",
			timeouts, closed, pxGrepLines(text, "elbguard_proxy_header_errors_total"))
	}
	t.Logf("slowloris: %d connections held open at once, replaced when closed (proxy gauge %g), %d in all (%d attempts), all closed by the proxy "+
		"%s–%s after opening (header_timeout %s); header_errors_total{timeout} = %g; %d partial v1 lines dropped within %s (truncated = %g); "+
		"normal traffic %d requests per run, 0 failed, %s",
		nLoris, gauge, closed, len(attempts), minWait.Round(time.Millisecond), maxWait.Round(time.Millisecond), headerTimeout,
		timeouts, partialV1, cut.Round(time.Millisecond), truncated, 4*perWorker, strings.Join(attempts, "; "))
}

// TestProxyFaultBackendKill kills the backend (SIGKILL) under load:
// requests get 502 at once (none hangs or breaks), WebSockets open at the
// kill end promptly on the client side and in the proxy's gauge, and when
// the backend returns on the same port every request succeeds again.
func TestProxyFaultBackendKill(t *testing.T) {
	const (
		workers  = 16
		sessions = 8
		outage   = time.Second
	)
	cycles := pxScale(1, 10)
	b := pxStartBackend(t)
	p := pxStartProxy(t, b.URL, "    dial_timeout: 1s\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*time.Minute)
	defer cancel()
	var summary []string
	for cycle := 1; cycle <= cycles; cycle++ {
		type wsEnd struct {
			at  time.Time
			err error
		}
		ends := make(chan wsEnd, sessions)
		for i := range sessions {
			c, err := pxWS(ctx, p.App, netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}))
			if err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
			defer func() { _ = c.CloseNow() }()
			go func() {
				_, _, err := c.Read(ctx)
				ends <- wsEnd{time.Now(), err}
			}()
		}
		pxWaitMetric(t, p.Admin, pxWSGauge(p.App), 5*time.Second, func(v float64) bool { return v == sessions })

		run := pxLoad{Addr: p.App, Sources: pxLoadSources(2), Workers: workers,
			Request: func(int) []byte { return pxGet(backend.PathSmall) }, Timeout: 5 * time.Second}.Start(ctx)
		run.WaitFirst()
		time.Sleep(300 * time.Millisecond)
		killed := time.Now()
		b.kill(t)

		var wsMax time.Duration
		for range sessions {
			select {
			case e := <-ends:
				wsMax = max(wsMax, e.at.Sub(killed))
				if ctx.Err() != nil {
					t.Fatalf("cycle %d: a WebSocket did not end before the test deadline", cycle)
				}
				var ce websocket.CloseError
				if !errors.As(e.err, &ce) && !strings.Contains(e.err.Error(), "EOF") {
					t.Logf("cycle %d: WebSocket ended with %v", cycle, e.err) // still an end; reported for the record
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("cycle %d: a WebSocket open during the backend kill was still open 5s later", cycle)
			}
		}
		pxWaitMetric(t, p.Admin, pxWSGauge(p.App), 5*time.Second, func(v float64) bool { return v == 0 })
		wsGauge := time.Since(killed)

		time.Sleep(outage)
		restarted := time.Now()
		b.start(t)
		time.Sleep(1500 * time.Millisecond)
		res, dials := run.Stop()

		var recovered time.Time
		for _, r := range res {
			if r.err == nil && r.status == 200 && r.start.After(restarted) && (recovered.IsZero() || r.done.Before(recovered)) {
				recovered = r.done
			}
		}
		if recovered.IsZero() {
			t.Fatalf("cycle %d: no request succeeded after the backend returned: %s", cycle, pxCount(res))
		}
		var before, during, after []pxResult
		for _, r := range res {
			switch {
			case r.done.Before(killed):
				before = append(before, r)
			case r.start.After(recovered):
				after = append(after, r)
			default:
				during = append(during, r)
			}
		}
		cb, cd, ca := pxCount(before), pxCount(during), pxCount(after)
		if cb.failed > 0 || cb.status[200] != cb.n {
			t.Errorf("cycle %d: before the kill: %s; want all 200", cycle, cb)
		}
		if cd.failed > 0 || cd.status[200]+cd.status[502] != cd.n || cd.status[502] == 0 {
			t.Errorf("cycle %d: backend down: %s; want only 502 (some) and 200, no failure or hang", cycle, cd)
		}
		if ca.failed > 0 || ca.status[200] != ca.n || ca.n == 0 {
			t.Errorf("cycle %d: after recovery: %s; want all 200", cycle, ca)
		}
		if len(dials) > 0 {
			t.Errorf("cycle %d: %d connections to the proxy failed: %v", cycle, len(dials), dials[0].err)
		}
		var slowest502 time.Duration
		for _, r := range during {
			if r.err == nil && r.status == 502 {
				slowest502 = max(slowest502, r.latency())
			}
		}
		c, err := pxWS(ctx, p.App, netip.MustParseAddr("203.0.113.99"))
		if err != nil {
			t.Fatalf("cycle %d: WebSocket after recovery: %v", cycle, err)
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
		pxWaitMetric(t, p.Admin, pxWSGauge(p.App), 5*time.Second, func(v float64) bool { return v == 0 })
		summary = append(summary, fmt.Sprintf("cycle %d: %d requests before the kill all 200; backend down %s: %d requests → %d×502 (slowest %s), %d×200 in flight, 0 failed/hung; "+
			"%d WebSockets ended ≤%s after the kill, gauge 0 after %s; recovered %s after restart, then %d requests all 200",
			cycle, cb.n, restarted.Sub(killed).Round(time.Millisecond), cd.n, cd.status[502], slowest502.Round(time.Millisecond), cd.status[200],
			sessions, wsMax.Round(time.Millisecond), wsGauge.Round(time.Millisecond), recovered.Sub(restarted).Round(time.Millisecond), ca.n))
	}
	for _, s := range summary {
		t.Logf("backend kill: %s", s)
	}
}

// TestProxyFaultBackendRestart restarts the backend between requests, as a
// deploy does: it closes the idle keep-alive connections the proxy pools.
// The next requests, which find only stale connections in the pool, must
// all succeed (a stale connection is retried on a fresh one, not on the next
// stale one).
func TestProxyFaultBackendRestart(t *testing.T) {
	const workers = 32
	cycles := pxScale(3, 20)
	b := pxStartBackend(t)
	p := pxStartProxy(t, b.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*time.Minute)
	defer cancel()
	total := 0
	for cycle := 0; cycle <= cycles; cycle++ {
		if cycle > 0 {
			b.Proc.Stop() // SIGTERM: the backend closes its idle connections and exits
			b.start(t)
		}
		res, dials := pxLoad{Addr: p.App, Sources: pxLoadSources(2), Workers: workers, Count: 20,
			Request: func(int) []byte { return pxGet(backend.PathSmall) }, Timeout: 5 * time.Second}.Start(ctx).Wait()
		c := pxCount(res)
		if c.failed > 0 || c.status[200] != c.n || len(dials) > 0 {
			t.Fatalf("restart %d: %s, %d failed connections; want all 200", cycle, c, len(dials))
		}
		total += c.n
	}
	t.Logf("backend restart: %d graceful restarts between bursts of %d concurrent keep-alive requests, %d requests, 0 failed",
		cycles, workers, total)
}

// TestProxyFaultSIGTERM sends SIGTERM under load: every request sent
// before the signal gets its complete response; afterwards the proxy may
// close idle connections and refuse new ones, but nothing hangs, and it
// exits 0.
//
// "In flight" is precise: the request's bytes were fully written (the
// write returned, so on loopback they sat in the proxy's socket buffer)
// before the signal was sent, on a connection the proxy had already served.
// Every worker has one response before the signal, so no connection is in
// the listen backlog when the listener closes.
func TestProxyFaultSIGTERM(t *testing.T) {
	const workers, slow = 32, 8
	rounds := pxScale(1, 10)
	var summary []string
	for round := 1; round <= rounds; round++ {
		upstream, _ := pxStartApp(t)
		p := pxStartProxy(t, upstream, "")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run := pxLoad{Addr: p.App, Sources: pxLoadSources(2), Workers: workers, Timeout: 15 * time.Second,
			Request: func(w int) []byte {
				if w < slow {
					return pxGet("/slow") // 1 s in the app
				}
				return pxGet("/")
			}}.Start(ctx)
		run.WaitFirst()
		time.Sleep(1300 * time.Millisecond) // the slow requests are mid-way
		signaled := time.Now()
		if err := p.Proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exitErr := p.Proc.Wait(20 * time.Second)
		exited := time.Since(signaled)
		res, dials := run.Stop()
		cancel()
		if exitErr != nil {
			t.Errorf("round %d: exit after SIGTERM: %v; want status 0", round, exitErr)
		}
		var sent, afterRes []pxResult
		inFlight, slowInFlight := 0, 0
		for _, r := range res {
			if !r.wrote.IsZero() && r.wrote.Before(signaled) {
				sent = append(sent, r)
				if r.done.After(signaled) {
					inFlight++
					if r.latency() > 500*time.Millisecond {
						slowInFlight++
					}
				}
				continue
			}
			afterRes = append(afterRes, r)
		}
		cs, ca := pxCount(sent), pxCount(afterRes)
		if cs.failed > 0 || cs.status[200] != cs.n {
			t.Errorf("round %d: requests sent before SIGTERM: %s; want all 200", round, cs)
			for _, r := range sent {
				if r.err != nil {
					t.Logf("failed: start %s wrote %s done %s (signal at 0) new conn %v: %v", r.start.Sub(signaled), r.wrote.Sub(signaled),
						r.done.Sub(signaled), r.newConn, r.err)
				}
			}
		}
		if ca.hung > 0 {
			t.Errorf("round %d: requests sent after SIGTERM: %s; want none hung", round, ca)
		}
		refused := 0
		for _, d := range dials {
			if d.start.Before(signaled) {
				t.Errorf("round %d: connection failed before SIGTERM: %v", round, d.err)
			}
			if errors.Is(d.err, syscall.ECONNREFUSED) {
				refused++
			}
		}
		summary = append(summary, fmt.Sprintf("round %d: %d requests sent before the signal all 200 (%d in flight at the signal, %d of them 1 s /slow); "+
			"after it %d requests (%d ok, %d closed by the drain, 0 hung), %d new connections refused; exit 0 after %s",
			round, cs.n, inFlight, slowInFlight, ca.n, ca.status[200], ca.failed, refused, exited.Round(time.Millisecond)))
	}
	for _, s := range summary {
		t.Logf("SIGTERM under load: %s", s)
	}
}

// TestProxyFaultSIGHUP reloads the config repeatedly under load (keep-alive
// and new connections): no request fails. Each reload changes settings
// that apply per request (hsts) and one that replaces the upstream
// connection pool (upstream_timeout), while the listener keeps its socket.
func TestProxyFaultSIGHUP(t *testing.T) {
	const workers, churners = 32, 4
	reloads := pxScale(5, 60)
	b := pxStartBackend(t)
	p := pxStartProxy(t, b.URL, "    hsts: max-age=0\n    upstream_timeout: 10s\n")
	tmpl, err := os.ReadFile(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pxScale(time.Minute, 10*time.Minute))
	defer cancel()
	keep := pxLoad{Addr: p.App, Sources: pxLoadSources(2), Workers: workers, Timeout: 10 * time.Second,
		Request: func(int) []byte { return pxGet(backend.PathSmall) }}.Start(ctx)
	churn := pxLoad{Addr: p.App, Sources: pxLoadSources(2)[1:], Workers: churners, Timeout: 10 * time.Second,
		Request: func(int) []byte { return pxGetClose(backend.PathSmall) }}.Start(ctx)
	keep.WaitFirst()
	churn.WaitFirst()
	time.Sleep(300 * time.Millisecond)
	fdsBefore := pxMetricSum(pxMetrics(t, p.Admin), "process_open_fds")
	start := time.Now()
	for i := 1; i <= reloads; i++ {
		cfg := strings.Replace(string(tmpl), "hsts: max-age=0", fmt.Sprintf("hsts: max-age=%d", i), 1)
		cfg = strings.Replace(cfg, "upstream_timeout: 10s", fmt.Sprintf("upstream_timeout: %ds", 10+i), 1)
		if err := os.WriteFile(p.Config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.Proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		pxWaitMetric(t, p.Admin, `elbguard_proxy_reloads_total{result="ok"}`, 10*time.Second, func(v float64) bool { return v == float64(i) })
		resp := pxRawRequest(t, "127.0.0.1", p.App, append(pxV1From(t, "198.51.100.200"), pxGetClose(backend.PathSmall)...))
		if want := fmt.Sprintf("max-age=%d", i); resp == nil || resp.Header.Get("Strict-Transport-Security") != want {
			t.Fatalf("after reload %d: %v; want 200 with Strict-Transport-Security %s", i, resp, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
	fdsAfter := pxMetricSum(pxMetrics(t, p.Admin), "process_open_fds")
	reloading := time.Since(start)
	kres, kdials := keep.Stop()
	cres, cdials := churn.Stop()
	ck, cc := pxCount(kres), pxCount(cres)
	if ck.failed > 0 || ck.status[200] != ck.n || cc.failed > 0 || cc.status[200] != cc.n || len(kdials)+len(cdials) > 0 {
		t.Errorf("across %d reloads: keep-alive %s; new connections %s; %d failed connection attempts; want all 200",
			reloads, ck, cc, len(kdials)+len(cdials))
	}
	// Each reload replaces the upstream pool; connections in use at the
	// reload must be closed when released, not pooled out of reach (that
	// leaked up to one per worker per reload).
	if fdsAfter > fdsBefore+workers {
		t.Errorf("proxy open fds %g before %d reloads, %g after; want at most %d more (the pool's size bound)", fdsBefore, reloads, fdsAfter, workers)
	}
	if errs := pxMetricSum(pxMetrics(t, p.Admin), `elbguard_proxy_reloads_total{result="error"}`); errs > 0 {
		t.Errorf("reloads_total{result=\"error\"} = %g; want 0", errs)
	}
	t.Logf("SIGHUP under load: %d reloads in %s (hsts and upstream_timeout changed each time, pool replaced), %d keep-alive + %d new-connection requests, "+
		"0 failed; proxy open fds %g before, %g after", reloads, reloading.Round(time.Millisecond), ck.n, cc.n, fdsBefore, fdsAfter)
}
