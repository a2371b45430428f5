package benchmark

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/benchmark/report"
)

func TestTemplatesRenderAlike(t *testing.T) {
	root := ".."
	d := templateData{Redirect: "127.0.0.1:1001", App: "127.0.0.1:1002", Backend: "127.0.0.1:1003", Admin: "127.0.0.1:1004", Dir: "/tmp/x"}
	// HAProxy logs to stdout, so it has no use for the run directory.
	for name, logs := range map[string]bool{"nginx.conf.tmpl": true, "haproxy.cfg.tmpl": false, "elbguard-proxy.yaml.tmpl": true} {
		t.Run(name, func(t *testing.T) {
			got, err := render(root, name, d)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if strings.Contains(got, "<no value>") {
				t.Errorf("rendered %s has an unfilled field:\n%s", name, got)
			}
			wants := []string{d.Redirect, d.App, d.Backend}
			if logs {
				wants = append(wants, "/tmp/x/access.log")
			}
			for _, want := range wants {
				if !strings.Contains(got, want) {
					t.Errorf("rendered %s lacks %q", name, want)
				}
			}
		})
	}
}

func TestPublishReplacesOnlyTheGeneratedSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	before := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\nnotes\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := publish(path, "new table\n"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nnew table\n" + endMarker + "\n\nnotes\n"
	if string(b) != want {
		t.Errorf("after publish:\n%s\nwant:\n%s", b, want)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := publish(path, "x"); err == nil {
		t.Errorf("publish without markers: got nil error; want one")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(Config) bool
	}{
		{"defaults", nil, false, func(c Config) bool { return c.Proxy.ProxyVersion == 1 && !c.Quick && filepath.IsAbs(c.Root) }},
		{"quick and n", []string{"-quick", "-n", "10, 20"}, false, func(c Config) bool { return c.Quick && len(c.Scale.Ns) == 2 && c.Scale.Ns[1] == 20 }},
		{"bad only", []string{"-only", "both"}, true, nil},
		{"bad proxy version", []string{"-proxy-version", "3"}, true, nil},
		{"bad n", []string{"-n", "ten"}, true, nil},
		{"stray argument", []string{"extra"}, true, nil},
		{"scenario implies proxy", []string{"-scenario", "churn"}, false, func(c Config) bool { return c.Only == "proxy" && c.Proxy.Scenario == "churn" }},
		{"scenario with only enforce", []string{"-scenario", "churn", "-only", "enforce"}, true, nil},
		{"proxies in order", []string{"-proxies", "haproxy, elbguard-proxy"}, false, func(c Config) bool {
			return slices.Equal(c.Proxy.Proxies, []string{HAProxy, Elbguard})
		}},
		{"baseline by default after ours", []string{"-baseline-bin", "old/elbguard-proxy"}, false, func(c Config) bool {
			p := c.Proxy.withDefaults()
			return filepath.IsAbs(p.BaselineBin) && slices.Equal(p.Proxies, []string{Elbguard, Baseline, Nginx, HAProxy})
		}},
		{"baseline without its binary", []string{"-proxies", "elbguard-proxy,baseline"}, true, nil},
		{"unknown proxy", []string{"-proxies", "envoy"}, true, nil},
		{"proxy named twice", []string{"-proxies", "nginx,nginx"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseFlags(tt.args, &strings.Builder{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFlags(%q) error = %v; want error %v", tt.args, err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("ParseFlags(%q) = %+v; not what was asked", tt.args, c)
			}
		})
	}
}

func TestScenarioFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"no filter runs all", "", []string{"keep-alive GET, 128 B body", "redirect listener (301)",
			"keep-alive POST, 1 KiB request body", "keep-alive POST, 64 KiB request body", "connection churn, PROXY v1",
			"connection churn, PROXY v2", "WebSocket echo, 64 B, 4 connections", "WebSocket bulk, 64 KiB messages, 1 connection"}},
		{"churn", "churn", []string{"connection churn, PROXY v1", "connection churn, PROXY v2"}},
		{"case-insensitive", "PROXY V2", []string{"connection churn, PROXY v2"}},
		{"request bodies", "post", []string{"keep-alive POST, 1 KiB request body", "keep-alive POST, 64 KiB request body"}},
		{"none", "gopher", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range (ProxyConfig{Scenario: tt.filter}).withDefaults().scenarios() {
				got = append(got, s.name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("scenarios with -scenario %q = %q; want %q", tt.filter, got, tt.want)
			}
		})
	}
	c := ProxyConfig{Scenario: "idle"}
	if !c.selects(idleScenario(5000)) || c.selects("connection churn, PROXY v1") {
		t.Errorf("-scenario idle: selects(%q) = %v, selects(churn) = %v; want true, false",
			idleScenario(5000), c.selects(idleScenario(5000)), c.selects("connection churn, PROXY v1"))
	}
}

// TestMarkdownBaselineColumn: a run with -baseline-bin shows the
// baseline's column and this build's ratio to it; a run without does not.
func TestMarkdownBaselineColumn(t *testing.T) {
	r := report.Row{Scenario: "keep-alive GET", Metric: "throughput", Unit: "req/s", Better: report.Higher}
	r.Set(Elbguard, 103)
	res := &Results{Proxy: []report.Row{r}}
	if got := Markdown(res); strings.Contains(got, Baseline) {
		t.Errorf("Markdown without a baseline has a %s column:\n%s", Baseline, got)
	}
	r.Set(Baseline, 100)
	res.Proxy = []report.Row{r}
	got := Markdown(res)
	for _, want := range []string{"| scenario | figure | elbguard-proxy | baseline | nginx |", "elbguard-proxy ÷ baseline", "| 1.03× |"} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown with a baseline lacks %q:\n%s", want, got)
		}
	}
}

func TestMarkdownListsMissingFigures(t *testing.T) {
	r := report.Row{Scenario: "keep-alive GET", Metric: "throughput", Unit: "req/s", Better: report.Higher}
	r.Set(Elbguard, 100)
	res := &Results{Command: "make bench", Proxy: []report.Row{r}, Missing: []string{"keep-alive GET throughput nginx: not measured"},
		Machine: Machine{Cores: 2, Versions: map[string]string{"nginx": "nginx/1.22.1"}}}
	got := Markdown(res)
	for _, want := range []string{"Command: `make bench`", "| keep-alive GET |", "nginx nginx/1.22.1", "No number for:", "not measured"} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, got)
		}
	}
}

func TestDechunk(t *testing.T) {
	if got := dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"); got != "abcde" {
		t.Errorf("dechunk = %q; want abcde", got)
	}
}
