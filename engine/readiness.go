package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// The readiness gate: the seed's warning in code. A load balancer that sends
// the PROXY header to an instance whose server does not read it breaks every
// request, so before elbguard turns proxy protocol on for a load balancer,
// every registered EC2 instance behind what it changes must say it is ready.
const (
	// TagProxyReady on an EC2 instance: "true", the server there reads the
	// PROXY header on every instance port (elbguard-proxy with
	// proxy_protocol optional or required); a list of instance ports
	// ("80,81"), on those ports only; "false", on none. Anything else is
	// reported (ParseProxyReady).
	TagProxyReady = "elbguard:proxy-ready"
	// TagReadiness on a load balancer, value "skip": no readiness gate for it
	// (ip targets, which cannot be tagged; hand-run fleets). "require" is the
	// default, spelled out.
	TagReadiness = "elbguard:readiness"
)

// instanceIDBatch is how many instance ids one ec2:DescribeTags filter carries.
const instanceIDBatch = 200

// InstancesAPI is the EC2 call the readiness gate reads instance tags
// through (*ec2.Client satisfies it).
type InstancesAPI interface {
	DescribeTags(ctx context.Context, in *ec2.DescribeTagsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeTagsOutput, error)
}

var _ InstancesAPI = (*ec2.Client)(nil)

// WithInstances gives the engine the EC2 API the readiness gate reads
// instance tags through. Without it, a load balancer with registered
// instances is never changed (status error: readiness cannot be checked),
// unless it carries elbguard:readiness=skip.
func WithInstances(api InstancesAPI) Option {
	return func(e *Engine) { e.instances = api }
}

// unitPolicy is the step.unit of a step every proxy protocol unit needs
// (the Classic policy it attaches): kept when any unit's step is kept.
const unitPolicy = "*"

// regTarget is one registered EC2 instance and the instance port the PROXY
// header would reach it on.
type regTarget struct {
	id   string
	port int32
}

// unit is what one step turns proxy protocol on for: a Classic instance
// port or an NLB target group. Its key is the step.unit of those steps.
type unit struct {
	key  string
	name string // for people: "instance port 80", "target group edge-tcp"
	// targets are the registered instances.
	targets []regTarget
	// untaggable are the registered targets that cannot carry the tag
	// ("ip:port" of ip-type target groups).
	untaggable []string
	// serving: proxy protocol is on already (a registered instance that is
	// not ready for the port is drift, reported, never turned off).
	serving bool
}

// backends are the units a load balancer's change concerns.
type backends struct {
	units []unit
	// health is each target group's target health read before the change
	// (NLB), for the delayed verification.
	health map[string][]v2types.TargetHealthDescription
}

// applyReady is the readiness gate in front of apply, for Classic and NLB
// alike. A step that would send the PROXY header to a unit (step.unit) is
// taken only when the unit has registered instances and every one of them
// says, with elbguard:proxy-ready, that it reads the header on the unit's
// port (or the load balancer says elbguard:readiness=skip). It holds the
// whole load balancer (status held, nothing changed) when a unit to change
// has no registered target (no_backends), an instance that is not ready at
// all (backends_not_ready) or targets that cannot be tagged; it leaves out
// the steps of a unit whose instances are ready for other ports only
// (port_not_ready) and applies the rest. It also reports serving instances
// that are not ready (backend_not_ready, status non_compliant so that the
// sweep's alarm counts it).
func (e *Engine) applyReady(ctx context.Context, r *Report, tags map[string]string, b backends, steps []step) {
	skip, ok := readinessTag(r, tags)
	if !ok { // a malformed tag holds the load balancer, instances or not
		e.hold(ctx, r, steps)
		return
	}
	if skip {
		e.apply(ctx, r, steps)
		return
	}
	changing := map[string]bool{}
	for _, s := range steps {
		if s.unit != "" && s.unit != unitPolicy {
			changing[s.unit] = true
		}
	}
	var gated, serving []unit
	for _, u := range b.units {
		switch {
		case changing[u.key]:
			gated = append(gated, u)
		case u.serving:
			serving = append(serving, u)
		}
	}
	var untaggable, empty []string
	for _, u := range gated {
		untaggable = append(untaggable, u.untaggable...)
		if len(u.targets) == 0 && len(u.untaggable) == 0 {
			empty = append(empty, u.name)
		}
	}
	switch {
	case len(untaggable) > 0:
		r.find(RuleBackendsNotReady, "%d registered targets are IP addresses, which cannot carry %s: %s; nothing changed. Once every one reads the PROXY header, tag the load balancer %s=skip",
			len(untaggable), TagProxyReady, strings.Join(untaggable, ", "), TagReadiness)
		e.hold(ctx, r, steps)
		return
	case len(empty) > 0:
		r.find(RuleNoBackends, "no registered instance behind %s: nothing says the instances that register later read the PROXY header; nothing changed. "+
			"elbguard checks again when instances register and on every sweep; tag the load balancer %s=skip to enforce it empty",
			strings.Join(empty, ", "), TagReadiness)
		e.hold(ctx, r, steps)
		return
	case len(gated) == 0 && len(serving) == 0:
		e.apply(ctx, r, steps)
		return
	}
	var ids []string
	for _, u := range append(slices.Clone(gated), serving...) {
		for _, t := range u.targets {
			ids = append(ids, t.id)
		}
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ready, err := e.readyInstances(ctx, r, ids)
	if err != nil {
		r.fail(fmt.Errorf("readiness gate: read tag %s of %d instances: %w", TagProxyReady, len(ids), err))
		return // status error, nothing changed
	}
	var notReady []string // gated instances ready for no port at all
	gatedIDs := map[string]bool{}
	for _, u := range gated {
		for _, t := range u.targets {
			gatedIDs[t.id] = true
			if !ready[t.id].any() {
				notReady = append(notReady, t.id)
			}
		}
	}
	notReady = slices.Compact(slices.Sorted(slices.Values(notReady)))
	var drift []string
	for _, u := range serving {
		for _, t := range u.targets {
			if !ready[t.id].reads(t.port) && !slices.Contains(notReady, t.id) {
				drift = append(drift, fmt.Sprintf("%s (port %d)", t.id, t.port))
			}
		}
	}
	if drift = slices.Compact(slices.Sorted(slices.Values(drift))); len(drift) > 0 {
		r.find(RuleBackendNotReady, "proxy protocol is on but %d registered instances do not say they read it there (%s): %s; they may not read the PROXY header (elbguard never turns it off by itself)",
			len(drift), TagProxyReady, strings.Join(drift, ", "))
	}
	if len(notReady) > 0 {
		r.find(RuleBackendsNotReady, "%d of %d registered instances lack %s=true (or the list of instance ports that read the header): %s; nothing changed. Install a proxy that reads the PROXY header there, tag them, or tag the load balancer %s=skip",
			len(notReady), len(gatedIDs), TagProxyReady, strings.Join(notReady, ", "), TagReadiness)
		e.hold(ctx, r, steps)
		return
	}
	leftOut := map[string]bool{}
	for _, u := range gated {
		var missing []string
		for _, t := range u.targets {
			if !ready[t.id].reads(t.port) {
				missing = append(missing, t.id)
			}
		}
		if len(missing) == 0 {
			continue
		}
		leftOut[u.key] = true
		port := u.targets[slices.IndexFunc(u.targets, func(t regTarget) bool { return !ready[t.id].reads(t.port) })].port
		r.find(RulePortNotReady, "%s left alone: %d registered instances do not list port %d in %s: %s; the rest of the load balancer is enforced",
			u.name, len(missing), port, TagProxyReady, strings.Join(slices.Compact(slices.Sorted(slices.Values(missing))), ", "))
		r.held = true
	}
	if len(leftOut) > 0 {
		steps = slices.DeleteFunc(slices.Clone(steps), func(s step) bool { return leftOut[s.unit] })
		if !slices.ContainsFunc(steps, func(s step) bool { return s.unit != "" && s.unit != unitPolicy }) {
			steps = slices.DeleteFunc(steps, func(s step) bool { return s.unit == unitPolicy })
		}
	}
	e.apply(ctx, r, steps)
	if hasFinding(r, RuleBackendNotReady) && (r.Status == StatusCompliant || r.Status == StatusRemediated) {
		r.Status = StatusNonCompliant
	}
}

// hold changes nothing: status held (non_compliant in audit mode), the
// calls the steps need listed as held, and the gate's finding (the last one
// recorded before the call) as the report's Held reason.
func (e *Engine) hold(ctx context.Context, r *Report, steps []step) {
	if len(steps) == 0 { // nothing to hold: a bad readiness tag still keeps it from compliant
		r.Status = StatusNonCompliant
		if r.err != nil {
			r.Status = StatusError
		}
		return
	}
	if r.hold == nil && len(r.Findings) > 0 {
		f := r.Findings[len(r.Findings)-1]
		r.hold = &f
	}
	e.apply(ctx, r, steps)
}

// readinessTag reads elbguard:readiness: skip is true for "skip"; ok is
// false (with a finding naming the tag and the value) for a value that is
// neither "skip" nor "require".
func readinessTag(r *Report, tags map[string]string) (skip, ok bool) {
	v, present := tags[TagReadiness]
	if !present {
		return false, true
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "skip":
		return true, true
	case "require":
		return false, true
	}
	r.find(RuleInvalidTag, "invalid tag value %q for %s; want skip or require; nothing changed", v, TagReadiness)
	return false, false
}

// readiness is what an instance's elbguard:proxy-ready says.
type readiness struct {
	all   bool    // "true": every instance port
	ports []int32 // the instance ports listed
}

// any reports whether the instance reads the header on some port.
func (x readiness) any() bool { return x.all || len(x.ports) > 0 }

// reads reports whether the instance reads the header on instance port p.
func (x readiness) reads(p int32) bool { return x.all || slices.Contains(x.ports, p) }

// ParseProxyReady parses an elbguard:proxy-ready value (an instance tag,
// written by whoever may tag the instance: untrusted). "true" means every
// instance port reads the PROXY header (all); "false" none; otherwise the
// value lists the instance ports that do, 1 to 65535, separated by commas,
// spaces or '+' ("80,81"), each once. Anything else is an error.
func ParseProxyReady(v string) (all bool, ports []int32, err error) {
	s := strings.TrimSpace(v)
	switch {
	case strings.EqualFold(s, "true"):
		return true, nil, nil
	case strings.EqualFold(s, "false"):
		return false, nil, nil
	}
	ports, err = ParsePorts(s)
	if err != nil {
		return false, nil, fmt.Errorf("invalid tag value %q for %s: %w; want true, false or the instance ports that read the PROXY header (80,81)", v, TagProxyReady, err)
	}
	return false, ports, nil
}

// readyInstances reads elbguard:proxy-ready of ids with ec2:DescribeTags,
// instanceIDBatch ids per call, and returns what each says. A malformed
// value is reported (naming instance, tag and value) and counts as not
// ready.
func (e *Engine) readyInstances(ctx context.Context, r *Report, ids []string) (map[string]readiness, error) {
	if e.instances == nil {
		return nil, fmt.Errorf("no EC2 client: the engine was built without WithInstances")
	}
	ready := make(map[string]readiness, len(ids))
	for batch := range slices.Chunk(ids, instanceIDBatch) {
		in := &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
			{Name: aws.String("resource-id"), Values: batch},
			{Name: aws.String("key"), Values: []string{TagProxyReady}},
		}}
		for {
			out, err := e.instances.DescribeTags(ctx, in)
			if err != nil {
				return nil, err
			}
			for _, t := range out.Tags {
				id := aws.ToString(t.ResourceId)
				all, ports, err := ParseProxyReady(aws.ToString(t.Value))
				if err != nil {
					r.find(RuleInvalidTag, "instance %s: %v", id, err)
					continue
				}
				ready[id] = readiness{all: all, ports: ports}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return ready, nil
}

// classicUnit is the step.unit of the steps that send the PROXY header to
// a Classic instance port.
func classicUnit(port int32) string { return fmt.Sprintf("port/%d", port) }

// classicBackends lists a Classic load balancer's instance ports as units:
// every registered instance is behind every port. A port is serving when
// it has a proxy protocol policy and a TCP or SSL listener forwards to it.
func classicBackends(lb *elbtypes.LoadBalancerDescription, pols classicPolicies) backends {
	var ids []string
	for _, in := range lb.Instances {
		if id := aws.ToString(in.InstanceId); id != "" {
			ids = append(ids, id)
		}
	}
	proxyPorts := map[int32]bool{}
	for _, d := range lb.BackendServerDescriptions {
		if slices.ContainsFunc(d.PolicyNames, pols.isProxy) {
			proxyPorts[aws.ToInt32(d.InstancePort)] = true
		}
	}
	var b backends
	seen := map[int32]int{} // port -> index in b.units
	for _, ld := range lb.ListenerDescriptions {
		l := ld.Listener
		if l == nil {
			continue
		}
		port := aws.ToInt32(l.InstancePort)
		i, ok := seen[port]
		if !ok {
			u := unit{key: classicUnit(port), name: fmt.Sprintf("instance port %d", port)}
			for _, id := range ids {
				u.targets = append(u.targets, regTarget{id: id, port: port})
			}
			i = len(b.units)
			seen[port] = i
			b.units = append(b.units, u)
		}
		if proxyPorts[port] && !isHTTP(aws.ToString(l.Protocol)) {
			b.units[i].serving = true
		}
	}
	return b
}

// nlbBackends reads the target health of the target groups that matter: the
// targets of those the steps would turn on or that are on, and, when a
// verification will follow the change, the health of every target group
// that would change. ok is false when a read failed (the report says why;
// nothing is changed).
func (e *Engine) nlbBackends(ctx context.Context, r *Report, tags map[string]string, tgs []*targetGroup) (backends, bool) {
	b := backends{health: map[string][]v2types.TargetHealthDescription{}}
	skip, _ := readinessTag(&Report{}, tags) // the gate reports a bad value
	verify := e.verifier != nil && r.Mode == ModeEnforce && !e.cfg.DryRun
	for _, tg := range tgs {
		instance := tg.targetType == v2types.TargetTypeEnumInstance || tg.targetType == ""
		gate := !skip && (tg.changes || (instance && tg.proxyOn))
		if !gate && !(verify && tg.changes) {
			continue
		}
		out, err := e.v2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg.arn)})
		if err != nil {
			r.fail(fmt.Errorf("describe target health of %s: %w", nameFromARN(tg.arn), err))
			return b, false
		}
		if tg.changes {
			b.health[tg.arn] = out.TargetHealthDescriptions
		}
		if !gate {
			continue
		}
		u := unit{key: tg.arn, name: "target group " + nameFromARN(tg.arn), serving: tg.proxyOn}
		for _, d := range out.TargetHealthDescriptions {
			switch {
			case d.Target == nil:
			case !instance || !strings.HasPrefix(aws.ToString(d.Target.Id), "i-"):
				u.untaggable = append(u.untaggable, targetKey(d.Target))
			default:
				u.targets = append(u.targets, regTarget{id: aws.ToString(d.Target.Id), port: aws.ToInt32(d.Target.Port)})
			}
		}
		b.units = append(b.units, u)
	}
	return b, true
}

func hasFinding(r *Report, rule string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == rule })
}
