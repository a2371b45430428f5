package proxy

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestGracefulShutdown(t *testing.T) {
	be, seen := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, _, err := roundTrip(t, addrs[0], cat(hdr, get("/slow", "x")))
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{status: resp.StatusCode}
	}()
	// The request is in flight once the app has it (it answers /slow 300ms
	// later).
	for deadline := time.Now().Add(5 * time.Second); seen.count() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the app did not receive the request within 5s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("in-flight request: %d, %v; want 200", r.status, r.err)
	}
}

func TestShutdownDeadlineClosesSessions(t *testing.T) {
	up, _ := lineServer(t, false)
	s, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeTCP, Upstream: up}}})
	c := dialWithHeader(t, addrs[0])
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err == nil {
		t.Errorf("shutdown with an open session: nil error; want the deadline reported")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v; want about 200ms", d)
	}
}

func TestHealthDuringDrain(t *testing.T) {
	s, addrs := startServer(t, Config{Listeners: []ListenerConfig{{Mode: ModeRedirect}}})
	s.draining.Store(true)
	resp, _, err := roundTrip(t, addrs[0], get("/healthz", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d; want 503", resp.StatusCode)
	}
	resp, _, err = roundTrip(t, s.AdminAddr().String(), get("/healthz", "x"))
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("admin health: %v, %v; want 503", resp, err)
	}
}

func TestReload(t *testing.T) {
	be1, seen1 := backend(t)
	be2, seen2 := backend(t)
	dir := t.TempDir()
	cfg := appConfig(be1.URL, nil)
	cfg.AccessLog = AccessLogConfig{Path: dir + "/a.log"}
	s, addrs := startServer(t, cfg)
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	if _, _, err := roundTrip(t, addrs[0], cat(hdr, get("/one", "x"))); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Listeners = []ListenerConfig{{Listen: "127.0.0.1:0", Mode: ModeHTTP, Upstream: be2.URL, ProxyProtocol: ProxyOptional}}
	next.AccessLog = AccessLogConfig{Path: dir + "/b.log", Format: LogFormatJSON}
	if err := s.Reload(context.Background(), next); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := s.Addrs()[0].String(); got != addrs[0] {
		t.Errorf("listener address after reload = %s; want %s kept", got, addrs[0])
	}
	resp, _, err := roundTrip(t, addrs[0], get("/two", "x"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after reload: %v, %v; want 200 without a header (optional)", resp, err)
	}
	if seen1.count() != 1 || seen2.count() != 1 {
		t.Errorf("backends saw %d and %d requests; want 1 and 1", seen1.count(), seen2.count())
	}
	bad := next
	bad.Listeners = []ListenerConfig{{Listen: "127.0.0.1:0", Mode: "bogus"}}
	if err := s.Reload(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("reload with bad mode: %v; want an error naming mode", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	b, _ := os.ReadFile(dir + "/b.log")
	if !strings.Contains(string(b), `"uri":"/two"`) {
		t.Errorf("new JSON log = %q; want the /two request", b)
	}
}

func TestReopenAccessLog(t *testing.T) {
	be, _ := backend(t)
	dir := t.TempDir()
	cfg := appConfig(be.URL, nil)
	cfg.AccessLog = AccessLogConfig{Path: dir + "/access.log", FlushInterval: 10 * time.Millisecond}
	s, addrs := startServer(t, cfg)
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:81")
	_, _, _ = roundTrip(t, addrs[0], cat(hdr, get("/before", "x")))
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(dir + "/access.log"); strings.Contains(string(b), "/before") {
			break
		}
	}
	if err := os.Rename(dir+"/access.log", dir+"/access.log.1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenAccessLog(); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	_, _, _ = roundTrip(t, addrs[0], cat(hdr, get("/after", "x")))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	old, _ := os.ReadFile(dir + "/access.log.1")
	cur, _ := os.ReadFile(dir + "/access.log")
	if !strings.Contains(string(old), "/before") || strings.Contains(string(old), "/after") {
		t.Errorf("rotated log = %q; want only /before", old)
	}
	if !strings.Contains(string(cur), "/after") {
		t.Errorf("new log = %q; want /after", cur)
	}
}

func TestApplyProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	tests := []struct {
		name  string
		env   string
		procs int
		want  int
	}{
		{"default: every core", "", 0, startProcs},
		{"configured", "", 3, 3},
		{"GOMAXPROCS set wins: unchanged", "2", 5, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tt.env)
			if tt.want < 0 {
				tt.want = runtime.GOMAXPROCS(0)
			}
			if got := applyProcs(tt.procs); got != tt.want || runtime.GOMAXPROCS(0) != tt.want {
				t.Errorf("applyProcs(%d) = %d, GOMAXPROCS %d; want %d", tt.procs, got, runtime.GOMAXPROCS(0), tt.want)
			}
		})
	}
}
