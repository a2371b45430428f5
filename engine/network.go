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
	var tcp []v2types.Listener
	var groups []string
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
				continue
			}
			switch proto := strings.ToUpper(string(l.Protocol)); proto {
			case "TCP", "TLS":
				if proto == "TCP" {
					tcp = append(tcp, l)
				}
				for _, g := range forwardTargets(l.DefaultActions) {
					if !slices.Contains(groups, g) {
						groups = append(groups, g)
					}
				}
			case "UDP", "TCP_UDP":
				r.find(RuleUDPListener, "listener %d/%s left alone: elbguard enables the PROXY protocol on TCP and TLS listeners only", aws.ToInt32(l.Port), proto)
			}
		}
	}
	slices.Sort(groups)
	var steps []step
	for _, g := range groups {
		s, ok := e.targetGroupStep(ctx, &r, g)
		if !ok {
			return r
		}
		steps = append(steps, s...)
	}
	if idle > 0 {
		for _, l := range tcp {
			s, ok := e.listenerIdleStep(ctx, &r, l, idle)
			if !ok {
				return r
			}
			steps = append(steps, s...)
		}
	}
	e.apply(ctx, &r, steps)
	return r
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
// it is not already on (an absent attribute means off).
func (e *Engine) targetGroupStep(ctx context.Context, r *Report, tg string) ([]step, bool) {
	out, err := e.v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg)})
	var nf *v2types.TargetGroupNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, true // deleted since the listener was read: nothing to fix
	case err != nil:
		r.fail(fmt.Errorf("describe attributes of target group %s: %w", tg, err))
		return nil, false
	}
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrProxyProtocolV2 && strings.EqualFold(aws.ToString(a.Value), "true") {
			return nil, true
		}
	}
	r.find(RuleTargetGroupProxy, "target group %s does not have %s=true", nameFromARN(tg), attrProxyProtocolV2)
	return []step{{
		plan: planned("ModifyTargetGroupAttributes", tg),
		do: func(ctx context.Context, r *Report) bool {
			_, err := e.v2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
				TargetGroupArn: aws.String(tg),
				Attributes:     []v2types.TargetGroupAttribute{{Key: aws.String(attrProxyProtocolV2), Value: aws.String("true")}},
			})
			return r.record("ModifyTargetGroupAttributes", tg, err)
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
		plan: planned("ModifyListenerAttributes", arn),
		do: func(ctx context.Context, r *Report) bool {
			_, err := e.v2.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{
				ListenerArn: aws.String(arn),
				Attributes:  []v2types.ListenerAttribute{{Key: aws.String(attrTCPIdleTimeout), Value: aws.String(want)}},
			})
			return r.record("ModifyListenerAttributes", arn, err)
		},
	}}, true
}
