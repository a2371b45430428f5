package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func instancePortPolicies(c *fakeClassic) map[int32][]string {
	out := map[int32][]string{}
	for _, b := range c.desc.BackendServerDescriptions {
		out[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	return out
}

func listenerShapes(c *fakeClassic) map[int32]string {
	out := map[int32]string{}
	for _, ld := range c.desc.ListenerDescriptions {
		out[ld.Listener.LoadBalancerPort] = aws.ToString(ld.Listener.Protocol) + "->" + aws.ToString(ld.Listener.InstanceProtocol)
	}
	return out
}

func findingDetail(r Report, rule string) string {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return f.Detail
		}
	}
	return ""
}

// TestPortsScope: elbguard:ports limits the listeners (and so the instance
// ports) that are changed; TCP:22 -> 22 never gets the PROXY protocol.
func TestPortsScope(t *testing.T) {
	tests := []struct {
		name        string
		ports       string
		wantStatus  Status
		wantProxied []int32
		wantHTTP80  bool // listener 80 left HTTP
		wantRule    string
	}{
		{"every listener by default", "", StatusRemediated, []int32{22, 80, 81}, false, ""},
		{"80 and 443 with commas", "80,443", StatusRemediated, []int32{80, 81}, false, ""},
		{"80 and 443 with plus", "80+443", StatusRemediated, []int32{80, 81}, false, ""},
		{"80 and 443 with spaces", " 80 443 ", StatusRemediated, []int32{80, 81}, false, ""},
		{"443 only", "443", StatusRemediated, []int32{81}, true, ""},
		{"malformed", "80,abc", StatusError, nil, true, RuleInvalidTag},
		{"zero", "0", StatusError, nil, true, RuleInvalidTag},
		{"too big", "65536", StatusError, nil, true, RuleInvalidTag},
		{"repeated", "80,80", StatusError, nil, true, RuleInvalidTag},
		{"empty", " , ", StatusError, nil, true, RuleInvalidTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			if tt.ports != "" {
				tags[TagPorts] = tt.ports
			}
			c := f.addClassic("web", tags, listener("TCP", 22, "TCP", 22), listener("HTTP", 80, "HTTP", 80),
				elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::1:server-certificate/web")})
			r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s %+v; want %s", r.Status, r.Findings, tt.wantStatus)
			}
			var proxied []int32
			for port, pols := range instancePortPolicies(c) {
				if slices.Contains(pols, ProxyPolicyName) {
					proxied = append(proxied, port)
				}
			}
			slices.Sort(proxied)
			if !slices.Equal(proxied, tt.wantProxied) {
				t.Errorf("got proxy protocol on instance ports %v; want %v", proxied, tt.wantProxied)
			}
			if got := listenerShapes(c)[80] == "HTTP->HTTP"; got != tt.wantHTTP80 {
				t.Errorf("listener 80 %s; want left HTTP %v", listenerShapes(c)[80], tt.wantHTTP80)
			}
			if tt.wantRule != "" {
				if d := findingDetail(r, tt.wantRule); !strings.Contains(d, TagPorts) || !strings.Contains(d, tt.ports) {
					t.Errorf("got finding %q; want one naming %s and %q", d, TagPorts, tt.ports)
				}
				if f.writes() != 0 {
					t.Errorf("got %d writes; want none", f.writes())
				}
			}
		})
	}
}

// TestPortsScopeSharedInstancePort: a managed listener whose instance port
// also serves a listener left alone is left alone too, and reported.
func TestPortsScopeSharedInstancePort(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce", TagPorts: "80"}, listener("HTTP", 80, "HTTP", 80), listener("TCP", 8080, "TCP", 80))
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
	if r.Status != StatusNonCompliant || !hasRule(r, RulePortScope) || f.writes() != 0 {
		t.Fatalf("got %s %+v with %d writes; want non_compliant with %s and no writes", r.Status, r.Findings, f.writes(), RulePortScope)
	}
	if got := listenerShapes(c)[80]; got != "HTTP->HTTP" {
		t.Errorf("listener 80: got %s; want HTTP->HTTP", got)
	}
}

// TestNetworkPortsScope: on an NLB only the target groups behind the listed
// listener ports are changed.
func TestNetworkPortsScope(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagPorts: "80"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "edge")
	if r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r.Findings)
	}
	for i, want := range []string{"true", ""} {
		tg := forwardTargets(n.listeners[i].DefaultActions)[0]
		if got := f.tgs[tg][attrProxyProtocolV2]; got != want {
			t.Errorf("listener %d target group: got %q; want %q", aws.ToInt32(n.listeners[i].Port), got, want)
		}
	}
}

// TestIaCOwners: a load balancer owned by infrastructure as code is reported
// with the owner and the template change, and left unchanged unless
// elbguard:iac=override.
func TestIaCOwners(t *testing.T) {
	tests := []struct {
		name      string
		tags      map[string]string
		wantOwner string // in the finding; empty: changed
		wantHint  string
	}{
		{"CloudFormation", map[string]string{"aws:cloudformation:stack-name": "web-prod", "aws:cloudformation:logical-id": "WebELB"}, `CloudFormation stack "web-prod"`, "ProxyProtocolPolicyType"},
		{"Load Balancer Controller service", map[string]string{"service.k8s.aws/stack": "shop/web", "elbv2.k8s.aws/cluster": "prod"}, "AWS Load Balancer Controller (service.k8s.aws/stack=shop/web)", "aws-load-balancer-proxy-protocol"},
		{"Load Balancer Controller ingress", map[string]string{"ingress.k8s.aws/stack": "shop"}, "AWS Load Balancer Controller", "aws-load-balancer-proxy-protocol"},
		{"Load Balancer Controller cluster", map[string]string{"elbv2.k8s.aws/cluster": "prod"}, "AWS Load Balancer Controller", "aws-load-balancer-proxy-protocol"},
		{"Kubernetes in-tree cluster", map[string]string{"kubernetes.io/cluster/prod": "owned"}, "in-tree service controller (kubernetes.io/cluster/prod=owned)", "aws-load-balancer-backend-protocol: tcp"},
		{"Kubernetes in-tree service", map[string]string{"kubernetes.io/service-name": "shop/web"}, "in-tree", "aws-load-balancer-proxy-protocol"},
		{"Elastic Beanstalk before its stack", map[string]string{"elasticbeanstalk:environment-name": "shop-prod", "aws:cloudformation:stack-name": "awseb-e-1"}, `Elastic Beanstalk environment "shop-prod"`, "aws:elb:policies"},
		{"override", map[string]string{"aws:cloudformation:stack-name": "web-prod", TagIaC: "Override"}, "", ""},
		{"no owner", map[string]string{"team": "shop"}, "", ""},
		// Configured owner tags (Config.IaCTags below): Terraform and
		// Crossplane add no tag by themselves.
		{"configured key=value, other case", map[string]string{"ManagedBy": "Terraform"}, "tag ManagedBy=Terraform, a configured IaC owner tag", "ProxyProtocolPolicyType"},
		{"configured key, any value", map[string]string{"crossplane.io/claim-name": "web"}, "tag crossplane.io/claim-name=web", "ProxyProtocolPolicyType"},
		{"configured key, other value", map[string]string{"ManagedBy": "hand"}, "", ""},
		{"configured key, other key case", map[string]string{"managedby": "terraform"}, "", ""},
		{"configured, override", map[string]string{"ManagedBy": "terraform", TagIaC: "override"}, "", ""},
	}
	iac, err := ParseIaCTags("ManagedBy=terraform, crossplane.io/claim-name")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			for k, v := range tt.tags {
				tags[k] = v
			}
			c := f.addClassic("web", tags, listener("HTTP", 80, "HTTP", 80))
			r := reportOf(t, sweep(t, newEngine(t, f, Config{IaCTags: iac})), "web")
			if tt.wantOwner == "" {
				if r.Status != StatusRemediated || hasRule(r, RuleManagedByIaC) {
					t.Fatalf("got %s %+v; want remediated without %s", r.Status, r.Findings, RuleManagedByIaC)
				}
				return
			}
			d := findingDetail(r, RuleManagedByIaC)
			if r.Status != StatusHeld || r.Held == nil || r.Held.Rule != RuleManagedByIaC || !strings.Contains(d, tt.wantOwner) || !strings.Contains(d, tt.wantHint) || !strings.Contains(d, TagIaC+"=override") {
				t.Errorf("got %s, finding %q; want held naming %q, %q and the override", r.Status, d, tt.wantOwner, tt.wantHint)
			}
			if f.writes() != 0 || listenerShapes(c)[80] != "HTTP->HTTP" {
				t.Errorf("got %d writes, listener %s; want nothing changed", f.writes(), listenerShapes(c)[80])
			}
			if len(r.Actions) == 0 || slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status != ActionHeld }) {
				t.Errorf("got actions %+v; want the changes listed as held only", r.Actions)
			}
		})
	}
	// A compliant load balancer owned by IaC is compliant, without noise.
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "s"}, listener("TCP", 80, "TCP", 80))
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"pp"}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("pp"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	if r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web"); r.Status != StatusCompliant || len(r.Findings) != 0 {
		t.Errorf("compliant IaC-owned: got %s %+v; want compliant without findings", r.Status, r.Findings)
	}
}

func TestParseIaCTags(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the tags' String()s, comma-joined
		wantErr string
	}{
		{"", "", ""},
		{" ManagedBy=terraform , pulumi:project,a=b=c", "ManagedBy=terraform,pulumi:project,a=b=c", ""},
		{"ManagedBy=", "", "want a value after ="},
		{"=terraform", "", "a key of 1 to 128"},
		{"a,,b", "", "a key of 1 to 128"},
		{strings.Repeat("k", 129), "", "a key of 1 to 128"},
		{"k=" + strings.Repeat("v", 257), "", "at most 256"},
		{strings.Repeat("k,", 50) + "k", "", "at most 50"},
	}
	for _, tt := range tests {
		got, err := ParseIaCTags(tt.in)
		if tt.wantErr != "" {
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseIaCTags(%.20q): got %v; want an ErrConfig with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		var s []string
		for _, x := range got {
			s = append(s, x.String())
		}
		if err != nil || strings.Join(s, ",") != tt.want {
			t.Errorf("ParseIaCTags(%q): got %q, %v; want %q", tt.in, s, err, tt.want)
		}
	}
	if err := (Config{IaCTags: []IaCTag{{Key: ""}}}).Validate(); err == nil {
		t.Errorf("Validate with an empty IaC tag key: got nil; want an error")
	}
}

// TestMalformedTags: any unreadable elbguard tag stops every change on that
// load balancer, with a finding naming the tag and its value.
func TestMalformedTags(t *testing.T) {
	tests := []struct {
		name     string
		tags     map[string]string
		wantRule string
		wantText []string
	}{
		{"ports", map[string]string{TagPorts: "80,abc"}, RuleInvalidTag, []string{TagPorts, `"80,abc"`}},
		{"iac", map[string]string{TagIaC: "yes"}, RuleInvalidTag, []string{TagIaC, `"yes"`}},
		{"unknown elbguard key", map[string]string{"elbguard:prots": "80"}, RuleUnknownTag, []string{"elbguard:prots", `"80"`}},
		{"exempt date", map[string]string{TagExemptUntil: "next week", TagExemptReason: "migration"}, RuleInvalidTag, []string{TagExemptUntil, `"next week"`}},
		{"exempt without reason", map[string]string{TagExemptUntil: "2030-01-01"}, RuleInvalidTag, []string{TagExemptReason}},
		{"exempt blank reason", map[string]string{TagExemptUntil: "2030-01-01", TagExemptReason: "  "}, RuleInvalidTag, []string{TagExemptReason}},
		{"reason without date", map[string]string{TagExemptReason: "migration"}, RuleInvalidTag, []string{TagExemptUntil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tags := map[string]string{tag: "enforce"}
			for k, v := range tt.tags {
				tags[k] = v
			}
			f.addClassic("web", tags, listener("HTTP", 80, "HTTP", 80))
			f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, tags, v2types.ProtocolEnumTcp)
			res := sweep(t, newEngine(t, f, Config{}))
			for _, name := range []string{"web", "edge"} {
				r := reportOf(t, res, name)
				d := findingDetail(r, tt.wantRule)
				if r.Status != StatusError || d == "" {
					t.Errorf("%s: got %s %+v; want error with %s", name, r.Status, r.Findings, tt.wantRule)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(d, w) {
						t.Errorf("%s: finding %q does not name %s", name, d, w)
					}
				}
			}
			if f.writes() != 0 {
				t.Errorf("got %d writes (%v); want none", f.writes(), f.calls)
			}
		})
	}
}

// TestExemptions: an exemption holds until its time, then the load balancer
// is enforced by its mode again with exemption_expired.
func TestExemptions(t *testing.T) {
	now := time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		until      string
		mode       string
		wantStatus Status
		wantRule   string
	}{
		{"date: exempt through that day", "2027-01-31", "enforce", StatusExempt, RuleExempt},
		{"date passed", "2027-01-30", "enforce", StatusRemediated, RuleExemptionExpired},
		{"RFC 3339 ahead", "2027-01-31T23:30:00Z", "enforce", StatusExempt, RuleExempt},
		{"RFC 3339 with offset passed", "2027-02-01T00:30:00+02:00", "enforce", StatusRemediated, RuleExemptionExpired},
		{"expired in audit", "2026-12-01", "audit", StatusNonCompliant, RuleExemptionExpired},
		{"exempt in audit", "2028-01-01", "audit", StatusExempt, RuleExempt},
		{"mode off wins", "2028-01-01", "off", StatusSkipped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.addClassic("web", map[string]string{tag: tt.mode, TagExemptUntil: tt.until, TagExemptReason: "vendor appliance, ticket OPS-12"}, listener("HTTP", 80, "HTTP", 80))
			e, err := New(f, fakeV2{f}, Config{}, nil, allCerts(), WithClock(func() time.Time { return now }), WithInstances(fakeEC2{f}))
			if err != nil {
				t.Fatal(err)
			}
			r := reportOf(t, sweep(t, e), "web")
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s %+v; want %s", r.Status, r.Findings, tt.wantStatus)
			}
			if tt.wantRule != "" && !strings.Contains(findingDetail(r, tt.wantRule), "OPS-12") {
				t.Errorf("got findings %+v; want %s with the reason", r.Findings, tt.wantRule)
			}
			if tt.wantStatus == StatusExempt && (f.writes() != 0 || len(r.Actions) != 0) {
				t.Errorf("exempt: got %d writes, actions %+v; want none", f.writes(), r.Actions)
			}
		})
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"80,443", "80+443", "80 443", "", "0", "65535", "080", "80,,443", "-1", "1e3", "80,80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		if len(ports) == 0 || !slices.IsSorted(ports) || len(slices.Compact(slices.Clone(ports))) != len(ports) {
			t.Fatalf("ParsePorts(%q) = %v", s, ports)
		}
		for _, p := range ports {
			if p < 1 || p > 65535 {
				t.Fatalf("ParsePorts(%q): port %d out of range", s, p)
			}
		}
	})
}

func FuzzParseExemptUntil(f *testing.F) {
	for _, s := range []string{"2027-01-31", "2027-01-31T18:00:00Z", "2027-01-31T18:00:00+02:00", "tomorrow", "2027-02-30", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := ParseExemptUntil(s); err == nil && u.IsZero() {
			t.Fatalf("ParseExemptUntil(%q) = zero time without error", s)
		}
	})
}

// TestNetworkScope: IaC owners and exemptions hold for NLBs too.
func TestNetworkScope(t *testing.T) {
	f := newFake()
	f.addNLB("stack", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "edge"}, v2types.ProtocolEnumTcp)
	f.addNLB("k8s", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", "service.k8s.aws/stack": "shop/web"}, v2types.ProtocolEnumTcp)
	f.addNLB("exempt", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagExemptUntil: "2999-01-01", TagExemptReason: "vendor"}, v2types.ProtocolEnumTcp)
	res := sweep(t, newEngine(t, f, Config{}))
	if r := reportOf(t, res, "stack"); r.Status != StatusHeld || !strings.Contains(findingDetail(r, RuleManagedByIaC), "proxy_protocol_v2.enabled=true") {
		t.Errorf("stack: got %s %+v; want held with the target group change", r.Status, r.Findings)
	}
	if r := reportOf(t, res, "k8s"); r.Status != StatusHeld || !strings.Contains(findingDetail(r, RuleManagedByIaC), "aws-load-balancer-target-group-attributes") {
		t.Errorf("k8s: got %s %+v; want held with the Service annotation", r.Status, r.Findings)
	}
	if r := reportOf(t, res, "exempt"); r.Status != StatusExempt {
		t.Errorf("exempt: got %s %+v; want exempt", r.Status, r.Findings)
	}
	if f.writes() != 0 {
		t.Errorf("got %d writes (%v); want none", f.writes(), f.calls)
	}
}
