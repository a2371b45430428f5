package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func newReadyEngine(t *testing.T, f *fake, cfg Config, opts ...Option) *Engine {
	t.Helper()
	e, err := New(f, fakeV2{f}, cfg, nil, append([]Option{WithInstances(fakeEC2{f})}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func register(c *fakeClassic, ids ...string) {
	for _, id := range ids {
		c.desc.Instances = append(c.desc.Instances, elbtypes.Instance{InstanceId: aws.String(id)})
	}
}

// proxyOn makes c's listener on port 80 TCP with a proxy policy on instance port 80.
func proxyOn(c *fakeClassic) {
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"pp"}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("pp"), PolicyTypeName: aws.String(proxyPolicyType),
		PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
}

func TestReadinessGateClassic(t *testing.T) {
	tests := []struct {
		name       string
		lbTags     map[string]string
		instances  map[string]string // id -> elbguard:proxy-ready value ("-" = untagged)
		noEC2      bool
		wantStatus Status
		wantRule   string
		wantDetail string
		wantWrites bool
	}{
		// Auto Scaling registers the instances a minute later: nothing
		// says they will read the header.
		{"no instances: held", nil, nil, false, StatusHeld, RuleNoBackends, "instance port 80", false},
		{"no instances, skip", map[string]string{TagReadiness: "skip"}, nil, false, StatusRemediated, "", "", true},
		{"all ready", nil, map[string]string{"i-1": "true", "i-2": " TRUE "}, false, StatusRemediated, "", "", true},
		{"one untagged", nil, map[string]string{"i-1": "true", "i-2": "-"}, false, StatusHeld, RuleBackendsNotReady, "i-2", false},
		{"one false", nil, map[string]string{"i-1": "false", "i-2": "true"}, false, StatusHeld, RuleBackendsNotReady, "i-1", false},
		{"malformed instance tag", nil, map[string]string{"i-1": "yes please"}, false, StatusHeld, RuleInvalidTag, `"yes please"`, false},
		{"skip", map[string]string{TagReadiness: "Skip"}, map[string]string{"i-1": "-"}, false, StatusRemediated, "", "", true},
		{"require spelled out", map[string]string{TagReadiness: "require"}, map[string]string{"i-1": "-"}, false, StatusHeld, RuleBackendsNotReady, "i-1", false},
		{"malformed readiness tag", map[string]string{TagReadiness: "later"}, map[string]string{"i-1": "true"}, false, StatusHeld, RuleInvalidTag, `"later" for ` + TagReadiness, false},
		{"malformed readiness tag, no instances", map[string]string{TagReadiness: "later"}, nil, false, StatusHeld, RuleInvalidTag, `"later" for ` + TagReadiness, false},
		{"no EC2 client", nil, map[string]string{"i-1": "true"}, true, StatusError, RuleAPIError, "WithInstances", false},
		{"no EC2 client, skip", map[string]string{TagReadiness: "skip"}, map[string]string{"i-1": "-"}, true, StatusRemediated, "", "", true},
		{"ports listed", nil, map[string]string{"i-1": "80,81", "i-2": "80"}, false, StatusRemediated, "", "", true},
		{"other port only", nil, map[string]string{"i-1": "80", "i-2": "8080"}, false, StatusHeld, RulePortNotReady, "i-2", false},
		{"port list malformed", nil, map[string]string{"i-1": "80,x"}, false, StatusHeld, RuleInvalidTag, `"80,x"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			for k, v := range tt.lbTags {
				tags[k] = v
			}
			c := f.addClassic("web", tags, listener("HTTP", 80, "HTTP", 80))
			empty(c)
			for id, v := range tt.instances {
				register(c, id)
				if v != "-" {
					f.itags[id] = map[string]string{TagProxyReady: v, "Name": "web"}
				}
			}
			e := newReadyEngine(t, f, Config{})
			if tt.noEC2 {
				var err error
				if e, err = New(f, fakeV2{f}, Config{}, nil); err != nil {
					t.Fatal(err)
				}
			}
			r := reportOf(t, sweep(t, e), "web")
			if r.Status != tt.wantStatus {
				t.Errorf("got %s; want %s (findings %+v)", r.Status, tt.wantStatus, r.Findings)
			}
			if got := f.writes() > 0; got != tt.wantWrites {
				t.Errorf("got writes %v (%v); want %v", got, f.calls, tt.wantWrites)
			}
			if tt.wantRule != "" && !strings.Contains(detailOf(r, tt.wantRule), tt.wantDetail) {
				t.Errorf("got findings %+v; want %s naming %s", r.Findings, tt.wantRule, tt.wantDetail)
			}
			if r.Status == StatusHeld && slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status != ActionHeld }) {
				t.Errorf("got actions %+v; want the calls listed as held only, none planned or made", r.Actions)
			}
		})
	}
}

func detailOf(r Report, rule string) string {
	var out []string
	for _, f := range r.Findings {
		if f.Rule == rule {
			out = append(out, f.Detail)
		}
	}
	return strings.Join(out, "\n")
}

func TestReadinessAuditSaysHeld(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "audit"}, listener("HTTP", 80, "HTTP", 80))
	register(c, "i-1")
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "web")
	if r.Status != StatusHeld || !hasRule(r, RuleBackendsNotReady) || slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status != ActionHeld }) || f.writes() != 0 {
		t.Errorf("got %s %+v %+v (%d writes); want held, backends_not_ready, the calls listed as held only (the real run changes nothing), no writes", r.Status, r.Findings, r.Actions, f.writes())
	}
}

func TestReadinessDriftClassic(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
	proxyOn(c)
	register(c, "i-1", "i-2")
	f.itags["i-1"] = map[string]string{TagProxyReady: "true"}
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "web")
	if r.Status != StatusNonCompliant || !strings.Contains(detailOf(r, RuleBackendNotReady), "i-2") || f.writes() != 0 {
		t.Errorf("got %s %+v (%d writes); want non_compliant, backend_not_ready naming i-2, proxy protocol left on", r.Status, r.Findings, f.writes())
	}
	f.itags["i-2"] = map[string]string{TagProxyReady: "true"}
	if r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "web"); r.Status != StatusCompliant {
		t.Errorf("after tagging: got %s %+v; want compliant", r.Status, r.Findings)
	}
}

// TestReadinessReadBudget: a compliant Classic ELB costs at most 4 reads per
// event without instances, and one ec2:DescribeTags more with them.
func TestReadinessReadBudget(t *testing.T) {
	for _, n := range []int{0, 3, 250} {
		t.Run(fmt.Sprint(n, " instances"), func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
			proxyOn(c)
			empty(c)
			for i := range n {
				id := fmt.Sprintf("i-%04d", i)
				register(c, id)
				f.itags[id] = map[string]string{TagProxyReady: "true"}
			}
			res, err := newReadyEngine(t, f, Config{}).Reconcile(context.Background(), Targets{Classic: []string{"web"}})
			if err != nil {
				t.Fatal(err)
			}
			want := 3 + (n+instanceIDBatch-1)/instanceIDBatch
			if res.Reports[0].Status != StatusCompliant || f.reads() != want || f.writes() != 0 {
				t.Errorf("got %s with %d reads (%v); want compliant with %d", res.Reports[0].Status, f.reads(), f.calls, want)
			}
		})
	}
}

func TestReadinessGateNetwork(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	tg0, tg1 := forwardTargets(n.listeners[0].DefaultActions)[0], forwardTargets(n.listeners[1].DefaultActions)[0]
	f.targets[tg0], f.targets[tg1] = nil, nil
	f.tgs[tg1][attrProxyProtocolV2] = "true" // on already: its untagged instance is drift, not a reason to hold
	f.addTarget(tg0, "i-ready", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(tg0, "i-new", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(tg1, "i-old", 80, v2types.TargetHealthStateEnumHealthy)
	f.itags["i-ready"] = map[string]string{TagProxyReady: "true"}
	e := newReadyEngine(t, f, Config{})
	r := reportOf(t, sweep(t, e), "edge")
	if r.Status != StatusHeld || !strings.Contains(detailOf(r, RuleBackendsNotReady), "i-new") || f.writes() != 0 {
		t.Fatalf("got %s %+v (%d writes); want held on i-new", r.Status, r.Findings, f.writes())
	}
	if d := detailOf(r, RuleBackendNotReady); !strings.Contains(d, "i-old") || strings.Contains(d, "i-new") {
		t.Errorf("got drift %q; want i-old only", d)
	}
	f.itags["i-new"] = map[string]string{TagProxyReady: "true"}
	r = reportOf(t, sweep(t, e), "edge")
	if f.tgs[tg0][attrProxyProtocolV2] != "true" || r.Status != StatusNonCompliant || !hasRule(r, RuleBackendNotReady) {
		t.Errorf("got %s %+v, tg0 %q; want tg0 on and the drift on tg1 still reported non_compliant", r.Status, r.Findings, f.tgs[tg0][attrProxyProtocolV2])
	}
}

func TestReadinessIPTargetsHeldUnlessSkip(t *testing.T) {
	// ip targets cannot carry elbguard:proxy-ready: nothing tells elbguard
	// that they read the header, so the change is held until a person says
	// so with elbguard:readiness=skip (the tag's documented purpose).
	for _, tt := range []struct {
		name string
		tags map[string]string
		want Status
	}{
		{"no skip: held", map[string]string{tag: "enforce"}, StatusHeld},
		{"skip", map[string]string{tag: "enforce", TagReadiness: "skip"}, StatusRemediated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, tt.tags, v2types.ProtocolEnumTcp)
			tg := forwardTargets(n.listeners[0].DefaultActions)[0]
			f.tgType[tg] = v2types.TargetTypeEnumIp
			f.targets[tg] = nil
			f.addTarget(tg, "10.0.0.5", 80, v2types.TargetHealthStateEnumHealthy)
			r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "edge")
			if r.Status != tt.want || f.calls["ec2.DescribeTags"] != 0 {
				t.Fatalf("got %s %+v (%v); want %s without reading instance tags", r.Status, r.Findings, f.calls, tt.want)
			}
			if held := tt.want == StatusHeld; held != strings.Contains(detailOf(r, RuleBackendsNotReady), "10.0.0.5:80") || held == (f.tgs[tg][attrProxyProtocolV2] == "true") {
				t.Errorf("got %+v, proxy protocol %q; want held %v naming 10.0.0.5:80", r.Findings, f.tgs[tg][attrProxyProtocolV2], held)
			}
		})
	}
}

// TestReadinessPerPortClassic: the instances read the header on 80 and 81
// (the proxy's listeners) but sshd on 22 does not: the web listeners are
// converted, TCP:22 -> 22 keeps getting plain TCP.
func TestReadinessPerPortClassic(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"},
		listener("HTTP", 80, "HTTP", 80),
		elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(iamCert)},
		listener("TCP", 22, "TCP", 22))
	empty(c)
	register(c, "i-1", "i-2")
	f.itags["i-1"] = map[string]string{TagProxyReady: "80,81"}
	f.itags["i-2"] = map[string]string{TagProxyReady: "81 80"}
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{}, allCerts())), "web")
	if r.Status != StatusHeld || !strings.Contains(detailOf(r, RulePortNotReady), "instance port 22") {
		t.Fatalf("got %s %+v; want held with port_not_ready naming instance port 22", r.Status, r.Findings)
	}
	backend := map[int32][]string{}
	for _, b := range c.desc.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	if len(backend[80]) != 1 || len(backend[81]) != 1 || backend[22] != nil {
		t.Errorf("got backend policies %v; want proxy protocol on 80 and 81, none on 22", backend)
	}
	if got := listenerShapes(c); got[80] != "TCP->TCP" || got[443] != "SSL->TCP" || got[22] != "TCP->TCP" {
		t.Errorf("got listeners %v; want 80 and 443 converted, 22 as it was", got)
	}
	// Audit plans exactly what enforce did, and holds the same port.
	f2 := newFake()
	c2 := f2.addClassic("web", map[string]string{tag: "audit"}, listener("TCP", 22, "TCP", 22))
	empty(c2)
	register(c2, "i-1")
	f2.itags["i-1"] = map[string]string{TagProxyReady: "80"}
	if r := reportOf(t, sweep(t, newReadyEngine(t, f2, Config{})), "web"); r.Status != StatusHeld || len(r.Actions) != 0 {
		t.Errorf("audit, only port 22: got %s %+v; want held, nothing planned (not even the policy)", r.Status, r.Actions)
	}
}

// TestReadinessPerPortNetwork: a target group whose instances do not list
// its port is left alone; the other target group is enforced.
func TestReadinessPerPortNetwork(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	web, ssh := forwardTargets(n.listeners[0].DefaultActions)[0], forwardTargets(n.listeners[1].DefaultActions)[0]
	f.targets[web], f.targets[ssh] = nil, nil
	f.addTarget(web, "i-1", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(ssh, "i-1", 22, v2types.TargetHealthStateEnumHealthy)
	f.itags["i-1"] = map[string]string{TagProxyReady: "80"}
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "edge")
	if r.Status != StatusHeld || !strings.Contains(detailOf(r, RulePortNotReady), "port 22") {
		t.Fatalf("got %s %+v; want held with port_not_ready for port 22", r.Status, r.Findings)
	}
	if f.tgs[web][attrProxyProtocolV2] != "true" || f.tgs[ssh][attrProxyProtocolV2] != "" {
		t.Errorf("got web %q, ssh %q; want web on, ssh untouched", f.tgs[web][attrProxyProtocolV2], f.tgs[ssh][attrProxyProtocolV2])
	}
}

// TestReadinessNoBackendsNetwork: an empty target group holds the NLB until
// targets register and are ready; a skip tag enforces it empty.
func TestReadinessNoBackendsNetwork(t *testing.T) {
	for _, tt := range []struct {
		name string
		tags map[string]string
		want Status
	}{
		{"held", map[string]string{tag: "enforce"}, StatusHeld},
		{"skip", map[string]string{tag: "enforce", TagReadiness: "skip"}, StatusRemediated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, tt.tags, v2types.ProtocolEnumTcp)
			tg := forwardTargets(n.listeners[0].DefaultActions)[0]
			f.targets[tg] = nil
			e := newReadyEngine(t, f, Config{})
			r := reportOf(t, sweep(t, e), "edge")
			if r.Status != tt.want || (tt.want == StatusHeld) != strings.Contains(detailOf(r, RuleNoBackends), "edge-0") {
				t.Fatalf("got %s %+v; want %s (no_backends naming edge-0 when held)", r.Status, r.Findings, tt.want)
			}
			if tt.want != StatusHeld {
				return
			}
			f.addTarget(tg, "i-new", 80, v2types.TargetHealthStateEnumInitial) // Auto Scaling registers it
			if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusHeld || !hasRule(r, RuleBackendsNotReady) {
				t.Errorf("registered, not tagged: got %s %+v; want held, backends_not_ready", r.Status, r.Findings)
			}
			f.itags["i-new"] = map[string]string{TagProxyReady: "true"}
			if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusRemediated || f.tgs[tg][attrProxyProtocolV2] != "true" {
				t.Errorf("registered and ready: got %s %+v; want remediated", r.Status, r.Findings)
			}
		})
	}
}

// TestStickinessHeld: converting a listener with cookie stickiness drops
// it; elbguard does so only when the load balancer says so.
func TestStickinessHeld(t *testing.T) {
	for _, tt := range []struct {
		name       string
		stickiness string // "" = no tag
		policyType string
		want       Status
		wantRule   string
		wantSwap   bool
	}{
		{"LB cookie, no tag", "", lbCookieType, StatusHeld, RuleStickinessWouldDrop, false},
		{"app cookie, no tag", "", appCookieType, StatusHeld, RuleStickinessWouldDrop, false},
		{"LB cookie, drop", " Drop ", lbCookieType, StatusRemediated, RulePolicyDropped, true},
		{"malformed tag", "keep", lbCookieType, StatusError, RuleInvalidTag, false},
		{"no cookie policy", "", sslNegotiationType, StatusRemediated, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			if tt.stickiness != "" {
				tags[TagStickiness] = tt.stickiness
			}
			c := f.addClassic("web", tags, listener("HTTP", 80, "HTTP", 80), listener("HTTP", 8080, "HTTP", 8080))
			c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("sticky"), PolicyTypeName: aws.String(tt.policyType)}}
			c.desc.ListenerDescriptions[0].PolicyNames = []string{"sticky"}
			r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "web")
			if r.Status != tt.want || (tt.wantRule != "" && !hasRule(r, tt.wantRule)) {
				t.Fatalf("got %s %+v; want %s with %s", r.Status, r.Findings, tt.want, tt.wantRule)
			}
			shapes := listenerShapes(c)
			if swapped := shapes[80] == "TCP->TCP"; swapped != tt.wantSwap {
				t.Errorf("got listener 80 %s; want converted %v", shapes[80], tt.wantSwap)
			}
			if tt.want == StatusHeld && shapes[8080] != "TCP->TCP" {
				t.Errorf("got listener 8080 %s; want the listener without stickiness converted", shapes[8080])
			}
		})
	}
}

func TestParseProxyReady(t *testing.T) {
	tests := []struct {
		in      string
		all     bool
		ports   []int32
		wantErr bool
	}{
		{"true", true, nil, false},
		{" TRUE ", true, nil, false},
		{"false", false, nil, false},
		{"80", false, []int32{80}, false},
		{"81,80", false, []int32{80, 81}, false},
		{"80 81+443", false, []int32{80, 81, 443}, false},
		{"", false, nil, true},
		{"yes", false, nil, true},
		{"80,80", false, nil, true},
		{"0", false, nil, true},
		{"65536", false, nil, true},
		{"080", false, nil, true},
		{"-1", false, nil, true},
		{"80,true", false, nil, true},
		{"80;81", false, nil, true},
	}
	for _, tt := range tests {
		all, ports, err := ParseProxyReady(tt.in)
		if (err != nil) != tt.wantErr || all != tt.all || !slices.Equal(ports, tt.ports) {
			t.Errorf("ParseProxyReady(%q) = %v, %v, %v; want %v, %v, error %v", tt.in, all, ports, err, tt.all, tt.ports, tt.wantErr)
		}
	}
}

// FuzzParseProxyReady: the instance tag is written by whoever may tag the
// instance. Whatever it holds, the parse never panics and never yields a
// port outside 1..65535, a repeated port, or both "every port" and a list.
func FuzzParseProxyReady(f *testing.F) {
	for _, s := range []string{"true", "false", "80,81", "80 81+443", "", "80,,81", "99999", "+", "0x50", "８０"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		all, ports, err := ParseProxyReady(s)
		if err != nil {
			if all || ports != nil {
				t.Fatalf("ParseProxyReady(%q) = %v, %v with error %v", s, all, ports, err)
			}
			return
		}
		if all && ports != nil {
			t.Fatalf("ParseProxyReady(%q): all and ports %v", s, ports)
		}
		for i, p := range ports {
			if p < 1 || p > 65535 || (i > 0 && ports[i-1] >= p) {
				t.Fatalf("ParseProxyReady(%q) = %v: out of range, unsorted or repeated", s, ports)
			}
		}
	})
}
