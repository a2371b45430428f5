package cli

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/elbguard/elbguard/engine"
)

func TestChanges(t *testing.T) {
	tests := []struct {
		name string
		r    engine.Report
		want string
	}{
		{"none", engine.Report{Status: engine.StatusCompliant}, "-"},
		{"classic", engine.Report{Status: engine.StatusRemediated, Actions: []engine.Action{
			{API: "CreateLoadBalancerPolicy", Target: "web/elbguard-proxy-protocol", Status: engine.ActionApplied},
			{API: "SetLoadBalancerPoliciesForBackendServer", Target: "web:instance-port/80", Status: engine.ActionApplied},
			{API: "SetLoadBalancerPoliciesForBackendServer", Target: "web:instance-port/81", Status: engine.ActionApplied},
			{API: "DeleteLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied},
			{API: "CreateLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied},
			{API: "DeleteLoadBalancerListeners", Target: "web:443", Status: engine.ActionApplied},
			{API: "CreateLoadBalancerListeners", Target: "web:443", Status: engine.ActionFailed},
			{API: "CreateLoadBalancerListeners", Target: "web:443", Status: engine.ActionRolledBack},
		}}, "applied: create proxy protocol policy; proxy protocol on instance ports 80,81; listeners 80,443 to TCP/SSL | failed: listeners 443 to TCP/SSL | rolled_back: listeners 443 to TCP/SSL"},
		{"nlb planned", engine.Report{Status: engine.StatusNonCompliant, Actions: []engine.Action{
			{API: "ModifyTargetGroupAttributes", Target: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/edge-tcp/73e2", Status: engine.ActionPlanned},
			{API: "ModifyListenerAttributes", Target: "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/edge/1/2", Status: engine.ActionPlanned},
		}}, "planned: proxy protocol v2 on target groups edge-tcp; idle timeout"},
		{"error finding", engine.Report{Status: engine.StatusError, Findings: []engine.Finding{{Rule: engine.RuleInvalidTag, Detail: "invalid tag value"}}}, "invalid tag value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changes(tt.r); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTable(t *testing.T) {
	res := &engine.Result{Found: 2, Processed: 2, Counts: map[engine.Status]int{engine.StatusSkipped: 1, engine.StatusCompliant: 1},
		Reports: []engine.Report{{Name: "web", Type: "classic", Mode: engine.ModeEnforce, Status: engine.StatusCompliant}, {Name: "old", Type: "classic", Mode: engine.ModeOff, Status: engine.StatusSkipped}}}
	var b bytes.Buffer
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	want := "TYPE     NAME  MODE     STATUS     CHANGES\nclassic  web   enforce  compliant  -\nclassic  old   off      skipped    -\n2 load balancers: 1 compliant, 1 skipped\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	tests := [][]string{{}, {"fix"}, {"audit", "arn:aws:ec2:us-east-1:1:instance/i-1"}, {"remediate", "--max-changes", "0"}, {"audit", "--max-errors", "-1"}, {"audit", "--default-mode", "on"}, {"handle"}, {"remediate", "--output", "yaml"}, {"audit", "--concurrency", "0"}}
	for _, args := range tests {
		var out, errb bytes.Buffer
		code := Run(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != ExitUsage || errb.Len() == 0 {
			t.Errorf("%q: got exit %d, stderr %q; want 2 with a message", args, code, errb.String())
		}
	}
}

func TestTargets(t *testing.T) {
	got, err := targets([]string{"web", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/old", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/edge/1"})
	if err != nil || len(got.Names) != 1 || len(got.Classic) != 1 || got.Classic[0] != "old" || len(got.LoadBalancers) != 1 {
		t.Errorf("got %+v, %v; want one name, Classic [old], one ELBv2 ARN", got, err)
	}
	for _, bad := range []string{"arn:aws:elasticloadbalancing:us-east-1:1:listener/net/edge/1/2", "arn:aws:ec2:us-east-1:1:instance/i-1", "arn:web"} {
		if _, err := targets([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: got %v; want an error naming it", bad, err)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "listener 80 is HTTP", 90, "listener 80 is HTTP"},
		{"exact", strings.Repeat("a", 90), 90, strings.Repeat("a", 90)},
		{"ascii cut", strings.Repeat("a", 91), 90, strings.Repeat("a", 87) + "..."},
		{"multibyte cut", strings.Repeat("é", 100), 90, strings.Repeat("é", 87) + "..."},
	}
	for _, tt := range tests {
		got := shorten(tt.in, tt.max)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("%s: shorten = %q; want %q (valid UTF-8)", tt.name, got, tt.want)
		}
	}
}
