package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSampleConfig(t *testing.T) {
	cfg, err := LoadConfig("../deploy/elbguard-proxy.yaml")
	if err != nil {
		t.Fatalf("deploy/elbguard-proxy.yaml: %v", err)
	}
	def, err := Default().Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 2 || cfg.Listeners[0].Mode != ModeRedirect || cfg.Listeners[1].Upstream != def.Listeners[1].Upstream {
		t.Errorf("sample config listeners = %+v; want the seed's :80 redirect and :81 app", cfg.Listeners)
	}
	if cfg.Admin != def.Admin || cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("admin %q shutdown %v; want %q 30s", cfg.Admin, cfg.ShutdownTimeout, def.Admin)
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../deploy/systemd/elbguard-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/bin/elbguard-proxy --config /etc/elbguard/proxy.yaml",
		"ExecReload=/usr/bin/elbguard-proxy reload --config /etc/elbguard/proxy.yaml --pid $MAINPID", "Type=notify", "NotifyAccess=all",
		"RuntimeDirectory=elbguard-proxy",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// TestSystemdUnitUnprivileged: the proxy runs as an unprivileged user whose
// only capability is binding ports below 1024, and nothing in the unit
// runs as root.
func TestSystemdUnitUnprivileged(t *testing.T) {
	b, err := os.ReadFile("../deploy/systemd/elbguard-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	svc := unitSection(string(b), "Service")
	if len(svc) == 0 {
		t.Fatalf("unit has no [Service] section")
	}
	last := func(k string) string { // systemd: the last assignment wins
		v := svc[k]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	user := last("User")
	if last("DynamicUser") != "yes" && (user == "" || user == "root" || user == "0") {
		t.Errorf("DynamicUser=%q User=%q; want DynamicUser=yes or a non-root User=", last("DynamicUser"), user)
	}
	for _, k := range []string{"User", "Group"} {
		for _, v := range svc[k] {
			if v == "root" || v == "0" {
				t.Errorf("%s=%s; want no root", k, v)
			}
		}
	}
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := strings.Join(svc[k], " "); got != "CAP_NET_BIND_SERVICE" {
			t.Errorf("%s = %q; want exactly CAP_NET_BIND_SERVICE", k, got)
		}
	}
	for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict"} {
		if got := last(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if v, ok := svc["PermissionsStartOnly"]; ok {
		t.Errorf("PermissionsStartOnly=%v: runs Exec lines as root; want it absent", v)
	}
	for k, vs := range svc {
		if !strings.HasPrefix(k, "Exec") {
			continue
		}
		for _, v := range vs {
			// "+" runs with full privileges, "!" and "!!" skip the user
			// switch; "-", "@", ":" are harmless.
			cmd := strings.TrimLeft(v, "-@:")
			if strings.HasPrefix(cmd, "+") || strings.HasPrefix(cmd, "!") {
				t.Errorf("%s=%s: the %q prefix runs it privileged", k, v, cmd[:1])
			}
		}
	}

	// systemd's own check, when the machine has it: the unit with ExecStart
	// pointing at an existing binary (verify requires one).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: skipping systemd-analyze verify")
		return
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary for systemd-analyze verify")
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "elbguard-proxy.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/elbguard-proxy", trueBin)), 0o600); err != nil {
		t.Fatal(err)
	}
	sock, err := os.ReadFile("../deploy/systemd/elbguard-proxy.socket")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "elbguard-proxy.socket"), sock, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, analyze, "verify", unit, filepath.Join(dir, "elbguard-proxy.socket")).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unitSection returns the assignments of one section of a systemd unit,
// key -> values in order; an empty assignment resets the list.
func unitSection(unit, section string) map[string][]string {
	out := map[string][]string{}
	in := false
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = line == "["+section+"]"
		case in:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if v == "" {
				out[k] = nil
				continue
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

func TestDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("listeners: [{listen: ':8081', mode: http, upstream: 'http://127.0.0.1:9'}]"))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners[0]
	if l.ProxyProtocol != ProxyRequired || l.ForwardedProto != "https" || l.HeaderTimeout != 5*time.Second ||
		cfg.HealthPath != "/healthz" || cfg.Admin != DefaultAdmin || cfg.ShutdownTimeout != 30*time.Second ||
		l.BodyTimeout != 60*time.Second || l.SendTimeout != 60*time.Second || l.UnderscoresInHeaders || len(l.TrustedCIDRs) != 0 ||
		l.RequestBuffering != BufferingOn || l.ClientBodyBufferSize != 16<<10 || l.ClientMaxBodySize != 1<<20 ||
		l.UpstreamReadTimeout == nil || *l.UpstreamReadTimeout != 60*time.Second {
		t.Errorf("defaults = %+v %+v", cfg, l)
	}
	// upstream_read_timeout: 0 is none, not the default.
	cfg, err = ParseConfig([]byte("listeners: [{listen: ':8081', mode: http, upstream: 'http://127.0.0.1:9', upstream_read_timeout: 0s, request_buffering: off, drop_request_headers: [X_Tenant]}]"))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Listeners[0]; l.upstreamReadTimeout() != 0 || l.RequestBuffering != BufferingOff || len(l.DropRequestHeaders) != 1 || l.DropRequestHeaders[0] != "x-tenant" {
		t.Errorf("upstream_read_timeout %v, request_buffering %q, drop_request_headers %q; want 0, off, [x-tenant]",
			l.upstreamReadTimeout(), l.RequestBuffering, l.DropRequestHeaders)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantField string
	}{
		{"no listeners", "admin: 127.0.0.1:1", "listeners"},
		{"bad mode", "listeners: [{listen: ':1', mode: https}]", "mode \"https\": allowed values are redirect, http, tcp"},
		{"bad proxy_protocol", "listeners: [{listen: ':1', mode: redirect, proxy_protocol: yes}]", "proxy_protocol \"yes\": allowed values are required, optional, off"},
		{"bad listen", "listeners: [{listen: '80', mode: redirect}]", "listen \"80\""},
		{"http without upstream", "listeners: [{listen: ':1', mode: http}]", "upstream \"\""},
		{"https upstream", "listeners: [{listen: ':1', mode: http, upstream: 'https://x:1'}]", "upstream"},
		{"tcp upstream url", "listeners: [{listen: ':1', mode: tcp, upstream: 'http://x:1'}]", "upstream"},
		{"bad cidr", "listeners: [{listen: ':1', mode: redirect, trusted_cidrs: [10.0.0.0/33]}]", "trusted_cidrs"},
		{"any among cidrs", "listeners: [{listen: ':1', mode: redirect, trusted_cidrs: [any, 10.0.0.0/8]}]", "trusted_cidrs: \"any\" trusts every source"},
		{"cidrs with off", "listeners: [{listen: ':1', mode: redirect, proxy_protocol: off, trusted_cidrs: [10.0.0.0/8]}]", "trusted_cidrs"},
		{"send_proxy on http", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', send_proxy: v2}]", "send_proxy"},
		{"bad send_proxy", "listeners: [{listen: ':1', mode: tcp, upstream: 'x:1', send_proxy: v3}]", "send_proxy \"v3\""},
		{"bad format", "access_log: {path: '-', format: apache}\nlisteners: [{listen: ':1', mode: redirect}]", "access_log.format \"apache\": allowed values are combined, json"},
		{"unknown field", "listeners: [{listen: ':1', mode: redirect, upstreams: x}]", "upstreams"},
		{"negative timeout", "listeners: [{listen: ':1', mode: redirect, header_timeout: -1s}]", "header_timeout"},
		{"negative body_timeout", "listeners: [{listen: ':1', mode: redirect, body_timeout: -1s}]", "body_timeout"},
		{"negative send_timeout", "listeners: [{listen: ':1', mode: redirect, send_timeout: -1s}]", "send_timeout"},
		{"duplicate", "listeners: [{listen: ':1', mode: redirect}, {listen: ':1', mode: redirect}]", "duplicate"},
		{"bad redirect_host", "listeners: [{listen: ':1', mode: redirect, redirect_host: 'a/b'}]", "redirect_host"},
		{"bad forwarded_proto", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', forwarded_proto: ftp}]", "forwarded_proto"},
		{"negative procs", "procs: -1\nlisteners: [{listen: ':1', mode: redirect}]", "procs -1"},
		{"bad request_buffering", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', request_buffering: yes}]", "request_buffering \"yes\": allowed values are on, off"},
		{"negative client_max_body_size", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', client_max_body_size: -1}]", "client_max_body_size"},
		{"negative client_body_buffer_size", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', client_body_buffer_size: -1}]", "client_body_buffer_size"},
		{"negative upstream_read_timeout", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', upstream_read_timeout: -1s}]", "upstream_read_timeout"},
		{"bad drop_request_headers", "listeners: [{listen: ':1', mode: http, upstream: 'http://x:1', drop_request_headers: ['X A']}]", "drop_request_headers \"X A\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("got %v; want an ErrConfig naming %q", err, tt.wantField)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	opts, err := ParseFlags([]string{"--http-listen", "127.0.0.1:8181", "--redirect-listen", "", "--upstream", "http://127.0.0.1:9000", "--trusted-cidrs", "10.0.0.0/8, 127.0.0.1"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Config.Listeners) != 1 || opts.Config.Listeners[0].Upstream != "http://127.0.0.1:9000" || len(opts.Config.Listeners[0].TrustedCIDRs) != 2 {
		t.Errorf("listeners = %+v", opts.Config.Listeners)
	}
	if _, err := ParseFlags([]string{"--config", "../deploy/elbguard-proxy.yaml", "--upstream", "http://x:1"}, os.Stderr); err == nil {
		t.Errorf("--config with --upstream: nil error; want refused")
	}
}

func ExampleParseConfig() {
	cfg, err := ParseConfig([]byte(`
listeners:
  - listen: ":80"
    mode: redirect
  - listen: ":81"
    mode: http
    upstream: http://127.0.0.1:8080
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range cfg.Listeners {
		fmt.Println(l.Listen, l.Mode, l.ProxyProtocol, l.HeaderTimeout)
	}
	// Output:
	// :80 redirect required 5s
	// :81 http required 5s
}
