package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/engine"
)

// TestRunPlanned: remediate of everything asks on a terminal, refuses
// without one unless --yes, applies only after yes, and applies the plan it
// showed (the runner gets that very plan).
func TestRunPlanned(t *testing.T) {
	plan := &engine.Result{Found: 2, Processed: 2, Counts: map[engine.Status]int{engine.StatusNonCompliant: 1, engine.StatusHeld: 1}, Reports: []engine.Report{
		{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusNonCompliant,
			Actions: []engine.Action{{API: "DeleteLoadBalancerListeners", Target: "web:80", Params: "80", Status: engine.ActionPlanned}}},
		{Name: "gated", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusHeld,
			Held: &engine.Finding{Rule: engine.RuleBackendsNotReady, Detail: "1 of 1 registered instances lack elbguard:proxy-ready=true"}},
	}}
	tests := []struct {
		name      string
		yes       bool
		terminal  bool
		answer    string
		wantCode  int
		wantApply bool
		wantErr   string
	}{
		{"no terminal, no --yes", false, false, "", ExitUsage, false, "--yes"},
		{"terminal, answered no", false, true, "no\n", ExitFound, false, Confirmation},
		{"terminal, answered YES", false, true, "YES\n", ExitFound, false, "cancelled"},
		{"terminal, answered yes", false, true, "yes\n", ExitOK, true, Confirmation},
		{"--yes without a terminal", true, false, "", ExitOK, true, "held: backends_not_ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errb bytes.Buffer
			env := Env{Stdin: strings.NewReader(tt.answer), Stdout: &bytes.Buffer{}, Stderr: &errb, Terminal: tt.terminal}
			o := options{yes: tt.yes, output: "table"}
			var applied *engine.Result
			run := func(_ context.Context, cfg engine.Config, p *engine.Result) (*engine.Result, error) {
				if p == nil {
					if !cfg.DryRun {
						t.Fatal("the plan was computed without DryRun")
					}
					return plan, nil
				}
				applied = p
				return &engine.Result{Counts: map[engine.Status]int{engine.StatusRemediated: 1}, Reports: []engine.Report{
					{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusRemediated}}}, nil
			}
			res, code := runPlanned(t.Context(), env, "remediate", o, run)
			if code != tt.wantCode || (applied != nil) != tt.wantApply || !strings.Contains(errb.String(), tt.wantErr) {
				t.Fatalf("got exit %d, applied %v, stderr\n%s\nwant %d, applied %v, stderr naming %q", code, applied != nil, errb.String(), tt.wantCode, tt.wantApply, tt.wantErr)
			}
			if applied != nil && applied != plan {
				t.Errorf("applied a plan other than the one shown")
			}
			if tt.wantApply {
				if res.Counts[engine.StatusRemediated] != 1 || res.Counts[engine.StatusHeld] != 1 || len(res.Reports) != 2 {
					t.Errorf("got %+v; want web remediated and gated still held", res.Counts)
				}
				if exitFor(res, isLeftOver) != ExitFound {
					t.Errorf("a held load balancer left over exits 0; want 1")
				}
			}
		})
	}
}

// TestNotFound: a load balancer named on the command line that does not
// exist is not_found, not gone (which would archive findings of a
// resource that was never there).
func TestNotFound(t *testing.T) {
	res := &engine.Result{Counts: map[engine.Status]int{engine.StatusGone: 2}, Reports: []engine.Report{
		{Name: "typo", Type: engine.TypeClassic, Status: engine.StatusGone},
		{Name: "old", Type: engine.TypeClassic, Status: engine.StatusGone},
	}}
	notFound(res, []string{"typo", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/old"})
	if res.Counts[engine.StatusNotFound] != 2 || res.Counts[engine.StatusGone] != 0 || res.Reports[0].Findings[0].Rule != engine.RuleNotFound {
		t.Errorf("got %+v %+v; want both not_found with a finding", res.Counts, res.Reports)
	}
}
