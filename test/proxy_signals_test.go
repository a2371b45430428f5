//go:build integration

package test

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxySignals: SIGHUP applies a rewritten config (new upstream) on the
// same socket; SIGUSR1 reopens the access log after logrotate's rename.
func TestProxySignals(t *testing.T) {
	oldApp, oldRec := pxStartApp(t)
	newApp, newRec := pxStartApp(t)
	p := pxStartProxy(t, oldApp, "")
	send := func(path string) {
		t.Helper()
		resp := pxRawRequest(t, "127.0.0.1", p.App, append(pxV1From(t, "198.51.100.20"), "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
		if resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v; want 200", path, resp)
		}
	}
	send("/before-reload")
	cfgPath := p.Config
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), oldApp, newApp, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for newRec.count() == 0 && time.Now().Before(deadline) {
		send("/after-reload")
		time.Sleep(50 * time.Millisecond)
	}
	if newRec.count() == 0 {
		t.Fatalf("after SIGHUP the new upstream got no request (old one got %d)", oldRec.count())
	}

	pxWaitLog(t, p.Log, "/after-reload")
	if err := os.Rename(p.Log, p.Log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		send("/after-reopen")
		if b, _ := os.ReadFile(p.Log); strings.Contains(string(b), "/after-reopen") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after SIGUSR1 no line reached the reopened %s", p.Log)
}
