package engine

import "testing"

// TestReadinessHoldKeepsIaCFinding: a load balancer that infrastructure as
// code owns and whose back ends are not ready is held for both reasons;
// the report names both, so that the owner learns the change belongs in
// the template.
func TestReadinessHoldKeepsIaCFinding(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "web-prod"}, listener("HTTP", 80, "HTTP", 80))
	register(c, "i-1")
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{}, allCerts())), "web")
	if r.Status != StatusHeld || f.writes() != 0 {
		t.Fatalf("got %s with %d writes; want held, nothing written", r.Status, f.writes())
	}
	for _, rule := range []string{RuleManagedByIaC, RuleBackendsNotReady} {
		if !hasRule(r, rule) {
			t.Errorf("no %s finding in %+v", rule, r.Findings)
		}
	}
}
