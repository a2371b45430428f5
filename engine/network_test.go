package engine

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

func TestNetworkALBTargetGroupSkipped(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	albTG := forwardTargets(n.listeners[1].DefaultActions)[0]
	f.tgType[albTG] = v2types.TargetTypeEnumAlb
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "edge")
	if r.Status != StatusRemediated || !hasRule(r, RuleTargetGroupALB) {
		t.Fatalf("got %s %+v; want remediated with the alb target group reported", r.Status, r.Findings)
	}
	if got := f.tgs[albTG][attrProxyProtocolV2]; got != "" {
		t.Errorf("alb target group: got %s=%q; want untouched", attrProxyProtocolV2, got)
	}
	if got := f.tgs[forwardTargets(n.listeners[0].DefaultActions)[0]][attrProxyProtocolV2]; got != "true" {
		t.Errorf("instance target group: got %q; want true", got)
	}
}

func TestNetworkRuleTargetGroups(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp)
	ruleTG := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/by-rule/0009"
	f.tgs[ruleTG] = map[string]string{}
	f.addTarget(ruleTG, readyInstance, 80, v2types.TargetHealthStateEnumHealthy)
	la := aws.ToString(n.listeners[0].ListenerArn)
	f.rules[la] = []v2types.Rule{{Priority: aws.String("10"), Actions: []v2types.Action{{Type: v2types.ActionTypeEnumForward,
		ForwardConfig: &v2types.ForwardActionConfig{TargetGroups: []v2types.TargetGroupTuple{{TargetGroupArn: aws.String(ruleTG)}}}}}}}
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "edge")
	if r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r)
	}
	if got := f.tgs[ruleTG][attrProxyProtocolV2]; got != "true" {
		t.Errorf("target group reached through a rule: got %q; want true", got)
	}
}

func TestNetworkFailureIsIndependent(t *testing.T) {
	tests := []struct {
		name   string
		action string
		wantOn int
	}{
		{"attribute read", "v2.DescribeTargetGroupAttributes", 2},
		{"attribute write", "v2.ModifyTargetGroupAttributes", 2},
		{"rules read", "v2.DescribeRules", 3}, // the default actions still name every group
		{"idle read", "v2.DescribeListenerAttributes", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "900"},
				v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
			f.failNth[tt.action] = 1
			r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "edge")
			if r.Status != StatusError {
				t.Errorf("got %s; want error", r.Status)
			}
			on := 0
			for _, l := range n.listeners {
				if f.tgs[forwardTargets(l.DefaultActions)[0]][attrProxyProtocolV2] == "true" {
					on++
				}
			}
			if on != tt.wantOn {
				t.Errorf("got %d target groups on; want %d (actions %+v)", on, tt.wantOn, r.Actions)
			}
			for i, l := range n.listeners {
				if tt.action == "v2.DescribeListenerAttributes" && i == 0 {
					continue // its read failed
				}
				if got := n.lattrs[aws.ToString(l.ListenerArn)][attrTCPIdleTimeout]; got != "900" {
					t.Errorf("listener %d: got idle %q; want 900 despite the failure", aws.ToInt32(l.Port), got)
				}
			}
		})
	}
}

// rulesError makes DescribeRules fail with err for every listener.
type rulesError struct {
	fakeV2
	err error
}

func (r rulesError) DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, o ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	_, _ = r.fakeV2.DescribeRules(ctx, in, o...) // counted
	return nil, r.err
}

func TestNetworkListenerWithoutRules(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus Status
	}{
		{"listener not found", &v2types.ListenerNotFoundException{Message: aws.String("One or more listeners not found")}, StatusRemediated},
		{"validation error", &smithy.GenericAPIError{Code: "ValidationError", Message: "rules are not supported for this listener"}, StatusRemediated},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform elasticloadbalancing:DescribeRules"}, StatusError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp)
			e, err := New(f, rulesError{fakeV2{f}, tt.err}, Config{}, nil, WithInstances(fakeEC2{f}))
			if err != nil {
				t.Fatal(err)
			}
			r := reportOf(t, sweep(t, e), "edge")
			if r.Status != tt.wantStatus {
				t.Errorf("got %s %+v; want %s", r.Status, r.Findings, tt.wantStatus)
			}
			if got := f.tgs[forwardTargets(n.listeners[0].DefaultActions)[0]][attrProxyProtocolV2]; got != "true" {
				t.Errorf("default-action target group: got %q; want true either way", got)
			}
		})
	}
}
