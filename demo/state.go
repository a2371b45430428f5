package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/test/peer"
)

// audit runs `elbguard audit` twice against moto: as a table for people,
// and as JSON to check the statuses in want (load balancer name → status).
// wantCode is the exit status expected (1: something is non_compliant).
func (r *run) audit(ctx context.Context, wantCode int, want map[string]engine.Status) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	o := r.processOptions(r.moto.env...)
	r.ui.cmd("elbguard audit --output table")
	res, err := peer.Run(ctx, r.cfg.Elbguard, []string{"audit", "--output", "table"}, o)
	if err != nil {
		return fmt.Errorf("run elbguard audit: %w", err)
	}
	r.ui.block(res.Stdout, false)
	r.ui.block(res.Stderr, true)
	r.ui.say("exit status %d", res.Code)
	if res.Code != wantCode {
		return fmt.Errorf("elbguard audit exited %d; want %d", res.Code, wantCode)
	}
	js, err := peer.Run(ctx, r.cfg.Elbguard, []string{"audit", "--output", "json"}, o)
	if err != nil {
		return fmt.Errorf("run elbguard audit --output json: %w", err)
	}
	got, err := auditStatuses([]byte(js.Stdout))
	if err != nil {
		return err
	}
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got[name] != want[name] {
			bad = append(bad, fmt.Sprintf("%s is %q; want %q", name, got[name], want[name]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("elbguard audit: %s", strings.Join(bad, "; "))
	}
	return nil
}

// auditStatuses reads `elbguard audit --output json`: the engine's Result,
// or an object holding it under "result".
func auditStatuses(data []byte) (map[string]engine.Status, error) {
	var res struct {
		engine.Result
		Inner *engine.Result `json:"result"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("decode elbguard audit JSON: %w", err)
	}
	reports := res.Reports
	if res.Inner != nil {
		reports = res.Inner.Reports
	}
	got := map[string]engine.Status{}
	for _, rep := range reports {
		got[rep.Name] = rep.Status
	}
	return got, nil
}

// State is what the demo reads back from the emulator after the enforcer
// ran. Tests compare it with what the seed should have become.
type State struct {
	// Classic maps a Classic ELB's name to its listeners, each as
	// "HTTP:80 → instance port 80", and its backend ports with a proxy protocol
	// policy enabled.
	Classic map[string]ClassicState
	// TargetGroupProxyV2 maps a target group name to its
	// proxy_protocol_v2.enabled attribute (absent means false).
	TargetGroupProxyV2 map[string]bool
	// NLBListeners maps an NLB's name to its listeners, e.g. "TCP:80".
	NLBListeners map[string][]string
}

// ClassicState is one Classic ELB as read back.
type ClassicState struct {
	Listeners    []string
	Instances    []string // registered EC2 instance ids, sorted
	ProxyPorts   []int32  // instance ports with an enabled ProxyProtocolPolicyType policy
	BackendLines []string // for people: "port 80: elbguard-proxy-protocol (ProxyProtocolPolicyType ProxyProtocol=true)"
}

// ReadState reads the load balancers back through the SDK clients of cfg.
func ReadState(ctx context.Context, cfg aws.Config) (*State, error) {
	st := &State{Classic: map[string]ClassicState{}, TargetGroupProxyV2: map[string]bool{}, NLBListeners: map[string][]string{}}
	ce := elb.NewFromConfig(cfg)
	out, err := ce.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		return nil, fmt.Errorf("describe Classic load balancers: %w", err)
	}
	for _, lb := range out.LoadBalancerDescriptions {
		name := aws.ToString(lb.LoadBalancerName)
		var cs ClassicState
		for _, ld := range lb.ListenerDescriptions {
			l := ld.Listener
			// The instance protocol is left out: moto reports the listener's
			// protocol in its place.
			s := fmt.Sprintf("%s:%d → instance port %d", strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, aws.ToInt32(l.InstancePort))
			if c := aws.ToString(l.SSLCertificateId); c != "" {
				s += " cert " + shortARN(c)
			}
			cs.Listeners = append(cs.Listeners, s)
		}
		slices.Sort(cs.Listeners)
		for _, in := range lb.Instances {
			cs.Instances = append(cs.Instances, aws.ToString(in.InstanceId))
		}
		slices.Sort(cs.Instances)
		for _, b := range lb.BackendServerDescriptions {
			port := aws.ToInt32(b.InstancePort)
			if len(b.PolicyNames) == 0 {
				continue
			}
			pol, err := ce.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{
				LoadBalancerName: aws.String(name), PolicyNames: b.PolicyNames,
			})
			if err != nil {
				return nil, fmt.Errorf("describe policies of %s port %d: %w", name, port, err)
			}
			var descs []string
			proxy := false
			for _, p := range pol.PolicyDescriptions {
				var attrs []string
				on := false
				for _, a := range p.PolicyAttributeDescriptions {
					attrs = append(attrs, aws.ToString(a.AttributeName)+"="+aws.ToString(a.AttributeValue))
					if aws.ToString(a.AttributeName) == "ProxyProtocol" && strings.EqualFold(aws.ToString(a.AttributeValue), "true") {
						on = true
					}
				}
				if aws.ToString(p.PolicyTypeName) == "ProxyProtocolPolicyType" && on {
					proxy = true
				}
				descs = append(descs, fmt.Sprintf("%s (%s %s)", aws.ToString(p.PolicyName), aws.ToString(p.PolicyTypeName), strings.Join(attrs, " ")))
			}
			if proxy {
				cs.ProxyPorts = append(cs.ProxyPorts, port)
			}
			cs.BackendLines = append(cs.BackendLines, fmt.Sprintf("instance port %d: %s", port, strings.Join(descs, ", ")))
		}
		slices.Sort(cs.ProxyPorts)
		slices.Sort(cs.BackendLines)
		st.Classic[name] = cs
	}

	v2 := elbv2.NewFromConfig(cfg)
	lbs, err := v2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return nil, fmt.Errorf("describe ELBv2 load balancers: %w", err)
	}
	for _, lb := range lbs.LoadBalancers {
		ls, err := v2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		if err != nil {
			return nil, fmt.Errorf("describe listeners of %s: %w", aws.ToString(lb.LoadBalancerName), err)
		}
		for _, l := range ls.Listeners {
			st.NLBListeners[aws.ToString(lb.LoadBalancerName)] = append(st.NLBListeners[aws.ToString(lb.LoadBalancerName)],
				fmt.Sprintf("%s:%d", l.Protocol, aws.ToInt32(l.Port)))
		}
	}
	tgs, err := v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return nil, fmt.Errorf("describe target groups: %w", err)
	}
	for _, tg := range tgs.TargetGroups {
		attrs, err := v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return nil, fmt.Errorf("describe attributes of target group %s: %w", aws.ToString(tg.TargetGroupName), err)
		}
		on := false // moto leaves the attribute out until it is set: absent means false
		for _, a := range attrs.Attributes {
			if aws.ToString(a.Key) == "proxy_protocol_v2.enabled" {
				on = aws.ToString(a.Value) == "true"
			}
		}
		st.TargetGroupProxyV2[aws.ToString(tg.TargetGroupName)] = on
	}
	return st, nil
}

// Expected end state of the seed after the enforcer: the tagged Classic ELB
// on TCP/SSL with proxy protocol on both instance ports, the untagged one as
// it was, the tagged NLB's target group with proxy protocol v2.
var (
	wantClassic = []string{"SSL:443 → instance port 81 cert server-certificate/" + CertName, "TCP:80 → instance port 80"}
	wantLegacy  = []string{"HTTP:80 → instance port 80", "HTTPS:443 → instance port 81 cert server-certificate/" + CertName}
)

// Check compares the state with the end the demo promises and lists every
// difference.
func (st *State) Check() error {
	var errs []error
	c := st.Classic[ClassicName]
	if !slices.Equal(c.Listeners, wantClassic) {
		errs = append(errs, fmt.Errorf("%s listeners are %q; want %q", ClassicName, c.Listeners, wantClassic))
	}
	if !slices.Equal(c.ProxyPorts, []int32{80, 81}) {
		errs = append(errs, fmt.Errorf("%s has proxy protocol on instance ports %v; want [80 81]", ClassicName, c.ProxyPorts))
	}
	l := st.Classic[LegacyName]
	if !slices.Equal(l.Listeners, wantLegacy) {
		errs = append(errs, fmt.Errorf("%s (untagged) listeners are %q; want them untouched: %q", LegacyName, l.Listeners, wantLegacy))
	}
	if len(l.BackendLines) > 0 {
		errs = append(errs, fmt.Errorf("%s (untagged) has backend policies %q; want none", LegacyName, l.BackendLines))
	}
	if !st.TargetGroupProxyV2[TargetGroup] {
		errs = append(errs, fmt.Errorf("target group %s has proxy_protocol_v2.enabled false; want true", TargetGroup))
	}
	if got := st.NLBListeners[NLBName]; !slices.Equal(got, []string{"TCP:80"}) {
		errs = append(errs, fmt.Errorf("%s listeners are %q; want [TCP:80]", NLBName, got))
	}
	return errors.Join(errs...)
}

// CheckGated compares the readiness step's load balancer with what the gate
// promises: held (enforced false), it is as created, HTTP/HTTPS without
// backend policies; once its instance is ready (enforced true), it is on
// TCP/SSL with proxy protocol on both instance ports. Either way the
// instance stays registered.
func (st *State) CheckGated(instance string, enforced bool) error {
	var errs []error
	g, ok := st.Classic[GatedName]
	if !ok {
		return fmt.Errorf("%s is not in the emulator", GatedName)
	}
	if !slices.Contains(g.Instances, instance) {
		errs = append(errs, fmt.Errorf("%s has instances %q; want %s registered", GatedName, g.Instances, instance))
	}
	wantL, wantP, what := wantLegacy, []int32(nil), "held: unchanged"
	if enforced {
		wantL, wantP, what = wantClassic, []int32{80, 81}, "enforced"
	}
	if !slices.Equal(g.Listeners, wantL) {
		errs = append(errs, fmt.Errorf("%s listeners are %q; want them %s: %q", GatedName, g.Listeners, what, wantL))
	}
	if !slices.Equal(g.ProxyPorts, wantP) {
		errs = append(errs, fmt.Errorf("%s has proxy protocol on instance ports %v; want %v (%s)", GatedName, g.ProxyPorts, wantP, what))
	}
	if !enforced && len(g.BackendLines) > 0 {
		errs = append(errs, fmt.Errorf("%s has backend policies %q; want none (held: unchanged)", GatedName, g.BackendLines))
	}
	return errors.Join(errs...)
}

// showState prints the state for people.
func (r *run) showState(st *State) {
	for _, name := range []string{ClassicName, LegacyName} {
		c := st.Classic[name]
		note := "tagged enforce"
		if name == LegacyName {
			note = "untagged"
		}
		r.ui.say("Classic ELB %s (%s)", name, note)
		var lines []string
		for _, l := range c.Listeners {
			lines = append(lines, "listener "+l)
		}
		if len(c.BackendLines) == 0 {
			lines = append(lines, "backend policies: none")
		}
		lines = append(lines, c.BackendLines...)
		r.ui.block(strings.Join(lines, "\n"), false)
	}
	r.ui.say("NLB %s (tagged enforce)", NLBName)
	lines := []string{"listeners " + strings.Join(st.NLBListeners[NLBName], ", ")}
	for _, tg := range slices.Sorted(maps.Keys(st.TargetGroupProxyV2)) {
		lines = append(lines, fmt.Sprintf("target group %s: proxy_protocol_v2.enabled=%t", tg, st.TargetGroupProxyV2[tg]))
	}
	r.ui.block(strings.Join(lines, "\n"), false)
}
