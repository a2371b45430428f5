package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

const tag = DefaultTagKey

func listener(proto string, port int32, instProto string, instPort int32) elbtypes.Listener {
	return elbtypes.Listener{Protocol: aws.String(proto), LoadBalancerPort: port, InstanceProtocol: aws.String(instProto), InstancePort: aws.Int32(instPort)}
}

// testRestoreKey signs the restore records of the test engines, which act
// in testAccount and testRegion (as the Lambdas, which have the key, do).
var testRestoreKey = []byte("0123456789abcdef0123456789abcdef")

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
)

func newEngine(t *testing.T, f *fake, cfg Config, opts ...Option) *Engine {
	t.Helper()
	e, err := New(f, fakeV2{f}, cfg, nil, append([]Option{allCerts(), WithRestoreKey(testRestoreKey, testAccount, testRegion), WithInstances(fakeEC2{f})}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func sweep(t *testing.T, e *Engine) *Result {
	t.Helper()
	res, err := e.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return res
}

func reportOf(t *testing.T, res *Result, name string) Report {
	t.Helper()
	for _, r := range res.Reports {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no report for %s in %+v", name, res.Reports)
	return Report{}
}

func hasRule(r Report, rule string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == rule })
}

func TestModes(t *testing.T) {
	tests := []struct {
		name        string
		tags        map[string]string
		defaultMode Mode
		dryRun      bool
		wantStatus  Status
		wantMode    Mode
		wantWrites  bool
	}{
		{"enforce", map[string]string{tag: "enforce"}, "", false, StatusRemediated, ModeEnforce, true},
		{"enforce upper case", map[string]string{tag: " ENFORCE "}, "", false, StatusRemediated, ModeEnforce, true},
		{"audit", map[string]string{tag: "Audit"}, "", false, StatusNonCompliant, ModeAudit, false},
		{"off", map[string]string{tag: "off"}, ModeEnforce, false, StatusSkipped, ModeOff, false},
		{"untagged opt-in default", nil, "", false, StatusSkipped, ModeOff, false},
		{"untagged default enforce", nil, ModeEnforce, false, StatusRemediated, ModeEnforce, true},
		{"invalid tag", map[string]string{tag: "yes"}, ModeEnforce, false, StatusError, "yes", false},
		{"dry run", map[string]string{tag: "enforce"}, "", true, StatusNonCompliant, ModeEnforce, false},
		{"idle timeout out of range", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "5000"}, "", false, StatusError, ModeEnforce, false},
		{"idle timeout not a number", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "1h"}, "", false, StatusError, ModeEnforce, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.addClassic("web", tt.tags, listener("HTTP", 80, "HTTP", 80))
			e := newEngine(t, f, Config{DefaultMode: tt.defaultMode, DryRun: tt.dryRun})
			r := reportOf(t, sweep(t, e), "web")
			if r.Status != tt.wantStatus || r.Mode != tt.wantMode {
				t.Errorf("got status %s mode %q; want %s %q (findings %+v)", r.Status, r.Mode, tt.wantStatus, tt.wantMode, r.Findings)
			}
			if got := f.writes() > 0; got != tt.wantWrites {
				t.Errorf("got writes %v (%v); want %v", got, f.calls, tt.wantWrites)
			}
			if tt.wantStatus == StatusError && !hasRule(r, RuleInvalidTag) && !hasRule(r, RuleInvalidIdleTimeout) {
				t.Errorf("got findings %+v; want an invalid tag finding", r.Findings)
			}
			if tt.dryRun && (len(r.Actions) == 0 || slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status != ActionPlanned })) {
				t.Errorf("got actions %+v; want all planned", r.Actions)
			}
		})
	}
}

func TestClassicEnforce(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "3600", TagStickiness: "drop"},
		listener("HTTP", 80, "HTTP", 80),
		elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::1:server-certificate/web")},
		listener("TCP", 9000, "TCP", 9000))
	c.policies = []elbtypes.PolicyDescription{
		{PolicyName: aws.String("auth"), PolicyTypeName: aws.String("BackendServerAuthenticationPolicyType")},
		{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)},
		{PolicyName: aws.String("sticky"), PolicyTypeName: aws.String(lbCookieType)},
	}
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(81), PolicyNames: []string{"auth"}}}
	c.desc.ListenerDescriptions[1].PolicyNames = []string{"tls", "sticky"}
	c.desc.Policies.LBCookieStickinessPolicies = []elbtypes.LBCookieStickinessPolicy{{PolicyName: aws.String("sticky")}}

	e := newEngine(t, f, Config{})
	r := reportOf(t, sweep(t, e), "web")
	if r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r)
	}
	if !hasRule(r, RulePolicyDropped) {
		t.Errorf("got findings %+v; want the cookie policy reported dropped", r.Findings)
	}
	// Backend policies merged, proxy policy created once.
	backend := map[int32][]string{}
	for _, b := range c.desc.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	for port, want := range map[int32][]string{80: {ProxyPolicyName}, 81: {"auth", ProxyPolicyName}, 9000: {ProxyPolicyName}} {
		if !slices.Equal(backend[port], want) {
			t.Errorf("instance port %d: got policies %v; want %v", port, backend[port], want)
		}
	}
	for _, ld := range c.desc.ListenerDescriptions {
		l := ld.Listener
		switch l.LoadBalancerPort {
		case 80:
			if aws.ToString(l.Protocol) != "TCP" || aws.ToString(l.InstanceProtocol) != "TCP" {
				t.Errorf("listener 80: got %s/%s; want TCP/TCP", aws.ToString(l.Protocol), aws.ToString(l.InstanceProtocol))
			}
		case 443:
			if aws.ToString(l.Protocol) != "SSL" || aws.ToString(l.InstanceProtocol) != "TCP" || aws.ToString(l.SSLCertificateId) == "" {
				t.Errorf("listener 443: got %+v; want SSL->TCP with its certificate", l)
			}
			if !slices.Equal(ld.PolicyNames, []string{"tls"}) {
				t.Errorf("listener 443 policies: got %v; want [tls]", ld.PolicyNames)
			}
		}
	}
	if c.idle != 3600 {
		t.Errorf("idle timeout: got %d; want 3600", c.idle)
	}
	if got := f.calls["CreateLoadBalancerPolicy"]; got != 1 {
		t.Errorf("CreateLoadBalancerPolicy calls: got %d; want 1", got)
	}

	// Second run: compliant with zero writes.
	before := f.writes()
	r = reportOf(t, sweep(t, e), "web")
	if r.Status != StatusCompliant || f.writes() != before {
		t.Errorf("second run: got %s and %d new writes (%+v); want compliant and 0", r.Status, f.writes()-before, r.Findings)
	}
}

func TestClassicReusesEquivalentPolicyAndReplacesFalseOne(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
	c.policies = []elbtypes.PolicyDescription{
		{PolicyName: aws.String("mine"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("True")}}},
		{PolicyName: aws.String("off"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("false")}}},
	}
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"off"}}}
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
	if r.Status != StatusRemediated || f.calls["CreateLoadBalancerPolicy"] != 0 {
		t.Fatalf("got %s with %d policy creations; want remediated reusing the existing policy", r.Status, f.calls["CreateLoadBalancerPolicy"])
	}
	if got := c.desc.BackendServerDescriptions[0].PolicyNames; !slices.Equal(got, []string{"mine"}) {
		t.Errorf("got backend policies %v; want [mine]", got)
	}
}

func TestClassicRollback(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), listener("HTTP", 8080, "HTTP", 8080))
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{ProxyPolicyName}}, {InstancePort: aws.Int32(8080), PolicyNames: []string{ProxyPolicyName}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String(ProxyPolicyName), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	// The create of the TCP listener fails; the rollback create must succeed.
	boom := errors.New("InvalidConfigurationRequest: boom")
	e := newEngine(t, f, Config{})
	wrapped := &failFirstCreate{fake: f, err: boom}
	e.classic = wrapped
	r := reportOf(t, sweep(t, e), "web")
	if r.Status != StatusError || !errors.Is(r.Err(), boom) {
		t.Fatalf("got %s err %v; want error wrapping boom", r.Status, r.Err())
	}
	if !slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status == ActionRolledBack && a.Target == "web:80" }) {
		t.Errorf("got actions %+v; want web:80 rolled_back", r.Actions)
	}
	if !hasRule(r, RuleStoppedAfterFailure) {
		t.Errorf("got findings %+v; want the 8080 change reported not attempted", r.Findings)
	}
	var ports []string
	for _, ld := range c.desc.ListenerDescriptions {
		ports = append(ports, aws.ToString(ld.Listener.Protocol))
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []string{"HTTP", "HTTP"}) {
		t.Errorf("got listeners %v; want both HTTP listeners back", ports)
	}
}

// failFirstCreate fails the first CreateLoadBalancerListeners call.
type failFirstCreate struct {
	*fake
	err  error
	done bool
}

func (w *failFirstCreate) CreateLoadBalancerListeners(ctx context.Context, in *elb.CreateLoadBalancerListenersInput, o ...func(*elb.Options)) (*elb.CreateLoadBalancerListenersOutput, error) {
	if !w.done {
		w.done = true
		w.mu.Lock()
		w.calls["CreateLoadBalancerListeners"]++
		w.mu.Unlock()
		return nil, w.err
	}
	return w.fake.CreateLoadBalancerListeners(ctx, in, o...)
}

func TestNetwork(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", DefaultIdleTimeoutTagKey: "900"},
		v2types.ProtocolEnumTcp, v2types.ProtocolEnumTls, v2types.ProtocolEnumUdp)
	f.addNLB("alb", v2types.LoadBalancerTypeEnumApplication, map[string]string{tag: "enforce"}, v2types.ProtocolEnumHttp)
	e := newEngine(t, f, Config{})
	res := sweep(t, e)
	r := reportOf(t, res, "edge")
	if r.Status != StatusRemediated || !hasRule(r, RuleUDPListener) {
		t.Fatalf("got %s %+v; want remediated with the UDP listener reported", r.Status, r.Findings)
	}
	for i, want := range []string{"true", "true", ""} {
		tg := forwardTargets(n.listeners[i].DefaultActions)[0]
		if got := f.tgs[tg][attrProxyProtocolV2]; got != want {
			t.Errorf("target group %d: got proxy_protocol_v2.enabled %q; want %q", i, got, want)
		}
	}
	if got := n.lattrs[aws.ToString(n.listeners[0].ListenerArn)][attrTCPIdleTimeout]; got != "900" {
		t.Errorf("TCP listener idle timeout: got %q; want 900", got)
	}
	if got := n.lattrs[aws.ToString(n.listeners[1].ListenerArn)][attrTCPIdleTimeout]; got != "350" {
		t.Errorf("TLS listener idle timeout: got %q; want untouched 350", got)
	}
	alb := reportOf(t, res, "alb")
	if alb.Status != StatusNotApplicable || !strings.Contains(alb.Findings[0].Detail, "X-Forwarded-For") || len(alb.Actions) != 0 {
		t.Errorf("ALB: got %+v; want not_applicable with a reason and no actions", alb)
	}
	before := f.writes()
	if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusCompliant || f.writes() != before {
		t.Errorf("second run: got %s and %d writes; want compliant and 0", r.Status, f.writes()-before)
	}
}

func TestReconcileTargets(t *testing.T) {
	f := newFake()
	f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "audit"}, v2types.ProtocolEnumTcp)
	e := newEngine(t, f, Config{})
	tg := forwardTargets(n.listeners[0].DefaultActions)[0]
	res, err := e.Reconcile(context.Background(), Targets{
		Classic:       []string{"web", "deleted"},
		LoadBalancers: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/gone/0002"},
		TargetGroups:  []string{tg, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0003"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	for _, r := range res.Reports {
		got[r.Name] = r.Status
	}
	want := map[string]Status{"web": StatusRemediated, "deleted": StatusGone, "gone": StatusGone, "edge": StatusNonCompliant}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %s; want %s (all %v)", k, got[k], v, got)
		}
	}
}

func TestCompliantClassicReadBudget(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("TCP", 80, "TCP", 80))
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"pp"}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("pp"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	res, err := newEngine(t, f, Config{}).Reconcile(context.Background(), Targets{Classic: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reports[0].Status != StatusCompliant || f.reads() > 4 || f.writes() != 0 {
		t.Errorf("got %s with %d reads, %d writes (%v); want compliant, at most 4 reads, 0 writes", res.Reports[0].Status, f.reads(), f.writes(), f.calls)
	}
}

func TestTagBatchesAndConcurrency(t *testing.T) {
	f := newFake()
	for i := range 45 {
		f.addClassic("lb"+string(rune('a'+i/26))+string(rune('a'+i%26)), nil, listener("HTTP", 80, "HTTP", 80))
	}
	res := sweep(t, newEngine(t, f, Config{Concurrency: 3}))
	if f.calls["DescribeTags"] != 3 || res.Counts[StatusSkipped] != 45 || f.writes() != 0 {
		t.Errorf("got %d DescribeTags, %v counts, %d writes; want 3, 45 skipped, 0", f.calls["DescribeTags"], res.Counts, f.writes())
	}
}

func TestGoneMidRun(t *testing.T) {
	f := newFake()
	f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	f.fail["DescribeLoadBalancerPolicies"] = notFound("web")
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
	if r.Status != StatusGone || r.Err() != nil {
		t.Errorf("got %s err %v; want gone without error", r.Status, r.Err())
	}
}

func TestStopsBeforeDeadline(t *testing.T) {
	f := newFake()
	f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := newEngine(t, f, Config{StopBefore: 2 * time.Minute}).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Incomplete || res.Processed != 0 || res.Found != 1 || f.writes() != 0 {
		t.Errorf("got incomplete %v, %d/%d processed, %d writes; want true, 0/1, 0", res.Incomplete, res.Processed, res.Found, f.writes())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero is valid", Config{}, ""},
		{"bad mode", Config{DefaultMode: "on"}, "DefaultMode"},
		{"bad concurrency", Config{Concurrency: 100}, "Concurrency"},
		{"same keys", Config{TagKey: "a", IdleTimeoutTagKey: "a"}, "IdleTimeoutTagKey"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v; want error naming %q", tt.name, err, tt.want)
		}
	}
}

func TestReconcileNames(t *testing.T) {
	f := newFake()
	f.addClassic("web", nil, listener("TCP", 80, "TCP", 80))
	f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, nil, v2types.ProtocolEnumTcp)
	res, err := newEngine(t, f, Config{}).Reconcile(context.Background(), Targets{Names: []string{"web", "edge", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.Reports {
		got[r.Name] = r.Type + "/" + string(r.Status)
	}
	want := map[string]string{"web": "classic/skipped", "edge": "network/skipped", "nope": "classic/gone"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %s; want %s", k, got[k], v)
		}
	}
	// One ELBv2 describe per name: "edge" is not described again by ARN.
	if got := f.calls["v2.DescribeLoadBalancers"]; got != 3 {
		t.Errorf("got %d ELBv2 DescribeLoadBalancers; want 3 (one per name)", got)
	}
}

// failPoliciesOfListenerOnce fails the first SetLoadBalancerPoliciesOfListener call.
type failPoliciesOfListenerOnce struct {
	*fake
	done bool
}

func (w *failPoliciesOfListenerOnce) SetLoadBalancerPoliciesOfListener(ctx context.Context, in *elb.SetLoadBalancerPoliciesOfListenerInput, o ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesOfListenerOutput, error) {
	if !w.done {
		w.done = true
		return nil, errors.New("PolicyNotFound: tls")
	}
	return w.fake.SetLoadBalancerPoliciesOfListener(ctx, in, o...)
}

func TestClassicRollbackWhenPoliciesCannotBeReattached(t *testing.T) {
	f := newFake()
	cert := aws.String("arn:aws:iam::1:server-certificate/web")
	c := f.addClassic("web", map[string]string{tag: "enforce"},
		elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: cert})
	c.desc.ListenerDescriptions[0].PolicyNames = []string{"tls"}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)}}
	e := newEngine(t, f, Config{})
	e.classic = &failPoliciesOfListenerOnce{fake: f}
	r := reportOf(t, sweep(t, e), "web")
	if r.Status != StatusError || !slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status == ActionRolledBack }) {
		t.Fatalf("got %s %+v; want error with a rolled_back action", r.Status, r.Actions)
	}
	if len(c.desc.ListenerDescriptions) != 1 {
		t.Fatalf("got %d listeners; want the original one back", len(c.desc.ListenerDescriptions))
	}
	ld := c.desc.ListenerDescriptions[0]
	if aws.ToString(ld.Listener.Protocol) != "HTTPS" || aws.ToString(ld.Listener.InstanceProtocol) != "HTTP" ||
		aws.ToString(ld.Listener.SSLCertificateId) != aws.ToString(cert) || !slices.Equal(ld.PolicyNames, []string{"tls"}) {
		t.Errorf("got listener %+v policies %v; want the original HTTPS->HTTP listener with its certificate and [tls]", ld.Listener, ld.PolicyNames)
	}
}

// TestPolicyReadOnlyWhenNeeded: auditing a Classic ELB with no policy
// anywhere needs no DescribeLoadBalancerPolicies; one with an attached
// policy, or an enforce run (a dry run too: it plans the real run), reads them.
func TestPolicyReadOnlyWhenNeeded(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		dryRun   bool
		attached bool
		want     int
	}{
		{"audit, nothing attached", "audit", false, false, 0},
		{"dry run, nothing attached", "enforce", true, false, 1}, // its plan is the change: policy reuse included
		{"audit, backend policy attached", "audit", false, true, 1},
		{"enforce, nothing attached", "enforce", false, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: tt.mode}, listener("HTTP", 80, "HTTP", 80))
			if tt.attached {
				c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("auth"), PolicyTypeName: aws.String("BackendServerAuthenticationPolicyType")}}
				c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"auth"}}}
			}
			r := reportOf(t, sweep(t, newEngine(t, f, Config{DryRun: tt.dryRun})), "web")
			if got := f.calls["DescribeLoadBalancerPolicies"]; got != tt.want {
				t.Errorf("got %d DescribeLoadBalancerPolicies; want %d", got, tt.want)
			}
			if tt.mode == "audit" || tt.dryRun {
				if r.Status != StatusNonCompliant || !hasRule(r, RuleBackendProxy) || !hasRule(r, RuleListenerProtocol) {
					t.Errorf("got %s %+v; want non_compliant with backend and listener findings", r.Status, r.Findings)
				}
			}
		})
	}
}

// TestSwapNeedsItsBudget: a listener swap runs detached from cancellation, so
// it must not start when the invocation could end mid-swap; the port keeps
// its listener and the error is a deadline (retried by Lambda).
func TestSwapNeedsItsBudget(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	e := newEngine(t, f, Config{StopBefore: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), listenerSwapTimeout/2)
	defer cancel()
	res, err := e.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	r := reportOf(t, res, "web")
	if r.Status != StatusError || !errors.Is(r.Err(), context.DeadlineExceeded) {
		t.Fatalf("got %s err %v; want error wrapping context.DeadlineExceeded", r.Status, r.Err())
	}
	if calls := f.calls["DeleteLoadBalancerListeners"] + f.calls["CreateLoadBalancerListeners"]; calls != 0 {
		t.Errorf("got %d listener deletes/creates; want 0", calls)
	}
	if got := aws.ToString(c.desc.ListenerDescriptions[0].Listener.Protocol); got != "HTTP" {
		t.Errorf("got listener protocol %s; want HTTP left in place", got)
	}
}
