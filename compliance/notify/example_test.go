package notify_test

import (
	"fmt"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/notify"
	"github.com/elbguard/elbguard/engine"
)

func ExampleCompose() {
	r := engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusRemediated,
		Actions: []engine.Action{{API: "SetLoadBalancerPoliciesForBackendServer", Target: "web:instance-port/80", Status: engine.ActionApplied}}}
	m, ok := notify.Compose(r, compliance.Trigger{Kind: compliance.TriggerSweep}, "123456789012", "us-east-1")
	fmt.Println(ok, m.Subject)
	fmt.Println(m.Attributes["type"], m.Attributes["status"])
	// Output:
	// true elbguard: remediated classic web in 123456789012 us-east-1
	// remediated remediated
}
