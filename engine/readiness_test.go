package engine

import (
	"context"
	"fmt"
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
		{"no instances: enforced at once", nil, nil, false, StatusRemediated, "", "", true},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			for k, v := range tt.lbTags {
				tags[k] = v
			}
			c := f.addClassic("web", tags, listener("HTTP", 80, "HTTP", 80))
			for id, v := range tt.instances {
				register(c, id)
				if v != "-" {
					f.itags[id] = map[string]string{TagProxyReady: v, "Name": "web"}
				}
			}
			e := newReadyEngine(t, f, Config{})
			if tt.noEC2 {
				e = newEngine(t, f, Config{})
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

func TestReadinessAuditPlansAndSaysHeld(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "audit"}, listener("HTTP", 80, "HTTP", 80))
	register(c, "i-1")
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{})), "web")
	if r.Status != StatusNonCompliant || !hasRule(r, RuleBackendsNotReady) || len(r.Actions) == 0 || f.writes() != 0 {
		t.Errorf("got %s %+v %+v (%d writes); want non_compliant, backends_not_ready, planned actions, no writes", r.Status, r.Findings, r.Actions, f.writes())
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
