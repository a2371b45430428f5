//go:build integration

package test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/benchmark/backend"
	"github.com/elbguard/elbguard/test/harness"
)

// TestProxyLoadKeepAlive10k holds 10,000 client connections open through
// the proxy at the same time, each starting with a PROXY v1 header, and
// sends keep-alive requests on every one of them: no request may fail.
//
// The test process holds the client sockets, the backend runs in its own
// process, and at most pxInFlight requests are outstanding at once (the
// proxy pools up to 1024 upstream connections), so the open files needed
// are the client connections plus a margin, in each process.
func TestProxyLoadKeepAlive10k(t *testing.T) {
	const inFlight = 256
	n := pxScale(10000, 16000)
	soakFor := pxScale(time.Duration(0), 2*time.Minute)
	pxNeedFiles(t, uint64(n)+2048)
	b := pxStartBackend(t)
	p := pxStartProxy(t, b.URL, "")
	sources := pxLoadSources(16) // 625 connections per source address

	ctx, cancel := context.WithTimeout(context.Background(), pxScale(60*time.Second, 10*time.Minute))
	defer cancel()
	conns := make([]*pxConn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var (
		requests, failed atomic.Int64
		mu               sync.Mutex
		errs             []string
		lat              []pxResult
	)
	fail := func(i int, err error) {
		failed.Add(1)
		mu.Lock()
		if len(errs) < 5 {
			errs = append(errs, fmt.Sprintf("connection %d: %v", i, err))
		}
		mu.Unlock()
	}
	req := pxGet(backend.PathSmall)
	use := func(i int, keep []pxResult) []pxResult {
		r := conns[i].do(req, 30*time.Second)
		requests.Add(1)
		switch {
		case r.err != nil:
			fail(i, r.err)
		case r.status != 200 || !r.keep:
			fail(i, fmt.Errorf("status %d, keep-alive %v; want 200 and keep-alive", r.status, r.keep))
		default:
			keep = append(keep, r)
		}
		return keep
	}
	// each runs fn on every connection index with inFlight workers.
	each := func(fn func(i int, keep []pxResult) []pxResult) {
		next := atomic.Int64{}
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				var mine []pxResult
				for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
					mine = fn(i, mine)
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
	}

	// Open every connection with a first request; none is closed until the
	// end.
	start := time.Now()
	each(func(i int, keep []pxResult) []pxResult {
		client := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c, err := pxDial(ctx, sources[i%len(sources)], p.App, client)
		if err != nil {
			fail(i, err)
			return keep
		}
		conns[i] = c
		return use(i, keep)
	})
	opened := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("opening %d connections: %d failed, first: %v", n, f, errs)
	}
	active := pxMetricSum(pxMetrics(t, p.Admin), `elbguard_proxy_connections_active{listener="`+p.App+`"}`)
	if active < float64(n) {
		t.Fatalf("proxy reports %g open connections; want all %d open at once", active, n)
	}

	// Then keep-alive requests on every open connection, round after round.
	rounds := 0
	for rounds < 2 || time.Since(start) < soakFor {
		each(func(i int, keep []pxResult) []pxResult { return use(i, keep) })
		rounds++
		if failed.Load() > 0 {
			break
		}
	}
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", f, requests.Load(), errs)
	}
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	left := pxWaitMetric(t, p.Admin, `elbguard_proxy_connections_active{listener="`+p.App+`"}`, 15*time.Second,
		func(v float64) bool { return v == 0 })
	t.Logf("keep-alive 10k: %d connections open at once (proxy gauge %g, opened in %s), %d requests (%d per connection), "+
		"0 failed, %d in flight at most, p50 %s p99 %s, %.0f req/s over %s; gauge back to %g after close",
		n, active, opened.Round(time.Millisecond), requests.Load(), rounds+1, inFlight,
		pxPercentile(lat, 0.5).Round(time.Microsecond), pxP99(lat).Round(time.Microsecond),
		float64(requests.Load())/elapsed.Seconds(), elapsed.Round(time.Millisecond), left)
}

// TestProxyLoadIdleWebSocket holds WebSockets with no traffic at all for
// longer than every timeout the proxy has, then echoes: the proxy must not
// cut an idle session (tunnel_idle_timeout is 0 by default: the load
// balancer's idle timeout governs). A second listener sets
// tunnel_idle_timeout above the hold, which must not cut either.
//
// The default run configures short header/idle/upstream/dial timeouts and
// holds 3× header_timeout and more than each of them; the soak run keeps the
// defaults (the longest, idle_timeout, is 120 s) and holds past them.
func TestProxyLoadIdleWebSocket(t *testing.T) {
	hold := pxScale(5*time.Second, 130*time.Second)
	timeouts := pxScale("    header_timeout: 1s\n    idle_timeout: 2s\n    upstream_timeout: 2s\n    dial_timeout: 1s\n", "")
	b := pxStartBackend(t)
	second := harness.FreeAddr(t)
	p := pxStartProxy(t, b.URL, timeouts+fmt.Sprintf(`  - listen: %q
    mode: http
    upstream: %s
    tunnel_idle_timeout: %s
%s`, second, b.URL, 2*hold, timeouts))
	harness.WaitTCP(t, second, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), hold+30*time.Second)
	defer cancel()
	type session struct {
		listener string
		c        *websocket.Conn
		reads    chan error
		echo     chan string
	}
	var ss []*session
	for i, addr := range []string{p.App, second} {
		c, err := pxWS(ctx, addr, netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.CloseNow() }()
		s := &session{listener: addr, c: c, reads: make(chan error, 1), echo: make(chan string, 1)}
		go func() { // a reader all along, so a cut is seen when it happens
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					s.reads <- err
					return
				}
				s.echo <- string(msg)
			}
		}()
		ss = append(ss, s)
	}
	opened := time.Now()
	for _, s := range ss {
		if v := pxMetricSum(pxMetrics(t, p.Admin), pxWSGauge(s.listener)); v != 1 {
			t.Errorf("listener %s: websockets_active = %g; want 1", s.listener, v)
		}
	}
	select {
	case err := <-ss[0].reads:
		t.Fatalf("the WebSocket on %s (no tunnel_idle_timeout) ended after %s idle: %v", ss[0].listener, time.Since(opened), err)
	case err := <-ss[1].reads:
		t.Fatalf("the WebSocket on %s (tunnel_idle_timeout %s) ended after %s idle: %v", ss[1].listener, 2*hold, time.Since(opened), err)
	case <-time.After(hold):
	}
	for _, s := range ss {
		if err := s.c.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
			t.Fatalf("listener %s: write after %s idle: %v", s.listener, hold, err)
		}
		select {
		case got := <-s.echo:
			if got != "still here" {
				t.Fatalf("listener %s: echo after idle = %q", s.listener, got)
			}
		case err := <-s.reads:
			t.Fatalf("listener %s: read after %s idle: %v", s.listener, hold, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("listener %s: no echo within 10s after %s idle", s.listener, hold)
		}
		if err := s.c.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Errorf("listener %s: close: %v", s.listener, err)
		}
	}
	for _, s := range ss {
		pxWaitMetric(t, p.Admin, pxWSGauge(s.listener), 5*time.Second, func(v float64) bool { return v == 0 })
	}
	t.Logf("idle WebSocket: 2 sessions held %s with no traffic (timeouts: %s; tunnel_idle_timeout 0 and %s), "+
		"both echoed afterwards, websockets_active back to 0", hold, pxScale("header 1s, idle 2s, upstream 2s, dial 1s", "defaults, idle 120s"), 2*hold)
}
