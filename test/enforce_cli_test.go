//go:build integration

package test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/test/harness"
)

// enfRunCLI runs the real elbguard binary against moto.
func enfRunCLI(t *testing.T, m *harness.Moto, env []string, args ...string) harness.Result {
	t.Helper()
	bin := harness.Build(t, "./cmd/elbguard")
	return harness.Run(t, 2*time.Minute, bin, args, harness.WithEnv(append(m.Env(), env...)...))
}

// enfDecodeResult parses `--output json` of audit/remediate into name → report.
func enfDecodeResult(t *testing.T, out string) map[string]engine.Report {
	t.Helper()
	var res engine.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode elbguard json: %v\n%s", err, out)
	}
	got := map[string]engine.Report{}
	for _, r := range res.Reports {
		got[r.Name] = r
	}
	return got
}

// enfMutatingCalls parses `--stats` output and returns the mutating actions.
func enfMutatingCalls(stderr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+:(\w+))=(\d+)$`).FindAllStringSubmatch(stderr, -1) {
		op := m[2]
		if !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List") {
			out = append(out, m[1]+"="+m[3])
		}
	}
	return out
}

func enfWantStatuses(t *testing.T, got map[string]engine.Report, want map[string]engine.Status) {
	t.Helper()
	for name, status := range want {
		if got[name].Status != status {
			t.Errorf("%s: got status %q (findings %+v, actions %+v); want %q", name, got[name].Status, got[name].Findings, got[name].Actions, status)
		}
	}
}

// TestEnforceCLI drives the real elbguard binary over every load balancer
// shape in moto: audit and dry-run change nothing, remediate fixes exactly the
// tagged ones, and a second run makes zero mutating calls.
func TestEnforceCLI(t *testing.T) {
	m := harness.StartMoto(t)
	f := enfCreateFleet(t, m)

	before := map[string]engine.Status{
		enfWebEnforce: engine.StatusNonCompliant, enfWebUntagged: engine.StatusSkipped, enfWebAudit: engine.StatusNonCompliant,
		enfWebSSL: engine.StatusNonCompliant, enfWebBad: engine.StatusError, enfWebBadIdle: engine.StatusError,
		"edge-nlb": engine.StatusNonCompliant, "edge-nlb-untagged": engine.StatusSkipped, "web-alb": engine.StatusNotApplicable,
	}
	audit := enfRunCLI(t, m, nil, "audit", "--output", "json", "--stats")
	if audit.Code != 1 {
		t.Fatalf("audit: got exit %d; want 1\n%s", audit.Code, audit.Stderr)
	}
	enfWantStatuses(t, enfDecodeResult(t, audit.Stdout), before)
	if w := enfMutatingCalls(audit.Stderr); len(w) != 0 || !strings.Contains(audit.Stderr, "elb:DescribeTags=1") {
		t.Errorf("audit: got mutating calls %v (stats %s); want none and one DescribeTags", w, audit.Stderr)
	}

	dry := enfRunCLI(t, m, nil, "remediate", "--dry-run", "--output", "json", "--stats")
	got := enfDecodeResult(t, dry.Stdout)
	enfWantStatuses(t, got, before)
	if w := enfMutatingCalls(dry.Stderr); len(w) != 0 {
		t.Errorf("dry run: got mutating calls %v; want none", w)
	}
	if acts := got[enfWebEnforce].Actions; len(acts) == 0 || slices.ContainsFunc(acts, func(a engine.Action) bool { return a.Status != engine.ActionPlanned }) {
		t.Errorf("dry run: got actions %+v; want every action planned", acts)
	}
	if l, _, _ := f.classicState(t, enfWebEnforce); !strings.HasPrefix(l[80], "HTTP:80") {
		t.Fatalf("dry run changed %s: listener 80 is %s", enfWebEnforce, l[80])
	}

	table := enfRunCLI(t, m, nil, "remediate", "--yes", "--stats")
	if table.Code != 1 { // web-bad and web-bad-idle are errors
		t.Fatalf("remediate: got exit %d; want 1\nstdout:\n%s\nstderr:\n%s", table.Code, table.Stdout, table.Stderr)
	}
	t.Logf("remediate table:\n%s\n%s", table.Stdout, table.Stderr)
	for _, want := range []string{"classic      web-enforce ", "remediated", "application  web-alb ", "not_applicable", "invalid tag value"} {
		if !strings.Contains(table.Stdout, want) {
			t.Errorf("remediate table lacks %q:\n%s", want, table.Stdout)
		}
	}

	// Read the end state back.
	l, backend, idle := f.classicState(t, enfWebEnforce)
	// moto gap: moto reports InstanceProtocol equal to Protocol, so only the
	// front protocol, ports, certificate and policies are compared.
	if !strings.HasPrefix(l[80], "TCP:80->") || strings.Contains(l[80], "sticky") ||
		!strings.HasPrefix(l[443], "SSL:443->") || !strings.HasSuffix(l[443], ":81 cert[tls-2017]") ||
		!strings.HasPrefix(l[9000], "TCP:9000->") {
		t.Errorf("%s listeners: got %v; want TCP:80 without sticky, SSL:443->81 with cert and tls-2017, TCP:9000", enfWebEnforce, l)
	}
	for port, want := range map[int32][]string{80: {"elbguard-proxy-protocol"}, 81: {"backend-auth", "elbguard-proxy-protocol"}, 9000: {"elbguard-proxy-protocol"}} {
		if !slices.Equal(backend[port], want) {
			t.Errorf("%s backend %d: got %v; want %v", enfWebEnforce, port, backend[port], want)
		}
	}
	if idle != 3600 {
		t.Errorf("%s idle timeout: got %d; want 3600", enfWebEnforce, idle)
	}
	l, backend, _ = f.classicState(t, enfWebUntagged)
	if l[80] != "HTTP:80->HTTP:80[sticky]" || l[443] != "HTTPS:443->HTTP:81 cert[tls-2017]" || !slices.Equal(backend[81], []string{"backend-auth"}) || len(backend) != 1 {
		t.Errorf("%s changed: listeners %v backend %v", enfWebUntagged, l, backend)
	}
	for _, name := range []string{enfWebAudit, enfWebBad, enfWebBadIdle} {
		if l, backend, _ := f.classicState(t, name); !strings.HasPrefix(l[80], "HTTP:80") || len(backend) != 0 {
			t.Errorf("%s changed: listeners %v backend %v", name, l, backend)
		}
	}
	l, backend, _ = f.classicState(t, enfWebSSL)
	if !strings.HasPrefix(l[443], "SSL:443") || !slices.Equal(backend[443], []string{"elbguard-proxy-protocol"}) || !slices.Equal(backend[80], []string{"elbguard-proxy-protocol"}) {
		t.Errorf("%s: listeners %v backend %v; want SSL kept and proxy protocol on 80 and 443", enfWebSSL, l, backend)
	}
	for tg, want := range map[string]string{"edge-tcp": "true", "edge-tls": "true", "edge-udp": "", "edge-off-tcp": "", "web-alb-http": ""} {
		if got := f.proxyV2(t, f.tgs[tg]); got != want {
			t.Errorf("target group %s: got proxy_protocol_v2.enabled %q; want %q", tg, got, want)
		}
	}
	if got := f.listenerIdle(t, f.nlb, 80); got != "900" {
		t.Errorf("edge-nlb TCP listener idle timeout: got %q; want 900", got)
	}
	if got := f.listenerIdle(t, f.nlb, 443); got != "350" {
		t.Errorf("edge-nlb TLS listener idle timeout: got %q; want the default 350", got)
	}

	// Second run: every enforced load balancer compliant, zero mutating calls.
	again := enfRunCLI(t, m, nil, "remediate", "--yes", "--output", "json", "--stats")
	got = enfDecodeResult(t, again.Stdout)
	enfWantStatuses(t, got, map[string]engine.Status{enfWebEnforce: engine.StatusCompliant, enfWebSSL: engine.StatusCompliant, "edge-nlb": engine.StatusCompliant})
	if w := enfMutatingCalls(again.Stderr); len(w) != 0 {
		t.Errorf("second run: got mutating calls %v; want 0\n%s", w, again.Stderr)
	}
	t.Logf("second run API calls:\n%s", again.Stderr)

	// Named targets: names of either kind, ARNs, and a missing one.
	named := enfRunCLI(t, m, nil, "remediate", "--dry-run", "--output", "json", enfWebUntagged, "edge-nlb-untagged", f.alb, "no-such-lb")
	enfWantStatuses(t, enfDecodeResult(t, named.Stdout), map[string]engine.Status{enfWebUntagged: engine.StatusSkipped,
		"edge-nlb-untagged": engine.StatusSkipped, "web-alb": engine.StatusNotApplicable, "no-such-lb": engine.StatusNotFound})
	if named.Code != 1 { // a named load balancer that does not exist is no success
		t.Errorf("named dry run: got exit %d; want 1\n%s", named.Code, named.Stderr)
	}
}

// TestEnforceCLIUsageAndEndpointErrors checks exit status 2.
func TestEnforceCLIUsageAndEndpointErrors(t *testing.T) {
	m := harness.StartMoto(t)
	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"unknown command", nil, []string{"fix"}},
		{"bad mode", nil, []string{"audit", "--default-mode", "on"}},
		{"bad env", []string{"ELBGUARD_CONCURRENCY=0"}, []string{"audit"}},
		{"bad output", nil, []string{"remediate", "--output", "yaml"}},
		{"handle without file", nil, []string{"handle"}},
		{"malformed ARN", nil, []string{"remediate", "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/edge/1/2"}},
		{"everything without --yes or a terminal", nil, []string{"remediate"}},
		{"bad max changes", nil, []string{"remediate", "--max-changes", "0"}},
		{"bad env budget", []string{"ELBGUARD_MAX_ERRORS=none"}, []string{"audit"}},
		{"endpoint down", []string{"AWS_ENDPOINT_URL=http://" + harness.FreeAddr(t), "AWS_MAX_ATTEMPTS=1"}, []string{"audit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := enfRunCLI(t, m, tt.env, tt.args...)
			if res.Code != 2 || res.Stderr == "" {
				t.Errorf("got exit %d, stderr %q; want 2 with a message", res.Code, res.Stderr)
			}
		})
	}
}
