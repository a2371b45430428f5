package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// ELBv2 attribute keys and limits.
const (
	attrProxyProtocolV2 = "proxy_protocol_v2.enabled"
	attrTCPIdleTimeout  = "tcp.idle_timeout.seconds"
	networkMinIdle      = 60
	networkMaxIdle      = 6000
)

// Why elbguard leaves ALBs and Gateway Load Balancers alone.
const (
	whyALB = "an Application Load Balancer terminates HTTP and cannot send PROXY protocol headers; it forwards the client IP in X-Forwarded-For itself"
	whyGWY = "a Gateway Load Balancer forwards IP packets (GENEVE) to appliances; there is no TCP stream to carry a PROXY protocol header"
)

// v2Report evaluates one ELBv2 load balancer: Network Load Balancers get
// proxy protocol v2 on every target group behind a TCP or TLS listener and
// the tagged idle timeout on TCP listeners; other types are not applicable.
func (e *Engine) v2Report(ctx context.Context, lb *v2types.LoadBalancer, tags map[string]string) Report {
	arn := aws.ToString(lb.LoadBalancerArn)
	r := Report{Name: aws.ToString(lb.LoadBalancerName), ARN: arn, Type: string(lb.Type)}
	if e.mode(&r, tags) {
		return r
	}
	switch lb.Type {
	case v2types.LoadBalancerTypeEnumNetwork:
	case v2types.LoadBalancerTypeEnumApplication:
		r.Status = StatusNotApplicable
		r.find(RuleNotApplicable, whyALB)
		return r
	case v2types.LoadBalancerTypeEnumGateway:
		r.Status = StatusNotApplicable
		r.find(RuleNotApplicable, whyGWY)
		return r
	default:
		r.Status = StatusNotApplicable
		r.find(RuleNotApplicable, "unknown load balancer type %q", lb.Type)
		return r
	}
	sc, done := e.scope(&r, tags)
	if done {
		return r
	}
	idle, done := e.idleTimeout(&r, tags, networkMinIdle, networkMaxIdle)
	if done {
		return r
	}
	if e.healthDropped(&r, tags) {
		return r
	}
	var tcp []v2types.Listener
	var groups []string
	add := func(tgs []string) {
		for _, g := range tgs {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	var listeners, outside []v2types.Listener // in the elbguard:ports scope, and left alone
	p := elbv2.NewDescribeListenersPaginator(e.v2, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isGone(err) {
				r.Status = StatusGone
			} else {
				r.fail(fmt.Errorf("describe listeners of %s: %w", r.Name, err))
			}
			return r
		}
		for _, l := range page.Listeners {
			if !sc.manages(aws.ToInt32(l.Port)) {
				outside = append(outside, l)
				continue
			}
			switch proto := strings.ToUpper(string(l.Protocol)); proto {
			case "TCP", "TLS":
				if proto == "TCP" {
					tcp = append(tcp, l)
				}
				listeners = append(listeners, l)
				add(forwardTargets(l.DefaultActions))
			case "UDP", "TCP_UDP":
				r.find(RuleUDPListener, "listener %d/%s left alone: elbguard enables the PROXY protocol on TCP and TLS listeners only", aws.ToInt32(l.Port), proto)
			}
		}
	}
	// Listener rules forward to target groups too; a failure to read one
	// listener's rules does not stop the others (the report says error).
	for _, l := range listeners {
		add(e.ruleTargets(ctx, &r, l))
	}
	groups = e.sharedOutside(ctx, &r, groups, outside)
	slices.Sort(groups)
	tgs := e.describeGroups(ctx, &r, groups)
	var steps []step
	var enabled []string // target groups this run turned proxy protocol on for
	groupSteps := make([][]step, len(tgs))
	for i, tg := range tgs {
		s, ok := e.targetGroupStep(ctx, &r, tg, &enabled)
		if !ok {
			continue // reported; the other target groups are independent
		}
		groupSteps[i] = s
	}
	held := e.holdDropped(ctx, &r, tgs) // verify.go: a roll back marked on the target group
	for i, tg := range tgs {
		if held[tg.arn] {
			tg.changes = false
			continue
		}
		steps = append(steps, groupSteps[i]...)
	}
	if idle > 0 {
		for _, l := range tcp {
			s, ok := e.listenerIdleStep(ctx, &r, l, idle)
			if !ok {
				continue
			}
			steps = append(steps, s...)
		}
	}
	b, ok := e.nlbBackends(ctx, &r, tags, tgs)
	if !ok {
		return r
	}
	e.applyReady(ctx, &r, tags, b, steps)
	e.scheduleVerify(ctx, &r, lb, enabled, b.health, tgs)
	e.verifyBlind(&r, tgs, enabled)
	return r
}

// verifyBlind reports the target groups this run turned proxy protocol on
// for whose health check is TCP: it only opens a connection, which succeeds
// whatever the server makes of the PROXY header, so no target turns
// unhealthy and the verification cannot see harm. The readiness gate is
// the only guard there.
func (e *Engine) verifyBlind(r *Report, tgs []*targetGroup, enabled []string) {
	if e.verifier == nil {
		return
	}
	var blind []string
	for _, tg := range tgs {
		if tg.healthCheck == v2types.ProtocolEnumTcp && slices.Contains(enabled, tg.arn) {
			blind = append(blind, nameFromARN(tg.arn))
		}
	}
	if len(blind) > 0 {
		r.find(RuleVerifyBlind, "target groups %s have TCP health checks, which pass whatever the server makes of the PROXY header: the health verification cannot detect harm there. "+
			"Use an HTTP or HTTPS health check (it carries the header too) to have a broken back end caught and rolled back", strings.Join(blind, ", "))
	}
}

// ruleTargets lists the target groups a listener's rules forward to
// (elasticloadbalancing:DescribeRules; the default rule included).
func (e *Engine) ruleTargets(ctx context.Context, r *Report, l v2types.Listener) []string {
	var out []string
	in := &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn}
	for {
		page, err := e.v2.DescribeRules(ctx, in)
		var nf *v2types.ListenerNotFoundException
		var api smithy.APIError
		switch {
		case errors.As(err, &nf):
			// Deleted since it was listed, or a listener kind that has no
			// rules: DescribeRules answers ListenerNotFound for Gateway Load
			// Balancer listeners (boto/boto3#3591).
			return out
		case errors.As(err, &api) && (api.ErrorCode() == "ValidationError" || api.ErrorCode() == "OperationNotPermitted"):
			// A listener kind DescribeRules does not serve: its default
			// actions, read already, are all it forwards to.
			e.log.DebugContext(ctx, "listener has no rules to read", "listener", aws.ToString(l.ListenerArn), "error", err.Error())
			return out
		case err != nil:
			r.fail(fmt.Errorf("describe rules of listener %d of %s: %w", aws.ToInt32(l.Port), r.Name, err))
			return out
		}
		for _, rule := range page.Rules {
			out = append(out, forwardTargets(rule.Actions)...)
		}
		if aws.ToString(page.NextMarker) == "" {
			return out
		}
		in.Marker = page.NextMarker
	}
}

// targetGroup is a target group behind a TCP or TLS listener.
type targetGroup struct {
	arn        string
	targetType v2types.TargetTypeEnum
	proxyOn    bool // proxy_protocol_v2.enabled is already true
	changes    bool // this run would turn it on
	// healthCheck is the health check protocol: a TCP check does not fail
	// on a server that cannot read the PROXY header (verifyBlind).
	healthCheck v2types.ProtocolEnum
	// unhealthyAfter is how long (seconds) its health checks need to mark
	// a target unhealthy: interval x (unhealthy threshold + 1); 0: unknown.
	unhealthyAfter int32
}

// describeGroups reads the target groups' types, tagBatch at a time. Target
// groups of type alb (an ALB behind the NLB) cannot take proxy-protocol
// attributes: they are reported and left out. A batch that cannot be read is
// reported and its target groups are left out; the others go on.
func (e *Engine) describeGroups(ctx context.Context, r *Report, arns []string) []*targetGroup {
	var out []*targetGroup
	for batch := range slices.Chunk(arns, tagBatch) {
		got, err := e.v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: batch})
		var nf *v2types.TargetGroupNotFoundException
		if errors.As(err, &nf) && len(batch) > 1 {
			for _, a := range batch { // one is gone: read the rest one by one
				out = append(out, e.describeGroups(ctx, r, []string{a})...)
			}
			continue
		}
		switch {
		case errors.As(err, &nf):
			continue // deleted since the listener was read: nothing to fix
		case err != nil:
			r.fail(fmt.Errorf("describe target groups %v: %w", batch, err))
			continue
		}
		for _, g := range got.TargetGroups {
			a := aws.ToString(g.TargetGroupArn)
			if g.TargetType == v2types.TargetTypeEnumAlb {
				r.find(RuleTargetGroupALB, "target group %s forwards to an Application Load Balancer (target type alb), which cannot take %s; left alone", nameFromARN(a), attrProxyProtocolV2)
				continue
			}
			t := &targetGroup{arn: a, targetType: g.TargetType, healthCheck: g.HealthCheckProtocol}
			if g.HealthCheckIntervalSeconds != nil && g.UnhealthyThresholdCount != nil {
				t.unhealthyAfter = aws.ToInt32(g.HealthCheckIntervalSeconds) * (aws.ToInt32(g.UnhealthyThresholdCount) + 1)
			}
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *targetGroup) int { return strings.Compare(a.arn, b.arn) })
	return out
}

// forwardTargets lists the target groups a listener's actions forward to.
func forwardTargets(actions []v2types.Action) []string {
	var out []string
	for _, a := range actions {
		if a.TargetGroupArn != nil {
			out = append(out, aws.ToString(a.TargetGroupArn))
		}
		if a.ForwardConfig != nil {
			for _, t := range a.ForwardConfig.TargetGroups {
				if t.TargetGroupArn != nil && !slices.Contains(out, aws.ToString(t.TargetGroupArn)) {
					out = append(out, aws.ToString(t.TargetGroupArn))
				}
			}
		}
	}
	return out
}

// targetGroupStep plans proxy_protocol_v2.enabled=true on a target group when
// it is not already on (an absent attribute means off). ok is false when the
// attributes could not be read (the report says why). A successful change
// appends the target group to enabled.
func (e *Engine) targetGroupStep(ctx context.Context, r *Report, tg *targetGroup, enabled *[]string) ([]step, bool) {
	out, err := e.v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg.arn)})
	var nf *v2types.TargetGroupNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, true // deleted since the listener was read: nothing to fix
	case err != nil:
		r.fail(fmt.Errorf("describe attributes of target group %s: %w", tg.arn, err))
		return nil, false
	}
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrProxyProtocolV2 && strings.EqualFold(aws.ToString(a.Value), "true") {
			tg.proxyOn = true
			return nil, true
		}
	}
	tg.changes = true
	r.find(RuleTargetGroupProxy, "target group %s does not have %s=true", nameFromARN(tg.arn), attrProxyProtocolV2)
	return []step{{
		independent: true,
		unit:        tg.arn,
		do: func(ctx context.Context, r *Report) bool {
			in := &elbv2.ModifyTargetGroupAttributesInput{
				TargetGroupArn: aws.String(tg.arn),
				Attributes:     []v2types.TargetGroupAttribute{{Key: aws.String(attrProxyProtocolV2), Value: aws.String("true")}},
			}
			if !r.call("ModifyTargetGroupAttributes", tg.arn, in, func() error {
				_, err := e.v2.ModifyTargetGroupAttributes(ctx, in)
				return err
			}) {
				return false
			}
			if r.planning == "" { // made, not planned: the verification follows it
				*enabled = append(*enabled, tg.arn)
			}
			return true
		},
	}}, true
}

// listenerIdleStep plans tcp.idle_timeout.seconds on a TCP listener.
func (e *Engine) listenerIdleStep(ctx context.Context, r *Report, l v2types.Listener, idle int) ([]step, bool) {
	arn := aws.ToString(l.ListenerArn)
	out, err := e.v2.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: aws.String(arn)})
	if err != nil {
		r.fail(fmt.Errorf("describe attributes of listener %s: %w", arn, err))
		return nil, false
	}
	current := ""
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrTCPIdleTimeout {
			current = aws.ToString(a.Value)
		}
	}
	want := strconv.Itoa(idle)
	if current == want {
		return nil, true
	}
	r.find(RuleIdleTimeout, "listener %d idle timeout is %qs; want %ss", aws.ToInt32(l.Port), current, want)
	return []step{{
		independent: true,
		do: func(ctx context.Context, r *Report) bool {
			in := &elbv2.ModifyListenerAttributesInput{
				ListenerArn: aws.String(arn),
				Attributes:  []v2types.ListenerAttribute{{Key: aws.String(attrTCPIdleTimeout), Value: aws.String(want)}},
			}
			return r.call("ModifyListenerAttributes", arn, in, func() error {
				_, err := e.v2.ModifyListenerAttributes(ctx, in)
				return err
			})
		},
	}}, true
}

// sharedOutside leaves out the target groups that also serve a listener the
// elbguard:ports tag leaves alone: proxy protocol is per target group, so
// the PROXY header would reach that listener's traffic too (the NLB twin of
// a Classic instance port shared with a listener left alone). Each is
// reported and keeps the load balancer from being reported compliant.
func (e *Engine) sharedOutside(ctx context.Context, r *Report, groups []string, outside []v2types.Listener) []string {
	for _, l := range outside {
		tgs := forwardTargets(l.DefaultActions)
		if p := strings.ToUpper(string(l.Protocol)); p == "TCP" || p == "TLS" {
			tgs = append(tgs, e.ruleTargets(ctx, r, l)...)
		}
		groups = slices.DeleteFunc(groups, func(g string) bool {
			if !slices.Contains(tgs, g) {
				return false
			}
			r.findOpen(RulePortScope, "target group %s is left alone: it also serves listener %d, which elbguard leaves as it is (%s), and proxy protocol is per target group. "+
				"Give that listener its own target group, or manage both ports", nameFromARN(g), aws.ToInt32(l.Port), TagPorts)
			return true
		})
	}
	return groups
}
