package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Load-balancer tags that scope what elbguard may do (all read here, the one
// place for tag scoping; the mode and idle-timeout keys are in Config).
const (
	// TagPorts lists the load-balancer ports elbguard manages, separated by
	// commas, spaces or '+' ("80,443", "80 443" or "80+443": AWS's tag value
	// pattern has no comma, so the console may refuse "80,443"). Absent:
	// every listener.
	TagPorts = "elbguard:ports"
	// TagIaC = "override" lets elbguard change a load balancer that
	// infrastructure as code owns (see iacOwners).
	TagIaC = "elbguard:iac"
	// TagExemptUntil (a date, 2027-01-31, exempt through the end of that day
	// UTC, or an RFC 3339 time) and TagExemptReason exempt a load balancer:
	// status exempt, nothing changed, until the time passes.
	TagExemptUntil  = "elbguard:exempt-until"
	TagExemptReason = "elbguard:exempt-reason"
	// TagRestorePrefix + PORT holds a listener elbguard removed and could not
	// put back (restore.go); every later run restores it first.
	TagRestorePrefix = "elbguard:restore:"
	// TagStickiness = "drop" lets elbguard convert a Classic HTTP/HTTPS
	// listener with cookie stickiness to TCP/SSL, which drops the
	// stickiness; without it such a listener is left alone
	// (stickiness_would_drop).
	TagStickiness = "elbguard:stickiness"
)

// stickinessDrop is the only value TagStickiness accepts.
const stickinessDrop = "drop"

// dropsStickiness reports whether the load balancer lets elbguard drop
// cookie stickiness (scope rejects any other value of the tag first).
func dropsStickiness(tags map[string]string) bool {
	v, ok := tags[TagStickiness]
	return ok && strings.EqualFold(strings.TrimSpace(v), stickinessDrop)
}

// iacOverride is the only value TagIaC accepts.
const iacOverride = "override"

// elbguardTagPrefix starts every elbguard tag. A key with this prefix that
// elbguard does not know (a typo such as elbguard:prots) stops all changes to
// the load balancer: a misspelt scope must not widen the blast radius.
const elbguardTagPrefix = "elbguard:"

// WithClock gives the engine its clock for exemptions; nil or absent:
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) { e.now = now }
}

func (e *Engine) clock() time.Time {
	if e.now == nil {
		return time.Now()
	}
	return e.now()
}

// scope is what the load balancer's tags allow elbguard to manage.
type scope struct {
	ports []int32 // nil: every listener
}

// manages reports whether the listener on load-balancer port p is in scope.
func (s scope) manages(p int32) bool {
	return s.ports == nil || slices.Contains(s.ports, p)
}

// scope reads the scoping tags into r. done is true when nothing more may be
// done: a malformed elbguard tag (status error) or an unexpired exemption
// (status exempt). A load balancer owned by infrastructure as code without
// the override is held (r.hold): evaluated, reported held with the calls it
// needs, never changed.
func (e *Engine) scope(r *Report, tags map[string]string) (s scope, done bool) {
	bad := false
	badTag := func(format string, args ...any) {
		r.find(RuleInvalidTag, format, args...)
		bad = true
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if !strings.HasPrefix(k, elbguardTagPrefix) || e.knownTag(k) {
			continue
		}
		r.find(RuleUnknownTag, "unknown tag %s=%q: elbguard changes nothing on this load balancer until it is removed or corrected (known: %s)",
			k, tags[k], strings.Join(e.knownTags(), ", "))
		bad = true
	}
	if v, ok := tags[TagPorts]; ok {
		ports, err := ParsePorts(v)
		if err != nil {
			badTag("invalid tag value %q for %s: %v; nothing is changed until it is corrected", v, TagPorts, err)
		}
		s.ports = ports
	}
	override := false
	if v, ok := tags[TagIaC]; ok {
		if !strings.EqualFold(strings.TrimSpace(v), iacOverride) {
			badTag("invalid tag value %q for %s; want %s", v, TagIaC, iacOverride)
		}
		override = true
	}
	if v, ok := tags[TagStickiness]; ok && !dropsStickiness(tags) {
		badTag("invalid tag value %q for %s; want %s", v, TagStickiness, stickinessDrop)
	}
	until, reason, exempt, err := parseExemption(tags)
	if err != nil {
		badTag("%v; no exemption applies and nothing is changed until it is corrected", err)
	}
	if bad {
		r.Status = StatusError
		return s, true
	}
	if exempt {
		if now := e.clock(); now.Before(until) {
			r.Status = StatusExempt
			r.find(RuleExempt, "exempt until %s: %s", until.UTC().Format(time.RFC3339), reason)
			return s, true
		}
		r.find(RuleExemptionExpired, "exemption expired at %s (%s); enforced by its mode again", until.UTC().Format(time.RFC3339), reason)
	}
	if owner, change, ok := iacOwner(tags, r.Type, e.cfg.IaCTags); ok && !override {
		r.hold = &Finding{Rule: RuleManagedByIaC, Detail: fmt.Sprintf(
			"managed by %s: elbguard leaves it unchanged, or every deploy would revert its change and it would swap the listeners back (two outages per deploy). %s; or tag %s=%s to let elbguard change it",
			owner, change, TagIaC, iacOverride)}
	}
	return s, false
}

// knownTags lists the elbguard load-balancer tag keys (restore tags aside).
// The default mode and idle-timeout keys stay known when Config renames
// them, so that a load balancer still carrying them is not blocked.
func (e *Engine) knownTags() []string {
	keys := []string{e.cfg.TagKey, e.cfg.IdleTimeoutTagKey, TagPorts, TagIaC, TagExemptUntil, TagExemptReason,
		TagReadiness,     // the readiness gate's switch (readiness.go)
		TagHealthDropped, // set by a roll back after health dropped (verify.go)
		TagStickiness,    // lets listener conversion drop cookie stickiness (classic.go)
	}
	for _, k := range []string{DefaultTagKey, DefaultIdleTimeoutTagKey} {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (e *Engine) knownTag(k string) bool {
	return strings.HasPrefix(k, TagRestorePrefix) || slices.Contains(e.knownTags(), k)
}

// ParsePorts parses an elbguard:ports value: load-balancer ports 1 to 65535
// separated by commas, spaces or '+'. It fails on anything else, on an
// empty list and on a repeated port.
func ParsePorts(v string) ([]int32, error) {
	fields := strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == '+' || c == ' ' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("no port; want ports separated by commas, spaces or '+', such as 80,443")
	}
	ports := make([]int32, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 || (len(f) > 1 && f[0] == '0') {
			return nil, fmt.Errorf("%q is not a port from 1 to 65535", f)
		}
		if slices.Contains(ports, int32(n)) {
			return nil, fmt.Errorf("port %d listed twice", n)
		}
		ports = append(ports, int32(n))
	}
	slices.Sort(ports)
	return ports, nil
}

// parseExemption reads the exemption tags. exempt is false when neither tag
// is present. A date means the end of that day, UTC.
func parseExemption(tags map[string]string) (until time.Time, reason string, exempt bool, err error) {
	u, hasUntil := tags[TagExemptUntil]
	reason, hasReason := tags[TagExemptReason]
	if !hasUntil && !hasReason {
		return time.Time{}, "", false, nil
	}
	if !hasUntil {
		return time.Time{}, "", false, fmt.Errorf("%s=%q without %s; want both tags", TagExemptReason, reason, TagExemptUntil)
	}
	until, err = ParseExemptUntil(u)
	if err != nil {
		return time.Time{}, "", false, err
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		return time.Time{}, "", false, fmt.Errorf("%s=%q has no %s; an exemption needs a reason", TagExemptUntil, u, TagExemptReason)
	}
	return until, reason, true, nil
}

// ParseExemptUntil parses an elbguard:exempt-until value: a date
// (2027-01-31, exempt through the end of that day, UTC) or an RFC 3339 time.
func ParseExemptUntil(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid tag value %q for %s; want a date (2027-01-31) or an RFC 3339 time (2027-01-31T18:00:00Z)", v, TagExemptUntil)
}

// iacOwner names the infrastructure as code that owns a load balancer, from
// the tags each tool sets or the configured owner tags (extra), and the
// change to make there instead. Elastic Beanstalk and Kubernetes come
// first: they deploy through their own controllers or stacks, and their
// owners are where the change belongs.
func iacOwner(tags map[string]string, typ string, extra []IaCTag) (owner, change string, ok bool) {
	nlb := typ == TypeNetwork
	if env, ok := tags["elasticbeanstalk:environment-name"]; ok {
		return fmt.Sprintf("Elastic Beanstalk environment %q", env),
			"Change it in the environment's .ebextensions option_settings: aws:elb:listener:PORT ListenerProtocol/InstanceProtocol TCP (SSL for HTTPS), and aws:elb:policies:NAME with ProxyProtocol: true and InstancePorts", true
	}
	const k8sChange = "Change the Kubernetes Service: annotation service.beta.kubernetes.io/aws-load-balancer-proxy-protocol: \"*\""
	for _, k := range []string{"service.k8s.aws/stack", "ingress.k8s.aws/stack", "elbv2.k8s.aws/cluster"} {
		if v, ok := tags[k]; ok {
			what := fmt.Sprintf("the AWS Load Balancer Controller (%s=%s)", k, v)
			if nlb {
				return what, k8sChange + " (or aws-load-balancer-target-group-attributes: proxy_protocol_v2.enabled=true)", true
			}
			return what, k8sChange, true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if strings.HasPrefix(k, "kubernetes.io/cluster/") || k == "kubernetes.io/service-name" {
			what := fmt.Sprintf("the Kubernetes in-tree service controller (%s=%s)", k, tags[k])
			if nlb {
				return what, k8sChange, true
			}
			return what, k8sChange + " and aws-load-balancer-backend-protocol: tcp", true
		}
	}
	if stack, ok := tags["aws:cloudformation:stack-name"]; ok {
		what := fmt.Sprintf("CloudFormation stack %q (logical id %s)", stack, tags["aws:cloudformation:logical-id"])
		if nlb {
			return what, "Change the template: TargetGroupAttributes proxy_protocol_v2.enabled=true on each AWS::ElasticLoadBalancingV2::TargetGroup behind a TCP or TLS listener", true
		}
		return what, "Change the template's AWS::ElasticLoadBalancing::LoadBalancer: Listeners with Protocol/InstanceProtocol TCP (SSL for HTTPS), and a Policies entry with PolicyType ProxyProtocolPolicyType, Attributes ProxyProtocol=true and the InstancePorts", true
	}
	for _, t := range extra {
		if found, ok := t.match(tags); ok {
			what := fmt.Sprintf("infrastructure as code (tag %s, a configured IaC owner tag)", found)
			if nlb {
				return what, "Change it in that code: target group attribute proxy_protocol_v2.enabled=true on each target group behind a TCP or TLS listener", true
			}
			return what, "Change it in that code: listeners with protocol and instance protocol TCP (SSL for HTTPS), and a ProxyProtocolPolicyType policy (ProxyProtocol=true) on the instance ports", true
		}
	}
	return "", "", false
}

// settle keeps a load balancer with an API error or an unresolved finding
// from being reported compliant or remediated.
func (r *Report) settle() {
	if r.err != nil && (r.Status == StatusCompliant || r.Status == StatusRemediated || r.Status == StatusNonCompliant) {
		r.Status = StatusError
		return
	}
	if r.held && (r.Status == StatusCompliant || r.Status == StatusRemediated) {
		r.Status = StatusHeld
		return
	}
	if r.unresolved && (r.Status == StatusCompliant || r.Status == StatusRemediated) {
		r.Status = StatusNonCompliant
	}
}

// holdFinding reports why the planned changes are held, once.
func (r *Report) holdFinding() {
	if r.hold != nil && !slices.Contains(r.Findings, *r.hold) {
		r.Findings = append(r.Findings, *r.hold)
	}
}
