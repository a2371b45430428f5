// Package notify turns engine reports into notifications people act on and
// publishes them to an SNS topic: one message per remediation, rollback,
// failed remediation and readiness block, never one per sweep for a load
// balancer nothing happened to.
package notify

import (
	"fmt"
	"strings"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// RuleBackendsNotReady is the engine finding of a change held back because
// the back ends are not ready for the PROXY protocol.
const RuleBackendsNotReady = "backends_not_ready"

// What a message is about, the value of its "type" attribute.
const (
	TypeRemediated = "remediated"
	TypeRolledBack = "rolled_back"
	TypeFailed     = "remediation_failed"
	TypeBlocked    = "readiness_block"
)

// MaxSubject is the SNS subject limit (under 100 characters).
const MaxSubject = 99

// Message is one notification.
type Message struct {
	Subject string
	Body    string
	// Attributes: status (the engine status), type (Type*), account.
	Attributes map[string]string
}

// Compose returns the message for one report, or false when nothing
// happened that a person should hear about: a planned change (dry run or
// audit), an unchanged load balancer, and on sweeps a readiness block (it
// was announced by the event that caused it, and would repeat every hour).
func Compose(r engine.Report, t compliance.Trigger, account, region string) (Message, bool) {
	typ := kind(r, t)
	if typ == "" {
		return Message{}, false
	}
	verb := map[string]string{TypeRemediated: "remediated", TypeRolledBack: "change rolled back on",
		TypeFailed: "remediation FAILED on", TypeBlocked: "change held back on"}[typ]
	if restored(r, typ) {
		verb = "listener restored on"
	}
	subject := fmt.Sprintf("elbguard: %s %s %s in %s %s", verb, r.Type, r.Name, account, region)
	return Message{
		Subject:    Subject(subject),
		Body:       body(r, t, typ, account, region),
		Attributes: map[string]string{"status": string(r.Status), "type": typ, "account": account},
	}, true
}

// kind classifies a report into a message type, or "" for none.
func kind(r engine.Report, t compliance.Trigger) string {
	applied, _, failed := r.Changed()
	switch {
	case r.Status == engine.StatusRolledBack:
		return TypeRolledBack
	case failed > 0, r.Status == engine.StatusError && applied > 0:
		// The second: a change was made while something else failed (a
		// read, the verification not queued); people must hear of it.
		return TypeFailed
	case (r.Status == engine.StatusRemediated || r.Status == engine.StatusNonCompliant || r.Status == engine.StatusHeld) && applied > 0:
		// Non-compliant with applied calls: changed, with part left alone
		// (a listener held for its certificate); the findings say which.
		return TypeRemediated
	case hasRule(r, RuleBackendsNotReady) && !t.Sweep():
		return TypeBlocked
	}
	return ""
}

// restored reports whether a rolled_back report is a dark-port restore
// (engine restore.go) rather than a roll back after health dropped.
func restored(r engine.Report, typ string) bool {
	return typ == TypeRolledBack && hasRule(r, engine.RuleListenerRestore) && !hasRule(r, engine.RuleHealthDropped)
}

func hasRule(r engine.Report, rule string) bool {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

// Subject makes s a valid SNS subject: printable ASCII only, no line
// breaks, under 100 characters.
func Subject(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 0x20 && c < 0x7f:
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	out := b.String()
	if len(out) > MaxSubject {
		out = out[:MaxSubject-3] + "..."
	}
	return out
}

// body is the plain-text message: what happened, before → after, who
// triggered it, the findings, and how to undo or exempt.
func body(r engine.Report, t compliance.Trigger, typ, account, region string) string {
	var b strings.Builder
	lbARN := compliance.ResourceARN(r, region, account)
	fmt.Fprintf(&b, "%s\n\n", headline(r, typ))
	fmt.Fprintf(&b, "Load balancer: %s (%s, mode %s)\nARN:           %s\nAccount:       %s\nRegion:        %s\nStatus:        %s\n",
		r.Name, r.Type, r.Mode, lbARN, account, region, r.Status)
	fmt.Fprintf(&b, "Triggered by:  %s\n", trigger(t))

	fmt.Fprintf(&b, "\nBefore ==> after\n")
	n := 0
	for _, f := range r.Findings {
		if before, after, ok := strings.Cut(f.Detail, "; want "); ok {
			fmt.Fprintf(&b, "  - %s  ==>  %s\n", before, after)
			n++
			continue
		}
		if f.Rule == engine.RuleBackendProxy || f.Rule == engine.RuleProxyPolicy || f.Rule == engine.RuleTargetGroupProxy {
			fmt.Fprintf(&b, "  - %s\n", f.Detail)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(&b, "  (no change)\n")
	}

	fmt.Fprintf(&b, "\nAPI calls\n")
	for _, a := range r.Actions {
		line := fmt.Sprintf("  - %s %s: %s", a.API, a.Target, a.Status)
		if a.Error != "" {
			line += " (" + a.Error + ")"
		}
		fmt.Fprintln(&b, line)
	}
	if len(r.Actions) == 0 {
		fmt.Fprintf(&b, "  (none)\n")
	}

	fmt.Fprintf(&b, "\nFindings\n")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  - %s: %s\n", f.Rule, f.Detail)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintf(&b, "  (none)\n")
	}

	if typ == TypeBlocked {
		fmt.Fprintf(&b, "\nWhat to do\n  Run elbguard-proxy (or another PROXY protocol decoder) on every back end, then tag each instance\n"+
			"  elbguard:proxy-ready=true; elbguard proceeds on its next event or sweep. To keep it as it is, exempt it:\n%s", exempt(r, region, lbARN))
		return b.String()
	}
	fmt.Fprintf(&b, "\nUndo or exempt\n%s", undo(r, region, lbARN))
	return b.String()
}

func headline(r engine.Report, typ string) string {
	switch typ {
	case TypeRolledBack:
		if restored(r, typ) {
			return fmt.Sprintf("elbguard restored a listener on %s that an earlier swap had deleted and could not re-create (kept in an elbguard:restore:PORT tag); the port had no listener until now. It is not compliant; a person should find out why the swap failed.", r.Name)
		}
		return fmt.Sprintf("elbguard changed %s, saw the back ends suffer, and undid the change. It is not compliant; a person should look.", r.Name)
	case TypeFailed:
		return fmt.Sprintf("elbguard tried to bring %s to the PROXY protocol and a call failed. Completed calls are listed below.", r.Name)
	case TypeBlocked:
		return fmt.Sprintf("elbguard did not change %s: its back ends are not ready for the PROXY protocol.", r.Name)
	}
	return fmt.Sprintf("elbguard turned on the PROXY protocol for %s. Clients keep working if the back ends decode it (elbguard-proxy does).", r.Name)
}

func trigger(t compliance.Trigger) string {
	switch {
	case t.Kind == compliance.TriggerSweep:
		return "the scheduled sweep"
	case t.Caller != "" && t.EventName != "":
		return fmt.Sprintf("%s (CloudTrail %s)", t.Caller, t.EventName)
	case t.Caller != "":
		return t.Caller
	case t.EventName != "":
		return "event " + t.EventName
	case t.Kind == compliance.TriggerCLI:
		return "a person running the elbguard CLI"
	}
	return "unknown"
}

// undo says how to stop elbguard and revert by hand.
func undo(r engine.Report, region, lbARN string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Stop elbguard from redoing it first, either\n")
	if r.Type == engine.TypeClassic {
		fmt.Fprintf(&b, "    aws elb add-tags --region %s --load-balancer-names %s --tags Key=elbguard:proxy-protocol,Value=off\n", region, r.Name)
		fmt.Fprintf(&b, "  or exempt it until a date, with a reason:\n%s", exempt(r, region, lbARN))
		fmt.Fprintf(&b, "  Then, to revert: per instance port, restore the policies it had\n")
		fmt.Fprintf(&b, "    aws elb set-load-balancer-policies-for-backend-server --region %s --load-balancer-name %s --instance-port PORT --policy-names OLD...\n", region, r.Name)
		fmt.Fprintf(&b, "  and per listener changed, delete and re-create it with its old protocol (see \"Before ==> after\")\n")
		fmt.Fprintf(&b, "    aws elb delete-load-balancer-listeners --region %s --load-balancer-name %s --load-balancer-ports PORT\n", region, r.Name)
		fmt.Fprintf(&b, "    aws elb create-load-balancer-listeners --region %s --load-balancer-name %s --listeners Protocol=HTTP,LoadBalancerPort=PORT,InstanceProtocol=HTTP,InstancePort=PORT\n", region, r.Name)
		return b.String()
	}
	fmt.Fprintf(&b, "    aws elbv2 add-tags --region %s --resource-arns %s --tags Key=elbguard:proxy-protocol,Value=off\n", region, lbARN)
	fmt.Fprintf(&b, "  or exempt it until a date, with a reason:\n%s", exempt(r, region, lbARN))
	fmt.Fprintf(&b, "  Then, to revert, per target group changed:\n")
	fmt.Fprintf(&b, "    aws elbv2 modify-target-group-attributes --region %s --target-group-arn TG_ARN --attributes Key=proxy_protocol_v2.enabled,Value=false\n", region)
	return b.String()
}

// exempt is the command that exempts the load balancer.
func exempt(r engine.Report, region, lbARN string) string {
	if r.Type == engine.TypeClassic {
		return fmt.Sprintf("    aws elb add-tags --region %s --load-balancer-names %s --tags Key=elbguard:exempt-until,Value=YYYY-MM-DD Key=elbguard:exempt-reason,Value=WHY\n", region, r.Name)
	}
	return fmt.Sprintf("    aws elbv2 add-tags --region %s --resource-arns %s --tags Key=elbguard:exempt-until,Value=YYYY-MM-DD Key=elbguard:exempt-reason,Value=WHY\n", region, lbARN)
}
