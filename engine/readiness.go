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
	// TagProxyReady on an EC2 instance, value "true": the server there reads
	// the PROXY header (elbguard-proxy with proxy_protocol optional or
	// required). "false" says it does not; anything else is reported.
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

// backends are the registered EC2 instances a load balancer's change concerns.
type backends struct {
	// gated are the instances behind what the steps would change: all must
	// be ready before any step runs.
	gated []string
	// serving are the instances that already receive the PROXY header: one
	// that is not ready is drift, reported and never "fixed" by turning
	// proxy protocol off.
	serving []string
	// untaggable are the targets ("ip:port") of ip-type target groups the
	// steps would turn on: they cannot carry the tag, so they hold the
	// change unless the load balancer says elbguard:readiness=skip.
	untaggable []string
	// health is each target group's target health read before the change
	// (NLB), for the delayed verification.
	health map[string][]v2types.TargetHealthDescription
}

// applyReady is the readiness gate in front of apply, for Classic and NLB
// alike: when steps would change a load balancer with registered instances,
// it applies them only if every gated instance carries
// elbguard:proxy-ready=true (or the load balancer elbguard:readiness=skip);
// otherwise it changes nothing (non_compliant, backends_not_ready). It also
// reports serving instances that are not ready (backend_not_ready, status
// non_compliant so that the sweep's alarm counts it).
func (e *Engine) applyReady(ctx context.Context, r *Report, tags map[string]string, b backends, steps []step) {
	skip, ok := readinessTag(r, tags)
	gating := len(steps) > 0 && len(b.gated) > 0
	switch {
	case !ok: // a malformed tag holds the load balancer, instances or not
		e.hold(ctx, r, steps)
		return
	case skip:
		e.apply(ctx, r, steps)
		return
	case len(steps) > 0 && len(b.untaggable) > 0:
		r.find(RuleBackendsNotReady, "%d registered targets are IP addresses, which cannot carry %s=true: %s; nothing changed. Once every one reads the PROXY header, tag the load balancer %s=skip",
			len(b.untaggable), TagProxyReady, strings.Join(b.untaggable, ", "), TagReadiness)
		e.hold(ctx, r, steps)
		return
	case !gating && len(b.serving) == 0:
		e.apply(ctx, r, steps)
		return
	}
	all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(b.gated), b.serving...))))
	ready, err := e.readyInstances(ctx, r, all)
	if err != nil {
		r.fail(fmt.Errorf("readiness gate: read tag %s of %d instances: %w", TagProxyReady, len(all), err))
		return // status error, nothing changed
	}
	notReady := func(ids []string) []string {
		return slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(slices.Clone(ids)))), func(id string) bool { return ready[id] })
	}
	held := notReady(b.gated)
	if !gating {
		held = nil
	}
	drift := slices.DeleteFunc(notReady(b.serving), func(id string) bool { return slices.Contains(held, id) })
	if len(drift) > 0 {
		r.find(RuleBackendNotReady, "proxy protocol is on but %d registered instances lack %s=true: %s; they may not read the PROXY header (elbguard never turns it off by itself)",
			len(drift), TagProxyReady, strings.Join(drift, ", "))
	}
	if len(held) > 0 {
		r.find(RuleBackendsNotReady, "%d of %d registered instances lack %s=true: %s; nothing changed. Install a proxy that reads the PROXY header there, tag them, or tag the load balancer %s=skip",
			len(held), len(slices.Compact(slices.Sorted(slices.Values(b.gated)))), TagProxyReady, strings.Join(held, ", "), TagReadiness)
		e.hold(ctx, r, steps)
		return
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

// readyInstances reads elbguard:proxy-ready of ids with ec2:DescribeTags,
// instanceIDBatch ids per call, and returns which are ready. A value other
// than true or false is reported (naming instance, tag and value) and counts
// as not ready.
func (e *Engine) readyInstances(ctx context.Context, r *Report, ids []string) (map[string]bool, error) {
	if e.instances == nil {
		return nil, fmt.Errorf("no EC2 client: the engine was built without WithInstances")
	}
	ready := make(map[string]bool, len(ids))
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
				id, v := aws.ToString(t.ResourceId), strings.TrimSpace(aws.ToString(t.Value))
				switch {
				case strings.EqualFold(v, "true"):
					ready[id] = true
				case strings.EqualFold(v, "false"):
				default:
					r.find(RuleInvalidTag, "instance %s: invalid tag value %q for %s; want true or false", id, aws.ToString(t.Value), TagProxyReady)
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return ready, nil
}

// classicBackends lists a Classic load balancer's registered instances: all
// are gated (every listener reaches every instance), and all are serving
// when some TCP or SSL listener already forwards to an instance port with a
// proxy protocol policy.
func classicBackends(lb *elbtypes.LoadBalancerDescription, pols classicPolicies) backends {
	var ids []string
	for _, in := range lb.Instances {
		if id := aws.ToString(in.InstanceId); id != "" {
			ids = append(ids, id)
		}
	}
	b := backends{gated: ids}
	proxyPorts := map[int32]bool{}
	for _, d := range lb.BackendServerDescriptions {
		if slices.ContainsFunc(d.PolicyNames, pols.isProxy) {
			proxyPorts[aws.ToInt32(d.InstancePort)] = true
		}
	}
	for _, ld := range lb.ListenerDescriptions {
		if l := ld.Listener; l != nil && proxyPorts[aws.ToInt32(l.InstancePort)] && !isHTTP(aws.ToString(l.Protocol)) {
			b.serving = ids
			break
		}
	}
	return b
}

// nlbBackends reads the target health of the target groups that matter: the
// instance targets of those the steps would turn on (gated) or that are on
// (serving), and, when a verification will follow the change, the health of
// every target group that would change. ok is false when a read failed (the
// report says why; nothing is changed).
func (e *Engine) nlbBackends(ctx context.Context, r *Report, tags map[string]string, tgs []*targetGroup) (backends, bool) {
	b := backends{health: map[string][]v2types.TargetHealthDescription{}}
	skip, _ := readinessTag(&Report{}, tags) // the gate reports a bad value
	verify := e.verifier != nil && r.Mode == ModeEnforce && !e.cfg.DryRun
	for _, tg := range tgs {
		instance := tg.targetType == v2types.TargetTypeEnumInstance || tg.targetType == ""
		gate := !skip && instance && (tg.changes || tg.proxyOn)
		untaggable := !skip && !instance && tg.changes // ip targets (alb groups are left out before)
		if !gate && !untaggable && !(verify && tg.changes) {
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
		if untaggable {
			for _, d := range out.TargetHealthDescriptions {
				if d.Target != nil {
					b.untaggable = append(b.untaggable, targetKey(d.Target))
				}
			}
		}
		if !gate {
			continue
		}
		for _, d := range out.TargetHealthDescriptions {
			if d.Target == nil || !strings.HasPrefix(aws.ToString(d.Target.Id), "i-") {
				continue
			}
			if tg.changes {
				b.gated = append(b.gated, aws.ToString(d.Target.Id))
			} else {
				b.serving = append(b.serving, aws.ToString(d.Target.Id))
			}
		}
	}
	return b, true
}

func hasFinding(r *Report, rule string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == rule })
}
