package harness

import (
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// StartHAProxy starts HAProxy in the foreground with the given configuration
// text, after checking it with `haproxy -c`, and waits until every address in
// its bind lines accepts connections.
func StartHAProxy(t testing.TB, cfg string) *Process {
	t.Helper()
	bin := Tool(t, "haproxy")
	p, err := peer.StartHAProxy(Context(t, 30*time.Second), bin, t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p, "haproxy")
	return p
}

// NginxStreamModule returns the load_module directive that nginx needs for
// the stream module on Debian, or "".
func NginxStreamModule() string { return peer.NginxStreamModule() }

// StartNginx starts nginx in the foreground (daemon off) with the given
// configuration text and a private prefix directory, after checking it with
// `nginx -t`, and waits until every address in its listen lines accepts
// connections. The configuration must not set daemon or pid.
func StartNginx(t testing.TB, cfg string) *Process {
	t.Helper()
	bin := Tool(t, "nginx")
	p, err := peer.StartNginx(Context(t, 30*time.Second), bin, t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p, "nginx")
	return p
}

// HAProxyTCPDefaults is the global and defaults sections every test's HAProxy
// shares: TCP mode in the load balancer's place, with generous timeouts.
// Append frontend and backend sections to it.
const HAProxyTCPDefaults = `global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`
