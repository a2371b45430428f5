package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// fake is an in-memory Classic + ELBv2 account that counts calls by action
// and can fail chosen calls.
type fake struct {
	mu      sync.Mutex
	calls   map[string]int
	fail    map[string]error // action -> error returned (once per call while set)
	classic map[string]*fakeClassic
	nlbs    map[string]*fakeNLB
	tgs     map[string]map[string]string // tg ARN -> attributes
	tgType  map[string]v2types.TargetTypeEnum
	hcProto map[string]v2types.ProtocolEnum // health check protocol per target group; absent: none given
	// hcTiming: health check interval and unhealthy threshold per target group; absent: none given
	hcTiming map[string][2]int32
	targets  map[string][]v2types.TargetHealthDescription // tg ARN -> targets and health
	rules    map[string][]v2types.Rule                    // listener ARN -> rules besides the default
	itags    map[string]map[string]string                 // EC2 instance id -> tags
	failNth  map[string]int                               // action -> the one call (1-based) that fails
	tgTags   map[string]map[string]string                 // target group ARN -> tags
	// onCall, when set, runs at each call with the fake locked (to look at
	// the state a process killed at that call would leave).
	onCall func(action string)
	// made logs every mutating call received, in order, as "API PARAMS"
	// (TestPlanIsTheChange compares it with the plan).
	made []string
}

type fakeClassic struct {
	desc     elbtypes.LoadBalancerDescription
	tags     map[string]string
	policies []elbtypes.PolicyDescription
	idle     int32
}

type fakeNLB struct {
	lb        v2types.LoadBalancer
	tags      map[string]string
	listeners []v2types.Listener
	lattrs    map[string]map[string]string
}

func newFake() *fake {
	return &fake{calls: map[string]int{}, fail: map[string]error{}, classic: map[string]*fakeClassic{},
		nlbs: map[string]*fakeNLB{}, tgs: map[string]map[string]string{},
		tgType: map[string]v2types.TargetTypeEnum{}, targets: map[string][]v2types.TargetHealthDescription{},
		rules: map[string][]v2types.Rule{}, tgTags: map[string]map[string]string{}, itags: map[string]map[string]string{}, failNth: map[string]int{}}
}

func (f *fake) count(action string) error {
	f.calls[action]++
	if f.onCall != nil {
		f.onCall(action)
	}
	if n, ok := f.failNth[action]; ok && f.calls[action] == n {
		return fmt.Errorf("fake: call %d of %s fails", n, action)
	}
	return f.fail[action]
}

// writes counts the mutating calls made so far.
func (f *fake) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for a, c := range f.calls {
		if !strings.HasPrefix(a[strings.LastIndex(a, ".")+1:], "Describe") {
			n += c
		}
	}
	return n
}

func (f *fake) reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for a, c := range f.calls {
		if strings.HasPrefix(a[strings.LastIndex(a, ".")+1:], "Describe") {
			n += c
		}
	}
	return n
}

func notFound(name string) error {
	return &elbtypes.AccessPointNotFoundException{Message: aws.String("There is no ACTIVE Load Balancer named '" + name + "'")}
}

func (f *fake) addClassic(name string, tags map[string]string, listeners ...elbtypes.Listener) *fakeClassic {
	c := &fakeClassic{desc: elbtypes.LoadBalancerDescription{LoadBalancerName: aws.String(name), Policies: &elbtypes.Policies{}}, tags: tags, idle: 60}
	for _, l := range listeners {
		c.desc.ListenerDescriptions = append(c.desc.ListenerDescriptions, elbtypes.ListenerDescription{Listener: &l})
	}
	register(c, readyInstance)
	f.itags[readyInstance] = map[string]string{TagProxyReady: "true"}
	f.classic[name] = c
	return c
}

// readyInstance is registered behind every fake load balancer (each target
// group of an NLB) and tagged elbguard:proxy-ready=true, so that the
// readiness gate lets changes through; empty removes it.
const readyInstance = "i-ready"

// empty deregisters every instance of c.
func empty(c *fakeClassic) { c.desc.Instances = nil }

func (f *fake) DescribeLoadBalancers(ctx context.Context, in *elb.DescribeLoadBalancersInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("DescribeLoadBalancers"); err != nil {
		return nil, err
	}
	out := &elb.DescribeLoadBalancersOutput{}
	names := in.LoadBalancerNames
	if len(names) == 0 {
		for n := range f.classic {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	for _, n := range names {
		c, ok := f.classic[n]
		if !ok {
			return nil, notFound(n)
		}
		out.LoadBalancerDescriptions = append(out.LoadBalancerDescriptions, c.desc)
	}
	return out, nil
}

func (f *fake) DescribeTags(ctx context.Context, in *elb.DescribeTagsInput, _ ...func(*elb.Options)) (*elb.DescribeTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("DescribeTags"); err != nil {
		return nil, err
	}
	if len(in.LoadBalancerNames) > 20 {
		return nil, fmt.Errorf("DescribeTags: %d names; at most 20", len(in.LoadBalancerNames))
	}
	out := &elb.DescribeTagsOutput{}
	for _, n := range in.LoadBalancerNames {
		c, ok := f.classic[n]
		if !ok {
			return nil, notFound(n)
		}
		d := elbtypes.TagDescription{LoadBalancerName: aws.String(n)}
		for k, v := range c.tags {
			d.Tags = append(d.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}

func (f *fake) lookup(action, name string) (*fakeClassic, error) {
	if err := f.count(action); err != nil {
		return nil, err
	}
	c, ok := f.classic[name]
	if !ok {
		return nil, notFound(name)
	}
	return c, nil
}

func (f *fake) DescribeLoadBalancerPolicies(ctx context.Context, in *elb.DescribeLoadBalancerPoliciesInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancerPoliciesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup("DescribeLoadBalancerPolicies", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	return &elb.DescribeLoadBalancerPoliciesOutput{PolicyDescriptions: slices.Clone(c.policies)}, nil
}

func (f *fake) DescribeLoadBalancerAttributes(ctx context.Context, in *elb.DescribeLoadBalancerAttributesInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancerAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup("DescribeLoadBalancerAttributes", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	return &elb.DescribeLoadBalancerAttributesOutput{LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{
		ConnectionSettings: &elbtypes.ConnectionSettings{IdleTimeout: aws.Int32(c.idle)}}}, nil
}

func (f *fake) CreateLoadBalancerPolicy(ctx context.Context, in *elb.CreateLoadBalancerPolicyInput, _ ...func(*elb.Options)) (*elb.CreateLoadBalancerPolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "CreateLoadBalancerPolicy "+Params(in))
	c, err := f.lookup("CreateLoadBalancerPolicy", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	for _, p := range c.policies {
		if aws.ToString(p.PolicyName) == aws.ToString(in.PolicyName) {
			return nil, &elbtypes.DuplicatePolicyNameException{Message: aws.String("policy " + aws.ToString(in.PolicyName) + " already exists")}
		}
	}
	d := elbtypes.PolicyDescription{PolicyName: in.PolicyName, PolicyTypeName: in.PolicyTypeName}
	for _, a := range in.PolicyAttributes {
		d.PolicyAttributeDescriptions = append(d.PolicyAttributeDescriptions, elbtypes.PolicyAttributeDescription{AttributeName: a.AttributeName, AttributeValue: a.AttributeValue})
	}
	c.policies = append(c.policies, d)
	c.desc.Policies.OtherPolicies = append(c.desc.Policies.OtherPolicies, aws.ToString(in.PolicyName))
	return &elb.CreateLoadBalancerPolicyOutput{}, nil
}

func (f *fake) SetLoadBalancerPoliciesForBackendServer(ctx context.Context, in *elb.SetLoadBalancerPoliciesForBackendServerInput, _ ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesForBackendServerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "SetLoadBalancerPoliciesForBackendServer "+Params(in))
	c, err := f.lookup("SetLoadBalancerPoliciesForBackendServer", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	c.desc.BackendServerDescriptions = slices.DeleteFunc(c.desc.BackendServerDescriptions, func(b elbtypes.BackendServerDescription) bool {
		return aws.ToInt32(b.InstancePort) == aws.ToInt32(in.InstancePort)
	})
	if len(in.PolicyNames) > 0 {
		c.desc.BackendServerDescriptions = append(c.desc.BackendServerDescriptions, elbtypes.BackendServerDescription{InstancePort: in.InstancePort, PolicyNames: in.PolicyNames})
	}
	return &elb.SetLoadBalancerPoliciesForBackendServerOutput{}, nil
}

func (f *fake) DeleteLoadBalancerListeners(ctx context.Context, in *elb.DeleteLoadBalancerListenersInput, _ ...func(*elb.Options)) (*elb.DeleteLoadBalancerListenersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "DeleteLoadBalancerListeners "+Params(in))
	c, err := f.lookup("DeleteLoadBalancerListeners", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	c.desc.ListenerDescriptions = slices.DeleteFunc(c.desc.ListenerDescriptions, func(l elbtypes.ListenerDescription) bool {
		return slices.Contains(in.LoadBalancerPorts, l.Listener.LoadBalancerPort)
	})
	return &elb.DeleteLoadBalancerListenersOutput{}, nil
}

func (f *fake) CreateLoadBalancerListeners(ctx context.Context, in *elb.CreateLoadBalancerListenersInput, _ ...func(*elb.Options)) (*elb.CreateLoadBalancerListenersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "CreateLoadBalancerListeners "+Params(in))
	c, err := f.lookup("CreateLoadBalancerListeners", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	for _, l := range in.Listeners {
		i := slices.IndexFunc(c.desc.ListenerDescriptions, func(ld elbtypes.ListenerDescription) bool {
			return ld.Listener.LoadBalancerPort == l.LoadBalancerPort
		})
		switch {
		case i < 0:
			c.desc.ListenerDescriptions = append(c.desc.ListenerDescriptions, elbtypes.ListenerDescription{Listener: &l})
		case !sameListener(*c.desc.ListenerDescriptions[i].Listener, l): // AWS: an identical listener is no error
			return nil, &elbtypes.DuplicateListenerException{Message: aws.String(fmt.Sprintf("a listener already exists on port %d", l.LoadBalancerPort))}
		}
	}
	return &elb.CreateLoadBalancerListenersOutput{}, nil
}

func (f *fake) SetLoadBalancerPoliciesOfListener(ctx context.Context, in *elb.SetLoadBalancerPoliciesOfListenerInput, _ ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesOfListenerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "SetLoadBalancerPoliciesOfListener "+Params(in))
	c, err := f.lookup("SetLoadBalancerPoliciesOfListener", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(c.desc.ListenerDescriptions, func(ld elbtypes.ListenerDescription) bool {
		return ld.Listener.LoadBalancerPort == in.LoadBalancerPort
	})
	if i < 0 {
		return nil, &elbtypes.ListenerNotFoundException{Message: aws.String(fmt.Sprintf("no listener on port %d", in.LoadBalancerPort))}
	}
	c.desc.ListenerDescriptions[i].PolicyNames = in.PolicyNames
	return &elb.SetLoadBalancerPoliciesOfListenerOutput{}, nil
}

func (f *fake) ModifyLoadBalancerAttributes(ctx context.Context, in *elb.ModifyLoadBalancerAttributesInput, _ ...func(*elb.Options)) (*elb.ModifyLoadBalancerAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "ModifyLoadBalancerAttributes "+Params(in))
	c, err := f.lookup("ModifyLoadBalancerAttributes", aws.ToString(in.LoadBalancerName))
	if err != nil {
		return nil, err
	}
	c.idle = aws.ToInt32(in.LoadBalancerAttributes.ConnectionSettings.IdleTimeout)
	return &elb.ModifyLoadBalancerAttributesOutput{}, nil
}

// fakeV2 adapts fake to V2API (method names collide with the Classic ones).
type fakeV2 struct{ *fake }

func (f fakeV2) DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeLoadBalancers"); err != nil {
		return nil, err
	}
	arns := in.LoadBalancerArns
	for _, name := range in.Names {
		found := false
		for a, n := range f.nlbs {
			if aws.ToString(n.lb.LoadBalancerName) == name {
				arns, found = append(arns, a), true
			}
		}
		if !found {
			return nil, &v2types.LoadBalancerNotFoundException{}
		}
	}
	if len(arns) == 0 {
		for a := range f.nlbs {
			arns = append(arns, a)
		}
		slices.Sort(arns)
	}
	out := &elbv2.DescribeLoadBalancersOutput{}
	for _, a := range arns {
		n, ok := f.nlbs[a]
		if !ok {
			return nil, &v2types.LoadBalancerNotFoundException{}
		}
		out.LoadBalancers = append(out.LoadBalancers, n.lb)
	}
	return out, nil
}

func (f fakeV2) DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeTags"); err != nil {
		return nil, err
	}
	out := &elbv2.DescribeTagsOutput{}
	for _, a := range in.ResourceArns {
		tags, ok := f.tgTags[a]
		if n, isLB := f.nlbs[a]; isLB {
			tags, ok = n.tags, true
		} else if _, isTG := f.tgs[a]; isTG {
			ok = true
		}
		if !ok {
			return nil, &v2types.LoadBalancerNotFoundException{}
		}
		d := v2types.TagDescription{ResourceArn: aws.String(a)}
		for k, v := range tags {
			d.Tags = append(d.Tags, v2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}

func (f fakeV2) DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeListeners"); err != nil {
		return nil, err
	}
	n, ok := f.nlbs[aws.ToString(in.LoadBalancerArn)]
	if !ok {
		return nil, &v2types.LoadBalancerNotFoundException{}
	}
	return &elbv2.DescribeListenersOutput{Listeners: n.listeners}, nil
}

func (f fakeV2) DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeTargetGroups"); err != nil {
		return nil, err
	}
	out := &elbv2.DescribeTargetGroupsOutput{}
	for _, tg := range in.TargetGroupArns {
		if _, ok := f.tgs[tg]; !ok {
			return nil, &v2types.TargetGroupNotFoundException{}
		}
		g := v2types.TargetGroup{TargetGroupArn: aws.String(tg), TargetType: cmpOr(f.tgType[tg], v2types.TargetTypeEnumInstance), HealthCheckProtocol: f.hcProto[tg]}
		for a, n := range f.nlbs {
			if slices.ContainsFunc(n.listeners, func(l v2types.Listener) bool {
				if slices.Contains(forwardTargets(l.DefaultActions), tg) {
					return true
				}
				return slices.ContainsFunc(f.rules[aws.ToString(l.ListenerArn)], func(r v2types.Rule) bool { return slices.Contains(forwardTargets(r.Actions), tg) })
			}) {
				g.LoadBalancerArns = append(g.LoadBalancerArns, a)
			}
		}
		if hc, ok := f.hcTiming[tg]; ok {
			g.HealthCheckIntervalSeconds, g.UnhealthyThresholdCount = aws.Int32(hc[0]), aws.Int32(hc[1])
		}
		out.TargetGroups = append(out.TargetGroups, g)
	}
	return out, nil
}

func (f fakeV2) DescribeTargetGroupAttributes(ctx context.Context, in *elbv2.DescribeTargetGroupAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeTargetGroupAttributes"); err != nil {
		return nil, err
	}
	attrs, ok := f.tgs[aws.ToString(in.TargetGroupArn)]
	if !ok {
		return nil, &v2types.TargetGroupNotFoundException{}
	}
	out := &elbv2.DescribeTargetGroupAttributesOutput{}
	for k, v := range attrs {
		out.Attributes = append(out.Attributes, v2types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(v)})
	}
	return out, nil
}

func (f fakeV2) ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "ModifyTargetGroupAttributes "+Params(in))
	if err := f.count("v2.ModifyTargetGroupAttributes"); err != nil {
		return nil, err
	}
	attrs := f.tgs[aws.ToString(in.TargetGroupArn)]
	for _, a := range in.Attributes {
		attrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	return &elbv2.ModifyTargetGroupAttributesOutput{}, nil
}

func (f fakeV2) DescribeListenerAttributes(ctx context.Context, in *elbv2.DescribeListenerAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeListenerAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeListenerAttributes"); err != nil {
		return nil, err
	}
	out := &elbv2.DescribeListenerAttributesOutput{}
	for _, n := range f.nlbs {
		for k, v := range n.lattrs[aws.ToString(in.ListenerArn)] {
			out.Attributes = append(out.Attributes, v2types.ListenerAttribute{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	return out, nil
}

func (f fakeV2) ModifyListenerAttributes(ctx context.Context, in *elbv2.ModifyListenerAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyListenerAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "ModifyListenerAttributes "+Params(in))
	if err := f.count("v2.ModifyListenerAttributes"); err != nil {
		return nil, err
	}
	for _, n := range f.nlbs {
		if m, ok := n.lattrs[aws.ToString(in.ListenerArn)]; ok {
			for _, a := range in.Attributes {
				m[aws.ToString(a.Key)] = aws.ToString(a.Value)
			}
		}
	}
	return &elbv2.ModifyListenerAttributesOutput{}, nil
}

// addNLB adds a load balancer of type typ with one listener per protocol,
// each forwarding to its own target group.
func (f *fake) addNLB(name string, typ v2types.LoadBalancerTypeEnum, tags map[string]string, protocols ...v2types.ProtocolEnum) *fakeNLB {
	arn := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/" + name + "/0001"
	n := &fakeNLB{lb: v2types.LoadBalancer{LoadBalancerArn: aws.String(arn), LoadBalancerName: aws.String(name), Type: typ}, tags: tags, lattrs: map[string]map[string]string{}}
	for i, p := range protocols {
		tg := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s-%d/0001", name, i)
		f.tgs[tg] = map[string]string{"deregistration_delay.timeout_seconds": "300"}
		la := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/%s/0001/%d", name, i)
		n.listeners = append(n.listeners, v2types.Listener{ListenerArn: aws.String(la), Port: aws.Int32(int32(80 + i)), Protocol: p,
			DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}})
		n.lattrs[la] = map[string]string{attrTCPIdleTimeout: "350"}
		f.addTarget(tg, readyInstance, 80, v2types.TargetHealthStateEnumHealthy)
	}
	f.itags[readyInstance] = map[string]string{TagProxyReady: "true"}
	f.nlbs[arn] = n
	return n
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (f fakeV2) DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeRules"); err != nil {
		return nil, err
	}
	la := aws.ToString(in.ListenerArn)
	out := &elbv2.DescribeRulesOutput{}
	for _, n := range f.nlbs {
		for _, l := range n.listeners {
			if aws.ToString(l.ListenerArn) == la {
				out.Rules = append(out.Rules, v2types.Rule{IsDefault: aws.Bool(true), Priority: aws.String("default"), Actions: l.DefaultActions})
			}
		}
	}
	if len(out.Rules) == 0 {
		return nil, &v2types.ListenerNotFoundException{}
	}
	out.Rules = append(out.Rules, f.rules[la]...)
	return out, nil
}

func (f fakeV2) DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.DescribeTargetHealth"); err != nil {
		return nil, err
	}
	tg := aws.ToString(in.TargetGroupArn)
	if _, ok := f.tgs[tg]; !ok {
		return nil, &v2types.TargetGroupNotFoundException{}
	}
	return &elbv2.DescribeTargetHealthOutput{TargetHealthDescriptions: slices.Clone(f.targets[tg])}, nil
}

func (f fakeV2) AddTags(ctx context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("v2.AddTags"); err != nil {
		return nil, err
	}
	for _, a := range in.ResourceArns {
		var tags map[string]string
		if n, ok := f.nlbs[a]; ok {
			if n.tags == nil {
				n.tags = map[string]string{}
			}
			tags = n.tags
		} else if _, ok := f.tgs[a]; ok {
			if f.tgTags[a] == nil {
				f.tgTags[a] = map[string]string{}
			}
			tags = f.tgTags[a]
		} else {
			return nil, &v2types.LoadBalancerNotFoundException{}
		}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &elbv2.AddTagsOutput{}, nil
}

// fakeEC2 adapts fake to InstancesAPI.
type fakeEC2 struct{ *fake }

func (f fakeEC2) DescribeTags(ctx context.Context, in *ec2.DescribeTagsInput, _ ...func(*ec2.Options)) (*ec2.DescribeTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.count("ec2.DescribeTags"); err != nil {
		return nil, err
	}
	var ids, keys []string
	for _, flt := range in.Filters {
		switch aws.ToString(flt.Name) {
		case "resource-id":
			ids = flt.Values
		case "key":
			keys = flt.Values
		default:
			return nil, fmt.Errorf("fake ec2.DescribeTags: unexpected filter %s", aws.ToString(flt.Name))
		}
	}
	if len(ids) > instanceIDBatch {
		return nil, fmt.Errorf("fake ec2.DescribeTags: %d resource ids; at most %d", len(ids), instanceIDBatch)
	}
	out := &ec2.DescribeTagsOutput{}
	for _, id := range ids {
		for k, v := range f.itags[id] {
			if len(keys) == 0 || slices.Contains(keys, k) {
				out.Tags = append(out.Tags, ec2types.TagDescription{ResourceId: aws.String(id), ResourceType: ec2types.ResourceTypeInstance, Key: aws.String(k), Value: aws.String(v)})
			}
		}
	}
	return out, nil
}

// addTarget registers an instance (or ip) target in tg with a health state.
func (f *fake) addTarget(tg, id string, port int32, state v2types.TargetHealthStateEnum) {
	f.targets[tg] = append(f.targets[tg], v2types.TargetHealthDescription{
		Target:       &v2types.TargetDescription{Id: aws.String(id), Port: aws.Int32(port)},
		TargetHealth: &v2types.TargetHealth{State: state},
	})
}

// setHealth changes the health state of every target in tg.
func (f *fake) setHealth(tg string, state v2types.TargetHealthStateEnum) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.targets[tg] {
		f.targets[tg][i].TargetHealth = &v2types.TargetHealth{State: state}
	}
}
