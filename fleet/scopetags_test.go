package fleet

import (
	"context"
	"testing"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// Every load-balancer tag the engine reads is an event: removing an
// exemption, narrowing elbguard:ports or adding elbguard:iac=override acts
// at once (and updates Security Hub's suppressed finding), not at the next
// sweep.
func TestScopeTagChangesReconcile(t *testing.T) {
	for _, key := range []string{engine.TagPorts, engine.TagIaC, engine.TagExemptUntil, engine.TagExemptReason} {
		raw := reshape(t, sample(t, "tag_change_classic.json"), func(ev map[string]any) { detail(ev)["changed-tag-keys"] = []any{key} })
		h, _, _ := newHandler(t, &emptyAccount{})
		out, err := h.Handle(context.Background(), raw)
		if err != nil || out.Decision.Kind != events.KindReconcile {
			t.Errorf("%s: got %+v, %v; want a reconcile", key, out.Decision, err)
		}
	}
}
