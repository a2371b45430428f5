package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// ProxyPolicyName is the ProxyProtocolPolicyType policy elbguard creates on a
// Classic load balancer that has no equivalent one (ProxyProtocol=true).
const ProxyPolicyName = "elbguard-proxy-protocol"

// Classic policy types and limits.
const (
	proxyPolicyType    = "ProxyProtocolPolicyType"
	proxyAttribute     = "ProxyProtocol"
	sslNegotiationType = "SSLNegotiationPolicyType"
	lbCookieType       = "LBCookieStickinessPolicyType"
	appCookieType      = "AppCookieStickinessPolicyType"
	classicMinIdle     = 1
	classicMaxIdle     = 3600 // the API reference and CloudFormation (the user guide says 4000; the API is what accepts it)
	// listenerSwapTimeout bounds a listener swap, which runs detached from
	// the invocation's cancellation; a swap starts only when the invocation
	// has this long left (the enforcer Lambda's timeout is 60 s).
	listenerSwapTimeout = 40 * time.Second
)

// classicPolicies indexes a Classic load balancer's policies by name.
type classicPolicies map[string]elbtypes.PolicyDescription

func (p classicPolicies) isProxy(name string) bool {
	d, ok := p[name]
	if !ok || aws.ToString(d.PolicyTypeName) != proxyPolicyType {
		return false
	}
	for _, a := range d.PolicyAttributeDescriptions {
		if aws.ToString(a.AttributeName) == proxyAttribute && strings.EqualFold(aws.ToString(a.AttributeValue), "true") {
			return true
		}
	}
	return false
}

// classicReport evaluates one Classic load balancer and, in enforce mode,
// fixes it: proxy protocol on every instance port first, then listeners,
// then the idle timeout.
func (e *Engine) classicReport(ctx context.Context, lb *elbtypes.LoadBalancerDescription, tags map[string]string) Report {
	name := aws.ToString(lb.LoadBalancerName)
	r := Report{Name: name, Type: TypeClassic}
	// Mode and scope first: a restore record is acted on only where the tags
	// allow a change (restore.go).
	done := e.mode(&r, tags)
	var sc scope
	if !done {
		sc, done = e.scope(&r, tags)
	}
	if e.restoreListeners(ctx, &r, lb, tags, sc, done) || done {
		return r
	}
	checkHealthTarget(&r, lb)
	lb = e.classicScope(ctx, &r, lb, sc)
	idle, done := e.idleTimeout(&r, tags, classicMinIdle, classicMaxIdle)
	if done {
		return r
	}
	var pols classicPolicies
	if e.needPolicies(&r, lb) {
		out, err := e.classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String(name)})
		if err != nil {
			if isGone(err) {
				r.Status = StatusGone
			} else {
				r.fail(fmt.Errorf("describe policies of %s: %w", name, err))
			}
			return r
		}
		pols = classicPolicies{}
		for _, d := range out.PolicyDescriptions {
			pols[aws.ToString(d.PolicyName)] = d
		}
	}
	steps := e.classicProxySteps(&r, lb, pols)
	steps = append(steps, e.classicListenerSteps(&r, lb, pols, tags)...)
	if idle > 0 {
		s, ok := e.classicIdleStep(ctx, &r, name, idle)
		if !ok {
			return r
		}
		steps = append(steps, s...)
	}
	e.applyReady(ctx, &r, tags, classicBackends(lb, pols), steps)
	return r
}

// needPolicies reports whether evaluating lb needs its policy descriptions.
// They tell which attached policies are proxy-protocol ones, and, before a
// write (or a dry run's plan of it), whether an equivalent policy exists to
// reuse. A load balancer with no policy on any instance port or listener that
// is in audit mode needs none: every port lacks the PROXY protocol, and cookie
// stickiness policies are named in the description itself. This saves one
// read per non-compliant load balancer in an audit.
func (e *Engine) needPolicies(r *Report, lb *elbtypes.LoadBalancerDescription) bool {
	if r.Mode == ModeEnforce { // a dry run too: its plan is the change, policy reuse included
		return true
	}
	for _, b := range lb.BackendServerDescriptions {
		if len(b.PolicyNames) > 0 {
			return true
		}
	}
	for _, l := range lb.ListenerDescriptions {
		if len(l.PolicyNames) > 0 {
			return true
		}
	}
	return false
}

// classicProxySteps plans the proxy protocol policy and its attachment to
// every instance port a listener forwards to, merged with the policies
// already on that port.
func (e *Engine) classicProxySteps(r *Report, lb *elbtypes.LoadBalancerDescription, pols classicPolicies) []step {
	name := aws.ToString(lb.LoadBalancerName)
	if !needsProxyPolicy(lb, pols) {
		return nil // no instance port lacks it: no policy to create either
	}
	var steps []step
	proxy := ""
	names := make([]string, 0, len(pols))
	for n := range pols {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if pols.isProxy(n) && (proxy == "" || n == ProxyPolicyName) {
			proxy = n
		}
	}
	if proxy == "" {
		proxy = ProxyPolicyName
		for i := 2; pols[proxy].PolicyName != nil; i++ {
			proxy = fmt.Sprintf("%s-%d", ProxyPolicyName, i)
		}
		if pols == nil {
			r.find(RuleProxyPolicy, "no %s policy is attached; enforcing creates %s or reuses an equivalent one", proxyPolicyType, proxy)
		} else {
			r.find(RuleProxyPolicy, "no %s policy with %s=true; elbguard creates %s", proxyPolicyType, proxyAttribute, proxy)
		}
		target := name + "/" + proxy
		steps = append(steps, step{
			unit: unitPolicy,
			do: func(ctx context.Context, r *Report) bool {
				in := &elb.CreateLoadBalancerPolicyInput{
					LoadBalancerName: aws.String(name),
					PolicyName:       aws.String(proxy),
					PolicyTypeName:   aws.String(proxyPolicyType),
					PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}},
				}
				return r.call("CreateLoadBalancerPolicy", target, in, func() error {
					_, err := e.classic.CreateLoadBalancerPolicy(ctx, in)
					var dup *elbtypes.DuplicatePolicyNameException
					if errors.As(err, &dup) {
						err = e.sameProxyPolicy(ctx, r, name, proxy, err)
					}
					return err
				})
			},
		})
	}
	backend := map[int32][]string{}
	for _, b := range lb.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	var ports []int32
	for _, l := range lb.ListenerDescriptions {
		if l.Listener != nil && !slices.Contains(ports, aws.ToInt32(l.Listener.InstancePort)) {
			ports = append(ports, aws.ToInt32(l.Listener.InstancePort))
		}
	}
	slices.Sort(ports)
	for _, port := range ports {
		current := backend[port]
		if slices.ContainsFunc(current, pols.isProxy) {
			continue
		}
		want := make([]string, 0, len(current)+1)
		for _, p := range current {
			if aws.ToString(pols[p].PolicyTypeName) == proxyPolicyType {
				r.find(RuleBackendProxy, "instance port %d: policy %s has %s other than true; replaced", port, p, proxyAttribute)
				continue
			}
			want = append(want, p)
		}
		want = append(want, proxy)
		r.find(RuleBackendProxy, "instance port %d does not receive the PROXY protocol; policies become %v", port, want)
		target := fmt.Sprintf("%s:instance-port/%d", name, port)
		steps = append(steps, step{
			unit: classicUnit(port),
			do: func(ctx context.Context, r *Report) bool {
				in := &elb.SetLoadBalancerPoliciesForBackendServerInput{
					LoadBalancerName: aws.String(name), InstancePort: aws.Int32(port), PolicyNames: want,
				}
				return r.call("SetLoadBalancerPoliciesForBackendServer", target, in, func() error {
					_, err := e.classic.SetLoadBalancerPoliciesForBackendServer(ctx, in)
					return err
				})
			},
		})
	}
	return steps
}

// needsProxyPolicy reports whether an instance port that a listener
// forwards to lacks a proxy protocol policy.
func needsProxyPolicy(lb *elbtypes.LoadBalancerDescription, pols classicPolicies) bool {
	backend := map[int32][]string{}
	for _, b := range lb.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	for _, l := range lb.ListenerDescriptions {
		if l.Listener != nil && !slices.ContainsFunc(backend[aws.ToInt32(l.Listener.InstancePort)], pols.isProxy) {
			return true
		}
	}
	return false
}

// sameProxyPolicy handles DuplicatePolicyName on creating the proxy policy:
// a concurrent run created it first. It returns nil when the policy now there
// is an equivalent proxy protocol policy, else dupErr (or the read's error).
func (e *Engine) sameProxyPolicy(ctx context.Context, r *Report, name, policy string, dupErr error) error {
	out, err := e.classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{
		LoadBalancerName: aws.String(name), PolicyNames: []string{policy},
	})
	if err != nil {
		return fmt.Errorf("%w; then describe it: %w", dupErr, err)
	}
	pols := classicPolicies{}
	for _, d := range out.PolicyDescriptions {
		pols[aws.ToString(d.PolicyName)] = d
	}
	if !pols.isProxy(policy) {
		return dupErr
	}
	r.find(RuleConcurrentChange, "policy %s was created by a concurrent run; reused", policy)
	return nil
}

// tcpProtocol maps HTTP to TCP and HTTPS to SSL; other protocols stay.
func tcpProtocol(p string) string {
	switch strings.ToUpper(p) {
	case "HTTP":
		return "TCP"
	case "HTTPS":
		return "SSL"
	}
	return strings.ToUpper(p)
}

func isHTTP(p string) bool {
	return strings.EqualFold(p, "HTTP") || strings.EqualFold(p, "HTTPS")
}

// classicListenerSteps plans HTTP→TCP and HTTPS→SSL on every listener that
// needs it, one listener per step. A listener with cookie stickiness is
// left alone (stickiness_would_drop) unless the load balancer says
// elbguard:stickiness=drop: a TCP/SSL listener cannot keep it.
func (e *Engine) classicListenerSteps(r *Report, lb *elbtypes.LoadBalancerDescription, pols classicPolicies, tags map[string]string) []step {
	cookies := map[string]bool{}
	if lb.Policies != nil {
		for _, p := range lb.Policies.AppCookieStickinessPolicies {
			cookies[aws.ToString(p.PolicyName)] = true
		}
		for _, p := range lb.Policies.LBCookieStickinessPolicies {
			cookies[aws.ToString(p.PolicyName)] = true
		}
	}
	listeners := slices.DeleteFunc(slices.Clone(lb.ListenerDescriptions), func(ld elbtypes.ListenerDescription) bool {
		return ld.Listener == nil
	})
	slices.SortFunc(listeners, func(a, b elbtypes.ListenerDescription) int {
		return cmp.Compare(a.Listener.LoadBalancerPort, b.Listener.LoadBalancerPort)
	})
	var steps []step
	for _, ld := range listeners {
		l := ld.Listener
		if !needsSwap(l) {
			continue
		}
		instProto := aws.ToString(l.InstanceProtocol)
		if instProto == "" {
			instProto = aws.ToString(l.Protocol)
		}
		want := elbtypes.Listener{
			LoadBalancerPort: l.LoadBalancerPort,
			Protocol:         aws.String(tcpProtocol(aws.ToString(l.Protocol))),
			InstancePort:     l.InstancePort,
			InstanceProtocol: aws.String(tcpProtocol(instProto)),
			SSLCertificateId: l.SSLCertificateId,
		}
		var keep, sticky []string
		for _, p := range ld.PolicyNames {
			t := aws.ToString(pols[p].PolicyTypeName)
			if cookies[p] || t == lbCookieType || t == appCookieType {
				sticky = append(sticky, p)
				continue
			}
			keep = append(keep, p)
		}
		if len(sticky) > 0 && !dropsStickiness(tags) {
			r.find(RuleStickinessWouldDrop, "listener %d left alone: cookie stickiness (%s) works on HTTP/HTTPS listeners only, and converting it to %s would send each client's requests to any instance. "+
				"Make the application share its sessions and tag the load balancer %s=%s, or leave the listener as it is (%s)",
				l.LoadBalancerPort, strings.Join(sticky, ", "), tcpProtocol(aws.ToString(l.Protocol)), TagStickiness, stickinessDrop, TagPorts)
			r.held = true
			continue
		}
		for _, p := range sticky {
			r.find(RulePolicyDropped, "listener %d: policy %s (cookie stickiness) only works on HTTP/HTTPS listeners; dropped (%s=%s)", l.LoadBalancerPort, p, TagStickiness, stickinessDrop)
		}
		r.find(RuleListenerProtocol, "listener %d is %s:%d -> %s:%d; want %s:%d -> %s:%d",
			l.LoadBalancerPort, strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, strings.ToUpper(instProto), aws.ToInt32(l.InstancePort),
			aws.ToString(want.Protocol), want.LoadBalancerPort, aws.ToString(want.InstanceProtocol), aws.ToInt32(want.InstancePort))
		steps = append(steps, step{
			unit: classicUnit(aws.ToInt32(l.InstancePort)),
			do: func(ctx context.Context, r *Report) bool {
				return e.replaceListener(ctx, r, lb, ld, want, keep)
			},
		})
	}
	return steps
}

// classicIdleStep reads the idle timeout and plans a change when it differs.
// ok is false when the read failed (the report says why).
func (e *Engine) classicIdleStep(ctx context.Context, r *Report, name string, idle int) ([]step, bool) {
	out, err := e.classic.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)})
	if err != nil {
		if isGone(err) {
			r.Status = StatusGone
		} else {
			r.fail(fmt.Errorf("describe attributes of %s: %w", name, err))
		}
		return nil, false
	}
	current := int32(0)
	if a := out.LoadBalancerAttributes; a != nil && a.ConnectionSettings != nil {
		current = aws.ToInt32(a.ConnectionSettings.IdleTimeout)
	}
	if current == int32(idle) {
		return nil, true
	}
	r.find(RuleIdleTimeout, "idle timeout is %ds; want %ds", current, idle)
	target := name
	return []step{{
		do: func(ctx context.Context, r *Report) bool {
			in := &elb.ModifyLoadBalancerAttributesInput{
				LoadBalancerName: aws.String(name),
				LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{
					ConnectionSettings: &elbtypes.ConnectionSettings{IdleTimeout: aws.Int32(int32(idle))},
				},
			}
			return r.call("ModifyLoadBalancerAttributes", target, in, func() error {
				_, err := e.classic.ModifyLoadBalancerAttributes(ctx, in)
				return err
			})
		},
	}}, true
}
