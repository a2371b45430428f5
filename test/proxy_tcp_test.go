//go:build integration

package test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/harness"
)

// TestProxyTCPMode: HAProxy (send-proxy-v2) → elbguard-proxy in tcp mode
// with send_proxy v1 → a PROXY-aware line server, which must see the
// original client address.
func TestProxyTCPMode(t *testing.T) {
	backend, got := headerBackend(t)
	front := harness.FreeAddr(t)
	cfg := fmt.Sprintf("admin: off\nlisteners:\n  - listen: %q\n    mode: tcp\n    proxy_protocol: required\n    upstream: %s\n    send_proxy: v1\n",
		front, backend)
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.Start(t, harness.Build(t, "./cmd/elbguard-proxy"), []string{"--config", path})
	harness.WaitTCP(t, front, 10*time.Second)
	lb := harness.FreeAddr(t)
	harness.StartHAProxy(t, harness.HAProxyTCPDefaults+fmt.Sprintf(`frontend lb
  bind %s
  default_backend proxy
backend proxy
  server p %s send-proxy-v2
`, lb, front))
	// The line server answers only after the PROXY header and the line; the
	// header must name the client (127.0.0.11) and HAProxy's front address.
	client := netip.MustParseAddr("127.0.0.11")
	sendThrough(t, lb, client)
	checkHeader(t, got, 1, client, lb)
}
