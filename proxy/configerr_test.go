package proxy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil { //nolint:gosec // testdata
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path) //nolint:gosec // testdata
	if err != nil {
		t.Fatalf("read golden (go test -run %s -update writes it): %v", t.Name(), err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
	}
}

// TestConfigErrorsGolden: every bad config of testdata/config/*.yaml is
// refused with the file, the line, and the config's own words (the key as
// written, the listener's index, what a value should look like), never a
// Go type; testdata/config/errors.golden holds the messages.
func TestConfigErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs in testdata/config: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f) //nolint:gosec // testdata
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseConfig(data)
		if err == nil {
			t.Errorf("%s: accepted; want an error", f)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", f, err)
		}
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %T is not a *ConfigError", f, err)
		}
		ce.File = "proxy.yaml"
		msg := ce.Error()
		for _, goName := range []string{"time.Duration", "!!str", "!!int", "unmarshal", "[]string", "proxy: ", "ListenerConfig", "field "} {
			if strings.Contains(msg, goName) {
				t.Errorf("%s: %q speaks Go (%q), not the config's words", f, msg, goName)
			}
		}
		b.WriteString(filepath.Base(f) + ": " + msg + "\n")
	}
	golden(t, "config/errors.golden", b.String())
}

// LoadConfig names the file as given, as nginx names nginx.conf.
func TestLoadConfigNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte("listeners:\n  - {listen: \":80\", mode: redirect, proxy_protocl: optional}\n"), 0o600); err != nil { //nolint:misspell // the typo is the input under test
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	want := path + `:2: unknown key "proxy_protocl" in listeners[0]; did you mean "proxy_protocol"?` //nolint:misspell // the typo is the input under test
	if err == nil || err.Error() != want {
		t.Errorf("got %v; want %s", err, want)
	}
}

// A bare number for a duration is seconds, as in nginx (body_timeout 60;
// means 60s); units and zero work as before.
func TestDurationBareNumber(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"60", 60 * time.Second},
		{"1", time.Second},
		{"90s", 90 * time.Second},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{`"45"`, 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := ParseConfig([]byte("shutdown_timeout: " + tt.value + "\nlisteners:\n  - {listen: \":80\", mode: redirect, body_timeout: " + tt.value + "}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Listeners[0].BodyTimeout; got != tt.want {
				t.Errorf("body_timeout: %s = %v; want %v", tt.value, got, tt.want)
			}
			if got := cfg.ShutdownTimeout; got != tt.want {
				t.Errorf("shutdown_timeout: %s = %v; want %v", tt.value, got, tt.want)
			}
		})
	}
}

// Every key of the shipped config is known (the walk knows Config's keys
// from its yaml tags, so a key added to Config is never refused), and
// values of every kind decode as they did.
func TestConfigWalkKnowsEveryKey(t *testing.T) {
	cfg, err := ParseConfig([]byte(`admin: "127.0.0.1:9901"
admin_pprof: true
procs: 2
access_log: {path: "-", format: json, flush_interval: 2s}
listeners:
  - listen: 127.0.0.1:8081
    mode: tcp
    upstream: 127.0.0.1:9
    proxy_protocol: optional
    trusted_cidrs: [10.0.0.0/8, 127.0.0.1]
    send_proxy: v2
    max_header_bytes: 8192
    underscores_in_headers: true
`))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners[0]
	if !cfg.AdminPprof || cfg.Procs != 2 || cfg.AccessLog.FlushInterval != 2*time.Second || len(l.TrustedCIDRs) != 2 ||
		l.SendProxy != "v2" || l.MaxHeaderBytes != 8192 || !l.UnderscoresInHeaders {
		t.Errorf("decoded %+v %+v", cfg, l)
	}
}

// The access log format once called "elb" is nginx's combined: "combined"
// is its name, "elb" still works and says so.
func TestAccessLogFormatELBDeprecated(t *testing.T) {
	cfg, err := ParseConfig([]byte("access_log: {path: '-', format: elb}\nlisteners: [{listen: ':80', mode: redirect}]"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessLog.Format != LogFormatCombined || len(cfg.Warnings()) != 1 || !strings.Contains(cfg.Warnings()[0], `"combined"`) {
		t.Errorf("format %q, warnings %q; want combined and one warning naming it", cfg.AccessLog.Format, cfg.Warnings())
	}
	if again, err := cfg.Normalize(); err != nil || len(again.Warnings()) != 1 {
		t.Errorf("normalized twice: %v, warnings %q; want the one warning", err, again.Warnings())
	}
	cfg, err = ParseConfig([]byte("listeners: [{listen: ':80', mode: redirect}]"))
	if err != nil || cfg.AccessLog.Format != LogFormatCombined || len(cfg.Warnings()) != 0 {
		t.Errorf("default: %v format %q warnings %q; want combined, none", err, cfg.AccessLog.Format, cfg.Warnings())
	}
}

// FuzzParseConfig: any bytes give a config or a *ConfigError wrapping
// ErrConfig, never a panic or a Go-worded error.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	files = append(files, "../deploy/elbguard-proxy.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil { //nolint:gosec // testdata
			f.Add(b)
		}
	}
	f.Add([]byte("a: &x {listen: ':1'}\nlisteners: [*x, *x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseConfig(data)
		if err == nil {
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
			t.Fatalf("%T %v: want a *ConfigError", err, err)
		}
	})
}

// Anchors live under x- keys (as in docker compose files) and merge keys
// bring their keys in, checked as if written there.
func TestConfigAnchors(t *testing.T) {
	cfg, err := ParseConfig([]byte(`x-app: &app
  mode: http
  upstream: http://127.0.0.1:8080
  body_timeout: 30
listeners:
  - <<: *app
    listen: ":81"
  - <<: *app
    listen: ":82"
    proxy_protocol: optional
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 2 || cfg.Listeners[1].Upstream != "http://127.0.0.1:8080" || cfg.Listeners[1].BodyTimeout != 30*time.Second || cfg.Listeners[1].ProxyProtocol != ProxyOptional {
		t.Errorf("listeners = %+v", cfg.Listeners)
	}
}

// The package's /etc/elbguard/proxy.yaml is the rollout's first step: it
// serves before the load balancer sends PROXY headers (optional), trusts
// the default private ranges, and logs in the combined format.
func TestPackageConfigIsRolloutStepOne(t *testing.T) {
	cfg, err := LoadConfig("../deploy/elbguard-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range cfg.Listeners {
		if l.ProxyProtocol != ProxyOptional || len(l.TrustedCIDRs) != 0 {
			t.Errorf("listeners[%d]: proxy_protocol %q, trusted_cidrs %v; want optional and the default ranges", i, l.ProxyProtocol, l.TrustedCIDRs)
		}
	}
	if cfg.AccessLog.Format != LogFormatCombined || len(cfg.Warnings()) != 0 {
		t.Errorf("access_log.format %q, warnings %q; want combined, none", cfg.AccessLog.Format, cfg.Warnings())
	}
}

// The optional durations (park_after, upstream_read_timeout: unset means
// their default, 0 means off) take a bare number as the others do; the
// documented way to turn parking off, park_after: 0, was refused in Go's
// words ("cannot unmarshal !!int `0` into time.Duration").
func TestOptionalDurationBareNumber(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"0", 0}, {"2", 2 * time.Second}, {"100ms", 100 * time.Millisecond}} {
		cfg, err := ParseConfig([]byte("listeners:\n  - {listen: \":80\", mode: http, upstream: \"http://127.0.0.1:8080\", park_after: " +
			tt.value + ", upstream_read_timeout: " + tt.value + "}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.value, err)
		}
		l := cfg.Listeners[0]
		if l.ParkAfter == nil || *l.ParkAfter != tt.want || l.UpstreamReadTimeout == nil || *l.UpstreamReadTimeout != tt.want {
			t.Errorf("park_after/upstream_read_timeout: %s = %v/%v; want %v", tt.value, l.ParkAfter, l.UpstreamReadTimeout, tt.want)
		}
	}
	_, err := ParseConfig([]byte("listeners:\n  - {listen: \":80\", mode: redirect, park_after: soon}\n"))
	if err == nil || !strings.Contains(err.Error(), `listeners[0].park_after: "soon" is not a duration`) || strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("park_after: soon: %v; want the config's words", err)
	}
}
