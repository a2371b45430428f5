package engine

import (
	"errors"
	"fmt"
	"testing"
)

// TestBudget: a run changes at most MaxChanges load balancers and stops
// changing after MaxErrors failed changes, exactly, with the engine's full
// concurrency; the rest are deferred with the calls they need and the reason.
func TestBudget(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		fail         bool // every CreateLoadBalancerPolicy fails
		wantChanged  int
		wantErrors   int
		wantDeferred int
		wantRule     string
	}{
		{"default change budget", Config{}, false, DefaultMaxChanges, 0, 30 - DefaultMaxChanges, RuleChangeBudget},
		{"change budget 1", Config{MaxChanges: 1}, false, 1, 0, 29, RuleChangeBudget},
		{"change budget above the fleet", Config{MaxChanges: 100}, false, 30, 0, 0, ""},
		{"default error budget", Config{MaxChanges: 100}, true, 0, DefaultMaxErrors, 30 - DefaultMaxErrors, RuleErrorBudget},
		{"error budget 1", Config{MaxChanges: 100, MaxErrors: 1}, true, 0, 1, 29, RuleErrorBudget},
		{"dry run defers as the real run", Config{DryRun: true}, false, 0, 0, 30 - DefaultMaxChanges, RuleChangeBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // the race: concurrent changes against one budget
				f := newFake()
				for i := range 30 {
					f.addClassic(fmt.Sprintf("web-%02d", i), map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
				}
				if tt.fail {
					f.fail["CreateLoadBalancerPolicy"] = errors.New("InternalFailure: boom")
				}
				cfg := tt.cfg
				cfg.Concurrency = MaxConcurrency
				res := sweep(t, newEngine(t, f, cfg))
				if got := res.Counts[StatusRemediated]; got != tt.wantChanged {
					t.Fatalf("got %d remediated; want %d (%v)", got, tt.wantChanged, res.Counts)
				}
				if got := res.Counts[StatusError]; got != tt.wantErrors {
					t.Fatalf("got %d errors; want %d (%v)", got, tt.wantErrors, res.Counts)
				}
				if got := res.Counts[StatusDeferred]; got != tt.wantDeferred {
					t.Fatalf("got %d deferred; want %d (%v)", got, tt.wantDeferred, res.Counts)
				}
				if got := f.calls["CreateLoadBalancerPolicy"]; !tt.cfg.DryRun && got != tt.wantChanged+tt.wantErrors {
					t.Fatalf("got %d policy creations; want %d", got, tt.wantChanged+tt.wantErrors)
				}
				for _, r := range res.Reports {
					if r.Status != StatusDeferred {
						continue
					}
					if r.Held == nil || r.Held.Rule != tt.wantRule || len(r.Actions) == 0 || r.Actions[0].Status != ActionHeld {
						t.Fatalf("%s: got held %+v, actions %+v; want %s with the calls held", r.Name, r.Held, r.Actions, tt.wantRule)
					}
				}
			}
		})
	}
}
