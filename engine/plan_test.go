package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// scenario is one engine fixture: the account a test builds on the fake,
// the options its engine gets, and the calls that fail.
type scenario struct {
	name  string
	build func(f *fake)
	opts  func(f *fake) []Option // nil: certificates only
	fail  map[string]int         // action -> the call (1-based) that fails
}

const testCert = "arn:aws:iam::1:server-certificate/web"

func sslFrontListener(port, instPort int32, inst string) elbtypes.Listener {
	return elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: port, InstanceProtocol: aws.String(inst), InstancePort: aws.Int32(instPort), SSLCertificateId: aws.String(testCert)}
}

func proxyPolicy(name, value string) elbtypes.PolicyDescription {
	return elbtypes.PolicyDescription{PolicyName: aws.String(name), PolicyTypeName: aws.String(proxyPolicyType),
		PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String(value)}}}
}

func readyOpts(f *fake) []Option { return []Option{WithInstances(fakeEC2{f}), allCerts()} }

// engineScenarios are the fixtures of the engine's fake-based tests (the
// test each comes from in brackets), as one table. Restore-record scenarios
// (restore_test.go) join it once restore.go makes its calls through
// Report.call (issue 20 §1 rewrites it).
var engineScenarios = []scenario{
	{name: "classic mixed listeners, kept and dropped policies, idle timeout [TestClassicEnforce]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "3600"},
			listener("HTTP", 80, "HTTP", 80), sslFrontListener(443, 81, "HTTP"), listener("TCP", 9000, "TCP", 9000))
		c.policies = []elbtypes.PolicyDescription{
			{PolicyName: aws.String("auth"), PolicyTypeName: aws.String("BackendServerAuthenticationPolicyType")},
			{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)},
			{PolicyName: aws.String("sticky"), PolicyTypeName: aws.String(lbCookieType)},
		}
		c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(81), PolicyNames: []string{"auth"}}}
		c.desc.ListenerDescriptions[1].PolicyNames = []string{"tls", "sticky"}
		c.desc.Policies.LBCookieStickinessPolicies = []elbtypes.LBCookieStickinessPolicy{{PolicyName: aws.String("sticky")}}
	}},
	{name: "classic reuses an unattached equivalent policy [TestClassicReusesEquivalentPolicyAndReplacesFalseOne]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
		c.policies = []elbtypes.PolicyDescription{proxyPolicy("mine", "True"), proxyPolicy("off", "false")}
		c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"off"}}}
	}},
	{name: "classic default name taken [TestClassicEnforce]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
		c.policies = []elbtypes.PolicyDescription{proxyPolicy(ProxyPolicyName, "false")}
	}},
	{name: "classic compliant", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
		proxyOn(c)
	}},
	{name: "classic audit mode [TestModes]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "audit"}, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic off and untagged [TestModes]", build: func(f *fake) {
		f.addClassic("off", map[string]string{tag: "off"}, listener("HTTP", 80, "HTTP", 80))
		f.addClassic("untagged", nil, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic ports scope [TestPortsScope]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce", TagPorts: "443"}, listener("HTTP", 80, "HTTP", 80), sslFrontListener(443, 81, "HTTP"), listener("TCP", 22, "TCP", 22))
	}},
	{name: "classic ports scope, shared instance port [TestPortsScopeSharedInstancePort]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce", TagPorts: "80"}, listener("HTTP", 80, "HTTP", 80), listener("TCP", 8080, "TCP", 80))
	}},
	{name: "classic IaC owner [TestIaCOwners]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "web-prod"}, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic IaC override [TestIaCOwners]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "web-prod", TagIaC: "override"}, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic malformed tags [TestMalformedTags]", build: func(f *fake) {
		f.addClassic("mode", map[string]string{tag: "sometimes"}, listener("HTTP", 80, "HTTP", 80))
		f.addClassic("idle", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "forever"}, listener("HTTP", 80, "HTTP", 80))
		f.addClassic("unknown", map[string]string{tag: "enforce", "elbguard:typo": "x"}, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic exemptions [TestExemptions]", build: func(f *fake) {
		f.addClassic("exempt", map[string]string{tag: "enforce", TagExemptUntil: "2999-01-01", TagExemptReason: "vendor"}, listener("HTTP", 80, "HTTP", 80))
		f.addClassic("expired", map[string]string{tag: "enforce", TagExemptUntil: "2001-01-01", TagExemptReason: "vendor"}, listener("HTTP", 80, "HTTP", 80))
	}},
	{name: "classic secure back end [TestSecureBackend]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), sslFrontListener(443, 443, "HTTPS"))
	}},
	{name: "classic health check on the redirect port [TestHealthCheckHitsRedirect]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), sslFrontListener(443, 81, "HTTP"))
		c.desc.HealthCheck = &elbtypes.HealthCheck{Target: aws.String("HTTP:80/index.html")}
	}},
	{name: "classic certificate missing [TestCertificateGate]", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), sslFrontListener(443, 81, "HTTP"))
	}, opts: func(f *fake) []Option {
		c := &fakeCerts{missing: map[string]bool{"web": true}}
		return []Option{WithCertificates(c, c)}
	}},
	{name: "classic readiness: not ready, ready, skip [TestReadinessGateClassic]", build: func(f *fake) {
		register(f.addClassic("held", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80)), "i-1", "i-2")
		register(f.addClassic("ready", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80)), "i-3")
		register(f.addClassic("skip", map[string]string{tag: "enforce", TagReadiness: "skip"}, listener("HTTP", 80, "HTTP", 80)), "i-2")
		f.itags["i-1"] = map[string]string{TagProxyReady: "true"}
		f.itags["i-3"] = map[string]string{TagProxyReady: "true"}
	}, opts: readyOpts},
	{name: "classic readiness drift [TestReadinessDriftClassic]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "120"}, listener("TCP", 80, "TCP", 80))
		proxyOn(c)
		register(c, "i-1")
	}, opts: readyOpts},
	{name: "classic rollback after a failed create [TestClassicRollback]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), listener("HTTP", 8080, "HTTP", 8080))
		c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{ProxyPolicyName}}, {InstancePort: aws.Int32(8080), PolicyNames: []string{ProxyPolicyName}}}
		c.policies = []elbtypes.PolicyDescription{proxyPolicy(ProxyPolicyName, "true")}
	}, fail: map[string]int{"CreateLoadBalancerListeners": 1}},
	{name: "classic policies not reattached [TestClassicRollbackWhenPoliciesCannotBeReattached]", build: func(f *fake) {
		c := f.addClassic("web", map[string]string{tag: "enforce"}, sslFrontListener(443, 81, "HTTP"))
		c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)}}
		c.desc.ListenerDescriptions[0].PolicyNames = []string{"tls"}
	}, fail: map[string]int{"SetLoadBalancerPoliciesOfListener": 1}},
	{name: "classic backend policy write fails", build: func(f *fake) {
		f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), listener("HTTP", 8080, "HTTP", 8080))
	}, fail: map[string]int{"SetLoadBalancerPoliciesForBackendServer": 2}},
	{name: "network TCP, TLS, UDP, idle timeout, and an ALB [TestNetwork]", build: func(f *fake) {
		f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "900"},
			v2types.ProtocolEnumTcp, v2types.ProtocolEnumTls, v2types.ProtocolEnumUdp)
		f.addNLB("alb", v2types.LoadBalancerTypeEnumApplication, map[string]string{tag: "enforce"}, v2types.ProtocolEnumHttp)
	}},
	{name: "network ports scope [TestNetworkPortsScope]", build: func(f *fake) {
		f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagPorts: "80"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	}},
	{name: "network IaC owner and exemption [TestNetworkScope]", build: func(f *fake) {
		f.addNLB("stack", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "edge"}, v2types.ProtocolEnumTcp)
		f.addNLB("exempt", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagExemptUntil: "2999-01-01", TagExemptReason: "vendor"}, v2types.ProtocolEnumTcp)
	}},
	{name: "network ALB target group [TestNetworkALBTargetGroupSkipped]", build: func(f *fake) {
		n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
		f.tgType[forwardTargets(n.listeners[1].DefaultActions)[0]] = v2types.TargetTypeEnumAlb
	}},
	{name: "network one write fails, the others go on [TestNetworkFailureIsIndependent]", build: func(f *fake) {
		f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "900"},
			v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	}, fail: map[string]int{"v2.ModifyTargetGroupAttributes": 1}},
	{name: "network readiness: not ready, ip targets [TestReadinessGateNetwork]", build: func(f *fake) {
		n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp)
		f.addTarget(forwardTargets(n.listeners[0].DefaultActions)[0], "i-new", 80, v2types.TargetHealthStateEnumHealthy)
		ip := f.addNLB("ips", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp)
		tg := forwardTargets(ip.listeners[0].DefaultActions)[0]
		f.tgType[tg] = v2types.TargetTypeEnumIp
		f.addTarget(tg, "10.0.0.5", 80, v2types.TargetHealthStateEnumHealthy)
	}, opts: readyOpts},
	{name: "network verified change [TestVerifyRollsBackOnHealthDrop]", build: func(f *fake) {
		n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
		f.addTarget(forwardTargets(n.listeners[0].DefaultActions)[0], "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	}, opts: func(f *fake) []Option { return append(readyOpts(f), WithVerifier(&queue{})) }},
	{name: "many load balancers, more than the change budget", build: func(f *fake) {
		for i := range DefaultMaxChanges + 3 {
			f.addClassic(fmt.Sprintf("web-%02d", i), map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
		}
	}},
}

// build returns a fresh fake with s's account and an engine on it.
func (s scenario) engine(t *testing.T, cfg Config) (*fake, *Engine) {
	t.Helper()
	f := newFake()
	s.build(f)
	opts := []Option{allCerts()}
	if s.opts != nil {
		opts = s.opts(f)
	}
	opts = append(opts, WithInstances(fakeEC2{f}))
	e, err := New(f, fakeV2{f}, cfg, nil, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for a, n := range s.fail {
		f.failNth[a] = n
	}
	return f, e
}

// inRunOrder sorts reports as a run with concurrency 1 handles them:
// Classic load balancers by name, then ELBv2 ones by ARN.
func inRunOrder(reports []Report) []Report {
	out := slices.Clone(reports)
	slices.SortStableFunc(out, func(a, b Report) int {
		ac, bc := a.Type == TypeClassic, b.Type == TypeClassic
		if ac != bc {
			if ac {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.ARN, b.ARN), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// TestPlanIsTheChange runs every engine scenario as a dry run, then for real
// on a fresh copy, and compares the calls the plan lists (status planned)
// with the calls the fake account received, in order, with parameters. A
// scenario with a failing call must have made exactly the plan's calls up to
// and including the failed one (what follows a failure is its recovery,
// which no plan lists).
func TestPlanIsTheChange(t *testing.T) {
	for _, s := range engineScenarios {
		t.Run(s.name, func(t *testing.T) {
			cfg := Config{Concurrency: 1}
			fp, dry := s.engine(t, Config{Concurrency: 1, DryRun: true})
			plan := sweep(t, dry)
			if len(fp.made) != 0 {
				t.Fatalf("the dry run made calls: %q", fp.made)
			}
			var want []string
			for _, r := range inRunOrder(plan.Reports) {
				for _, a := range r.Actions {
					if a.Status == ActionPlanned {
						want = append(want, a.Line())
					}
				}
			}
			f, real := s.engine(t, cfg)
			done := sweep(t, real)
			got := f.made
			if len(s.fail) == 0 {
				if !slices.Equal(got, want) {
					t.Fatalf("calls made differ from the plan:\n got  %q\n want %q", got, want)
				}
			} else {
				failed := firstFailed(done)
				if failed < 0 {
					t.Fatalf("no call failed; the scenario's failure %v did not happen", s.fail)
				}
				if len(want) <= failed || !slices.Equal(got[:failed+1], want[:failed+1]) {
					t.Fatalf("calls made up to the failure differ from the plan:\n got  %q\n want %q", got[:min(failed+1, len(got))], want)
				}
			}
			// Held, deferred and audit-mode reports list what they need as
			// held, never as planned, and say why.
			for _, r := range plan.Reports {
				if r.Held != nil && slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status == ActionPlanned }) {
					t.Errorf("%s: held (%s) with planned calls %+v", r.Name, r.Held.Rule, r.Actions)
				}
				if (r.Status == StatusHeld || r.Status == StatusDeferred) && (r.Held == nil || !hasRule(r, r.Held.Rule)) {
					t.Errorf("%s: %s without its finding: held %+v, findings %+v", r.Name, r.Status, r.Held, r.Findings)
				}
			}
		})
	}
}

// firstFailed is the index, among all calls the run made in run order, of
// the first failed one; -1 when none failed.
func firstFailed(res *Result) int {
	i := 0
	for _, r := range inRunOrder(res.Reports) {
		for _, a := range r.Actions {
			if a.Status == ActionFailed {
				return i
			}
			if a.Status == ActionApplied {
				i++
			}
		}
	}
	return -1
}

// TestPlanLines: a plan line names the call with the parameters the request
// carries, as a person checks it before saying yes.
func TestPlanLines(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "300"}, sslFrontListener(443, 81, "HTTP"))
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)}}
	c.desc.ListenerDescriptions[0].PolicyNames = []string{"tls"}
	r := reportOf(t, sweep(t, newEngine(t, f, Config{DryRun: true})), "web")
	want := []string{
		"CreateLoadBalancerPolicy elbguard-proxy-protocol ProxyProtocolPolicyType ProxyProtocol=true",
		"SetLoadBalancerPoliciesForBackendServer instance-port=81 policies=[elbguard-proxy-protocol]",
		"AddTags elbguard:restore:443=(signed record)",
		"DeleteLoadBalancerListeners 443",
		"CreateLoadBalancerListeners SSL:443->TCP:81 cert=" + testCert,
		"SetLoadBalancerPoliciesOfListener 443 policies=[tls]",
		"RemoveTags elbguard:restore:443",
		"ModifyLoadBalancerAttributes idle-timeout=300",
	}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Errorf("got plan\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWithPlanAppliesNoMoreThanThePlan: an approved plan is applied as it
// is; a load balancer that changed in between is left alone and says so,
// and one the plan did not list is never changed.
func TestWithPlanAppliesNoMoreThanThePlan(t *testing.T) {
	f := newFake()
	f.addClassic("same", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	changed := f.addClassic("changed", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	late := f.addClassic("late", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
	proxyOn(late)
	plan := sweep(t, newEngine(t, f, Config{DryRun: true}))
	extra := listener("HTTP", 8080, "HTTP", 8080)
	// Between the plan and the apply: someone adds a listener to one load
	// balancer and breaks another that was compliant.
	changed.desc.ListenerDescriptions = append(changed.desc.ListenerDescriptions, elbtypes.ListenerDescription{Listener: &extra})
	late.desc.BackendServerDescriptions = nil
	e := newEngine(t, f, Config{}).WithPlan(plan)
	res, err := e.Reconcile(context.Background(), Targets{Classic: []string{"same", "changed", "late"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := reportOf(t, res, "same"); r.Status != StatusRemediated {
		t.Errorf("same: got %s %+v; want remediated", r.Status, r.Findings)
	}
	for _, name := range []string{"changed", "late"} {
		if r := reportOf(t, res, name); r.Status != StatusError || !hasRule(r, RulePlanStale) || len(r.Actions) != 0 {
			t.Errorf("%s: got %s %+v %+v; want error, plan_stale, no call", name, r.Status, r.Findings, r.Actions)
		}
	}
	if got := listenerShapes(changed)[80]; got != "HTTP->HTTP" {
		t.Errorf("changed: listener 80 got %s; want left HTTP->HTTP", got)
	}
	if n := len(late.desc.BackendServerDescriptions); n != 0 {
		t.Errorf("late: got %d backend policies; want none set", n)
	}
}
