// Package securityhub turns engine reports into AWS Security Finding Format
// findings (Findings, a pure function) and imports them with
// BatchImportFindings (Sink), at most 100 per call.
//
// One finding per load balancer and control, with a stable Id, so that every
// event and sweep updates the same finding. The controls:
//
//   - proxy_protocol: the back ends receive the PROXY protocol (Classic:
//     a ProxyProtocolPolicyType policy on every instance port; NLB:
//     proxy_protocol_v2.enabled on every TCP/TLS target group);
//   - listener_protocol (Classic only): listeners are TCP/SSL, not HTTP/HTTPS,
//     so WebSockets pass;
//   - idle_timeout: the idle timeout the elbguard:idle-timeout tag asks for
//     (only for load balancers whose reports mention it).
//
// An exempt load balancer gets a second finding per control (Id suffix
// "/exempt") created with Workflow SUPPRESSED and the exemption as its note,
// while its regular finding is archived: BatchImportFindings sets Workflow and
// Note only when it creates a finding, so the suppression needs its own.
package securityhub

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// Controls: the Security Hub "rules" elbguard reports on. Each becomes the
// finding's GeneratorId ("elbguard/" + control).
const (
	ControlProxyProtocol    = "proxy_protocol"
	ControlListenerProtocol = "listener_protocol"
	ControlIdleTimeout      = "idle_timeout"
)

// RuleExemptionExpired is the engine finding of a load balancer whose
// exemption has ended; its suppressed "/exempt" findings are then archived.
const RuleExemptionExpired = "exemption_expired"

// SchemaVersion is the ASFF version the findings follow.
const SchemaVersion = "2018-10-08"

// ASFF field limits.
const (
	maxTitle       = 256
	maxDescription = 1024
	maxText        = 512
)

// ruleControl maps each engine finding rule to the control it is evidence
// for. Rules not listed (API errors, concurrency notes, readiness blocks,
// rules added later) are context: they go into the description of the
// proxy_protocol finding.
var ruleControl = map[string]string{
	engine.RuleProxyPolicy:        ControlProxyProtocol,
	engine.RuleBackendProxy:       ControlProxyProtocol,
	engine.RuleTargetGroupProxy:   ControlProxyProtocol,
	engine.RuleListenerProtocol:   ControlListenerProtocol,
	engine.RulePolicyDropped:      ControlListenerProtocol,
	engine.RuleIdleTimeout:        ControlIdleTimeout,
	engine.RuleInvalidIdleTimeout: ControlIdleTimeout,
}

// Context is what the mapping needs besides the report.
type Context struct {
	// Account and Region locate the load balancer (compliance.Locator).
	Account, Region string
	// Now stamps CreatedAt and UpdatedAt.
	Now time.Time
	// Sweep: the run was a scheduled sweep. Load balancers out of scope
	// (status skipped) are then not published, so that a sweep does not
	// re-archive every untagged load balancer each hour; an event that takes
	// one out of scope archives its findings.
	Sweep bool
}

// ProductARN is the account's default Security Hub product, the one every
// account may import its own findings into.
func ProductARN(region, account string) string {
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", compliance.Partition(region), region, account, account)
}

// FindingID is the stable Id of a load balancer's finding for one control.
// The ARN holds the partition, region, account and load balancer.
func FindingID(lbARN, control string) string { return lbARN + "/elbguard/" + control }

// Findings maps one report to its findings. It returns none for load
// balancers elbguard never manages (ALB, GWLB) and, on sweeps, for those out
// of scope.
func Findings(r engine.Report, c Context) []types.AwsSecurityFinding {
	controls := controlsOf(r)
	if len(controls) == 0 {
		return nil
	}
	if r.Status == engine.StatusSkipped && c.Sweep {
		return nil
	}
	lbARN := compliance.ResourceARN(r, c.Region, c.Account)
	byControl, context := splitFindings(r)
	var out []types.AwsSecurityFinding
	for _, ctl := range controls {
		f := base(r, c, lbARN, ctl)
		ev := byControl[ctl]
		if ctl == ControlProxyProtocol {
			ev = append(ev, context...)
		}
		switch r.Status {
		case engine.StatusGone:
			archive(&f, "The load balancer no longer exists.")
			out = append(out, f)
			ex := f
			ex.Id = aws.String(FindingID(lbARN, ctl) + "/exempt")
			out = append(out, ex)
			continue
		case engine.StatusSkipped:
			archive(&f, fmt.Sprintf("Out of elbguard's scope (mode %s).", r.Mode))
		case engine.StatusExempt:
			archive(&f, "Exempt: see the suppressed finding "+FindingID(lbARN, ctl)+"/exempt.")
			out = append(out, f, exempt(r, c, lbARN, ctl, ev))
			continue
		default:
			comply(&f, r, ctl, ev, controls)
		}
		out = append(out, f)
		if hasRule(r, RuleExemptionExpired) {
			ex := base(r, c, lbARN, ctl)
			ex.Id = aws.String(FindingID(lbARN, ctl) + "/exempt")
			archive(&ex, "The exemption has expired; the load balancer is enforced by its mode again.")
			out = append(out, ex)
		}
	}
	return out
}

// controlsOf lists the controls a report speaks about, in a fixed order.
func controlsOf(r engine.Report) []string {
	var ctl []string
	switch r.Type {
	case engine.TypeClassic:
		ctl = []string{ControlProxyProtocol, ControlListenerProtocol}
	case engine.TypeNetwork:
		ctl = []string{ControlProxyProtocol}
	default:
		return nil
	}
	for _, f := range r.Findings {
		if ruleControl[f.Rule] == ControlIdleTimeout {
			return append(ctl, ControlIdleTimeout)
		}
	}
	return ctl
}

// splitFindings groups findings by control; the rest are context.
func splitFindings(r engine.Report) (map[string][]engine.Finding, []engine.Finding) {
	by := map[string][]engine.Finding{}
	var context []engine.Finding
	for _, f := range r.Findings {
		if ctl, ok := ruleControl[f.Rule]; ok {
			by[ctl] = append(by[ctl], f)
			continue
		}
		context = append(context, f)
	}
	return by, context
}

func hasRule(r engine.Report, rule string) bool {
	return slices.ContainsFunc(r.Findings, func(f engine.Finding) bool { return f.Rule == rule })
}

// base fills what every finding of a load balancer and control shares.
func base(r engine.Report, c Context, lbARN, ctl string) types.AwsSecurityFinding {
	now := c.Now.UTC().Format("2006-01-02T15:04:05.000Z")
	kind := "Classic Load Balancer"
	if r.Type == engine.TypeNetwork {
		kind = "Network Load Balancer"
	}
	resType := "AwsElbLoadBalancer"
	if r.Type != engine.TypeClassic {
		resType = "AwsElbv2LoadBalancer"
	}
	typ := "Software and Configuration Checks/AWS Security Best Practices/elbguard " + ctl
	return types.AwsSecurityFinding{
		SchemaVersion: aws.String(SchemaVersion),
		Id:            aws.String(FindingID(lbARN, ctl)),
		ProductArn:    aws.String(ProductARN(c.Region, c.Account)),
		GeneratorId:   aws.String("elbguard/" + ctl),
		AwsAccountId:  aws.String(c.Account),
		Region:        aws.String(c.Region),
		Types:         []string{typ},
		CreatedAt:     aws.String(now),
		UpdatedAt:     aws.String(now),
		Title:         aws.String(clip(title(ctl, kind, r.Name), maxTitle)),
		Resources: []types.Resource{{
			Type:      aws.String(resType),
			Id:        aws.String(lbARN),
			Partition: types.Partition(compliance.Partition(c.Region)),
			Region:    aws.String(c.Region),
		}},
		ProductFields: map[string]string{
			"elbguard/Name":   r.Name,
			"elbguard/Type":   r.Type,
			"elbguard/Mode":   string(r.Mode),
			"elbguard/Status": string(r.Status),
		},
		Remediation: &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String(clip(recommendation(ctl, r), maxText)),
		}},
		FindingProviderFields: &types.FindingProviderFields{Types: []string{typ}},
		RecordState:           types.RecordStateActive,
	}
}

func title(ctl, kind, name string) string {
	switch ctl {
	case ControlListenerProtocol:
		return fmt.Sprintf("%s %s should use TCP/SSL listeners so WebSockets pass", kind, name)
	case ControlIdleTimeout:
		return fmt.Sprintf("%s %s should have the idle timeout its elbguard:idle-timeout tag asks for", kind, name)
	}
	return fmt.Sprintf("%s %s should send the PROXY protocol so instances see client IPs", kind, name)
}

// recommendation is what a person can do, per control.
func recommendation(ctl string, r engine.Report) string {
	switch ctl {
	case ControlListenerProtocol:
		return fmt.Sprintf("Run the instance proxy (elbguard-proxy) on the back ends, then tag %s elbguard:proxy-protocol=enforce "+
			"(or run: elbguard remediate %s): elbguard turns HTTP listeners into TCP and HTTPS into SSL, one at a time, "+
			"keeping certificates and policies.", r.Name, r.Name)
	case ControlIdleTimeout:
		return fmt.Sprintf("Set elbguard:idle-timeout on %s to whole seconds in range and tag it elbguard:proxy-protocol=enforce, "+
			"or set the idle timeout by hand; WebSockets die at the 60 s default.", r.Name)
	}
	if r.Type == engine.TypeNetwork {
		return fmt.Sprintf("Make sure the targets decode the PROXY protocol v2 (elbguard-proxy does), then tag %s "+
			"elbguard:proxy-protocol=enforce (or run: elbguard remediate %s) to set proxy_protocol_v2.enabled=true on its "+
			"TCP/TLS target groups.", r.Name, r.Name)
	}
	return fmt.Sprintf("Make sure the instances decode the PROXY protocol (elbguard-proxy does), then tag %s "+
		"elbguard:proxy-protocol=enforce (or run: elbguard remediate %s) to attach a ProxyProtocolPolicyType policy "+
		"to every instance port.", r.Name, r.Name)
}

// archive marks a finding as no longer relevant.
func archive(f *types.AwsSecurityFinding, why string) {
	f.RecordState = types.RecordStateArchived
	f.Compliance = &types.Compliance{Status: types.ComplianceStatusNotAvailable}
	setSeverity(f, types.SeverityLabelInformational)
	f.Description = aws.String(clip(why, maxDescription))
}

// comply sets compliance, severity and description from the report.
func comply(f *types.AwsSecurityFinding, r engine.Report, ctl string, ev []engine.Finding, controls []string) {
	status, label := types.ComplianceStatusPassed, types.SeverityLabelInformational
	switch r.Status {
	case engine.StatusCompliant, engine.StatusRemediated:
		// Remediated: the findings are what was wrong and is now fixed.
	case engine.StatusError:
		status, label = types.ComplianceStatusNotAvailable, types.SeverityLabelMedium
	case engine.StatusNonCompliant, engine.StatusRolledBack, engine.StatusHeld:
		// Held: a gate keeps elbguard from fixing it; not compliant either.
		// Rolled back: a change was undone (a restored listener, proxy
		// protocol turned back off), so no control passes.
		failed := len(ev) > 0 || r.Status == engine.StatusRolledBack
		if ctl == ControlProxyProtocol && !failed {
			// Never report passed what is not: a non-compliant report
			// whose findings name no control fails the main control.
			failed = !slices.ContainsFunc(controls, func(c string) bool {
				return c != ControlProxyProtocol && hasControl(r, c)
			})
		}
		if failed {
			status, label = types.ComplianceStatusFailed, failSeverity(ctl)
			if r.Status == engine.StatusRolledBack {
				label = types.SeverityLabelHigh
			}
		}
	default:
		status, label = types.ComplianceStatusNotAvailable, types.SeverityLabelLow
	}
	f.Compliance = &types.Compliance{Status: status}
	setSeverity(f, label)
	f.Description = aws.String(clip(describe(r, status, ev), maxDescription))
}

func hasControl(r engine.Report, ctl string) bool {
	return slices.ContainsFunc(r.Findings, func(f engine.Finding) bool { return ruleControl[f.Rule] == ctl })
}

// failSeverity reflects the harm of each failed control: client IPs lost
// (audit logs, allow-lists and rate limits see the load balancer's address)
// and WebSockets broken are medium; a wrong idle timeout is low.
func failSeverity(ctl string) types.SeverityLabel {
	if ctl == ControlIdleTimeout {
		return types.SeverityLabelLow
	}
	return types.SeverityLabelMedium
}

func setSeverity(f *types.AwsSecurityFinding, label types.SeverityLabel) {
	f.Severity = &types.Severity{Label: label, Original: aws.String(string(label))}
	f.FindingProviderFields.Severity = &types.FindingProviderSeverity{Label: label, Original: aws.String(string(label))}
}

// describe says in a sentence what elbguard found and did.
func describe(r engine.Report, status types.ComplianceStatus, ev []engine.Finding) string {
	var b strings.Builder
	switch {
	case r.Status == engine.StatusRemediated && len(ev) > 0:
		fmt.Fprintf(&b, "Remediated by elbguard (mode %s). Was:", r.Mode)
	case r.Status == engine.StatusRemediated, r.Status == engine.StatusCompliant:
		fmt.Fprintf(&b, "Compliant (mode %s).", r.Mode)
	case r.Status == engine.StatusError:
		fmt.Fprintf(&b, "elbguard could not evaluate this load balancer (mode %s):", r.Mode)
	case r.Status == engine.StatusRolledBack && hasRule(r, engine.RuleListenerRestore):
		fmt.Fprintf(&b, "elbguard restored a listener an earlier swap had left deleted; the port had none until now (mode %s):", r.Mode)
	case r.Status == engine.StatusRolledBack:
		fmt.Fprintf(&b, "elbguard made a change that harmed the back ends and undid it (mode %s):", r.Mode)
	case status == types.ComplianceStatusFailed:
		fmt.Fprintf(&b, "Non-compliant (mode %s):", r.Mode)
	default:
		fmt.Fprintf(&b, "Status %s (mode %s).", r.Status, r.Mode)
	}
	for _, f := range ev {
		fmt.Fprintf(&b, " %s: %s.", f.Rule, strings.TrimSuffix(f.Detail, "."))
	}
	if len(ev) == 0 {
		return strings.TrimSuffix(b.String(), ":") + "."
	}
	return b.String()
}

// exempt is the suppressed finding of an exempt load balancer.
func exempt(r engine.Report, c Context, lbARN, ctl string, ev []engine.Finding) types.AwsSecurityFinding {
	f := base(r, c, lbARN, ctl)
	f.Id = aws.String(FindingID(lbARN, ctl) + "/exempt")
	status := types.ComplianceStatusNotAvailable
	if slices.ContainsFunc(ev, func(x engine.Finding) bool { _, ok := ruleControl[x.Rule]; return ok }) {
		status = types.ComplianceStatusFailed
	}
	f.Compliance = &types.Compliance{Status: status}
	setSeverity(&f, types.SeverityLabelInformational)
	note := exemptNote(r)
	f.Description = aws.String(clip("Exempt from elbguard: "+note, maxDescription))
	f.Workflow = &types.Workflow{Status: types.WorkflowStatusSuppressed}
	f.Note = &types.Note{Text: aws.String(clip(note, maxText)), UpdatedBy: aws.String("elbguard"), UpdatedAt: f.UpdatedAt}
	return f
}

// exemptNote is the detail of the report's exemption finding (the first
// whose rule mentions "exempt"), else of its first finding.
func exemptNote(r engine.Report) string {
	for _, f := range r.Findings {
		if strings.Contains(f.Rule, "exempt") {
			return f.Detail
		}
	}
	if len(r.Findings) > 0 {
		return r.Findings[0].Detail
	}
	return "exempt (no reason recorded)"
}

// clip cuts s to at most n bytes on a rune boundary, ending in "..." when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
