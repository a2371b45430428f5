//go:build integration

package test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// faultLambdaTimeout is the enforcer Lambda's timeout (infra: 60 s); every
// handler call in the fault tests runs under it, as in Lambda.
const faultLambdaTimeout = 60 * time.Second

// faultRig is moto_server behind a fault proxy. Fixtures are created and
// read back directly against moto (no faults); the code under test talks
// to the proxy.
type faultRig struct {
	m       *harness.Moto
	cfg     aws.Config // straight to moto
	proxy   *faultproxy.Proxy
	url     string // the proxy's URL
	classic *elb.Client
	v2      *elbv2.Client
	cert    string
	vpc     string
	subnets []string
	seq     int

	refClassic faultState // a web-shaped Classic ELB after a clean enforce run
	refNLB     faultState // an NLB after a clean enforce run
}

// newFaultRig starts moto and the proxy, uploads the IAM server certificate
// and enforces one reference load balancer of each shape without faults.
func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	p, err := faultproxy.New(m.URL, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	r := &faultRig{m: m, cfg: cfg, proxy: p, url: srv.URL, classic: elb.NewFromConfig(cfg), v2: elbv2.NewFromConfig(cfg)}
	certPEM, keyPEM := enfSelfSignedPEM(t, "web.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload server certificate")(iam.NewFromConfig(cfg).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("web-example"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	r.cert = aws.ToString(up.ServerCertificateMetadata.Arn)
	r.vpc, r.subnets = enfDefaultSubnets(t, m)
	r.emulateAWS()

	refC, refN := r.addClassic(t, "enforce"), r.addNLB(t, "enforce")
	h, _ := r.enforcer(t, engine.Config{})
	for _, ev := range [][]byte{r.classicEvent(t, refC), r.nlbEvent(t, refN)} {
		if out, err := h.Handle(r.lambdaCtx(t), ev); err != nil || out.Result.Reports[0].Status != engine.StatusRemediated {
			t.Fatalf("reference run: got %+v, %v; want remediated", out, err)
		}
	}
	r.refClassic, r.refNLB = r.classicState(t, refC), r.nlbState(t, refN)
	r.proxy.Reset()
	r.emulateAWS()
	return r
}

// emulateAWS makes the proxy answer as AWS does where moto does not (moto
// gaps worked around in the test, never in the engine):
//   - CreateLoadBalancerPolicy with a name the load balancer already has
//     fails with DuplicatePolicyName (moto silently keeps the first policy);
//   - SetLoadBalancerPoliciesOfListener on a port without a listener fails
//     with ListenerNotFound (moto answers 500 from an IndexError);
//   - mutating Classic calls and DescribeLoadBalancerAttributes on a deleted
//     load balancer fail with LoadBalancerNotFound (moto answers 500 from an
//     AttributeError).
//
// The check and the forward run under one lock so that concurrent calls see
// AWS's atomic behaviour.
func (r *faultRig) emulateAWS() {
	var mu sync.Mutex
	check := func(w http.ResponseWriter, req *http.Request, form url.Values, forward http.Handler) {
		mu.Lock()
		defer mu.Unlock()
		if form.Get("Version") != faultproxy.VersionClassic {
			forward.ServeHTTP(w, req)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		name := form.Get("LoadBalancerName")
		out, err := r.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
		if err != nil {
			faultproxy.WriteError(w, http.StatusBadRequest, "Sender", "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '"+name+"'")
			return
		}
		switch form.Get("Action") {
		case "CreateLoadBalancerPolicy":
			pols, err := r.classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String(name)})
			if err == nil && slices.ContainsFunc(pols.PolicyDescriptions, func(d elbtypes.PolicyDescription) bool {
				return aws.ToString(d.PolicyName) == form.Get("PolicyName")
			}) {
				faultproxy.WriteError(w, http.StatusBadRequest, "Sender", "DuplicatePolicyName", "Policy "+form.Get("PolicyName")+" already exists")
				return
			}
		case "SetLoadBalancerPoliciesOfListener":
			port := form.Get("LoadBalancerPort")
			if !slices.ContainsFunc(out.LoadBalancerDescriptions[0].ListenerDescriptions, func(ld elbtypes.ListenerDescription) bool {
				return fmt.Sprint(ld.Listener.LoadBalancerPort) == port
			}) {
				faultproxy.WriteError(w, http.StatusBadRequest, "Sender", "ListenerNotFound", "There is no listener on port "+port)
				return
			}
		}
		forward.ServeHTTP(w, req)
	}
	for _, a := range []string{"CreateLoadBalancerPolicy", "SetLoadBalancerPoliciesOfListener", "SetLoadBalancerPoliciesForBackendServer",
		"DeleteLoadBalancerListeners", "CreateLoadBalancerListeners", "ModifyLoadBalancerAttributes", "DescribeLoadBalancerAttributes"} {
		r.proxy.Intercept(a, check)
	}
}

// clients builds SDK clients exactly as the Lambdas do (awsclient, the SDK's
// standard retryer), pointed at the proxy.
func (r *faultRig) clients() *awsclient.Clients {
	cfg := r.cfg.Copy()
	cfg.BaseEndpoint = aws.String(r.url)
	return awsclient.FromConfig(cfg)
}

// enforcer returns an enforcer handler with its own clients, as one Lambda
// execution environment has.
func (r *faultRig) enforcer(t *testing.T, cfg engine.Config) (*fleet.Enforcer, *awsclient.Clients) {
	t.Helper()
	c := r.clients()
	e, err := fleet.NewEngine(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fleet.Enforcer{Engine: e, SelfARN: enfSampleSelf}, c
}

// lambdaCtx is an invocation context with the enforcer's deadline.
func (r *faultRig) lambdaCtx(t *testing.T) context.Context {
	t.Helper()
	r.seq++
	return lambdacontext.NewContext(harness.Context(t, faultLambdaTimeout), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("fault-%d", r.seq)})
}

func (r *faultRig) classicEvent(t *testing.T, name string) []byte {
	t.Helper()
	return enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, name)
}

func (r *faultRig) nlbEvent(t *testing.T, arn string) []byte {
	t.Helper()
	return enfSampleEvent(t, "v2_create_nlb.json", enfSampleNLB, arn)
}

// addClassic creates a web-shaped Classic ELB with the given mode tag:
// HTTP:80 with a cookie policy, HTTPS:443->HTTP:81 with the IAM certificate
// and an SSL negotiation policy, TCP:9000, a backend policy on 81, and an
// idle-timeout tag of 3600.
func (r *faultRig) addClassic(t *testing.T, mode string) string {
	t.Helper()
	r.seq++
	name := fmt.Sprintf("fweb-%d", r.seq)
	ctx := enfCtxT(t)
	enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(r.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTP", 81, r.cert), enfListener("TCP", 9000, "TCP", 9000, "")},
		Tags:      enfTags(enfModeTag, mode, enfIdleTag, "3600", "elbguard:readiness", "skip", "elbguard:stickiness", "drop")}))
	enfSeedPolicies(t, r.classic, name)
	return name
}

// addNLB creates a Network Load Balancer with the given mode tag, a TCP:80
// listener to its own target group, and an idle-timeout tag of 900.
func (r *faultRig) addNLB(t *testing.T, mode string) string {
	t.Helper()
	r.seq++
	name := fmt.Sprintf("fnlb-%d", r.seq)
	ctx := enfCtxT(t)
	lb := enfMust[*elbv2.CreateLoadBalancerOutput](t, "create "+name)(r.v2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(name), Type: v2types.LoadBalancerTypeEnumNetwork, Subnets: r.subnets,
		Tags: []v2types.Tag{{Key: aws.String(enfModeTag), Value: aws.String(mode)}, {Key: aws.String(enfIdleTag), Value: aws.String("900")}, {Key: aws.String("elbguard:readiness"), Value: aws.String("skip")}}}))
	arn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tg := enfMust[*elbv2.CreateTargetGroupOutput](t, "create target group")(r.v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name + "-tg"), Protocol: v2types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(r.vpc), HealthCheckProtocol: v2types.ProtocolEnumTcp}))
	enfMust[*elbv2.CreateListenerOutput](t, "create listener")(r.v2.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(arn), Protocol: v2types.ProtocolEnumTcp, Port: aws.Int32(80),
		DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroups[0].TargetGroupArn}}}))
	return arn
}

// faultState is a load balancer's enforced state as facets ("listener:443",
// "backend:81", "idle", "policies", ...) that a run changes one at a time.
type faultState map[string]string

// classicState reads a Classic ELB from moto. Listeners keep their full
// certificate ARN and policies, and the policy facet lists every policy name
// as often as moto holds it, so duplicates show.
func (r *faultRig) classicState(t *testing.T, name string) faultState {
	t.Helper()
	ctx := enfCtxT(t)
	out, err := r.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		return faultState{"gone": err.Error()}
	}
	d := out.LoadBalancerDescriptions[0]
	s := faultState{}
	var ports []string
	for _, ld := range d.ListenerDescriptions {
		l := ld.Listener
		ports = append(ports, fmt.Sprint(l.LoadBalancerPort))
		s[fmt.Sprintf("listener:%d", l.LoadBalancerPort)] = fmt.Sprintf("%s:%d->%s:%d cert=%s %v", aws.ToString(l.Protocol), l.LoadBalancerPort,
			aws.ToString(l.InstanceProtocol), aws.ToInt32(l.InstancePort), aws.ToString(l.SSLCertificateId), ld.PolicyNames)
	}
	slices.Sort(ports)
	s["ports"] = strings.Join(ports, ",")
	for _, b := range d.BackendServerDescriptions {
		s[fmt.Sprintf("backend:%d", aws.ToInt32(b.InstancePort))] = fmt.Sprint(b.PolicyNames)
	}
	pols := enfMust[*elb.DescribeLoadBalancerPoliciesOutput](t, "describe policies")(r.classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String(name)}))
	var names []string
	for _, p := range pols.PolicyDescriptions {
		names = append(names, aws.ToString(p.PolicyName))
	}
	slices.Sort(names)
	s["policies"] = strings.Join(names, ",")
	attrs := enfMust[*elb.DescribeLoadBalancerAttributesOutput](t, "describe attributes")(r.classic.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)}))
	s["idle"] = fmt.Sprint(aws.ToInt32(attrs.LoadBalancerAttributes.ConnectionSettings.IdleTimeout))
	return s
}

// nlbState reads an NLB's target group proxy protocol and listener idle
// timeout from moto.
func (r *faultRig) nlbState(t *testing.T, arn string) faultState {
	t.Helper()
	ctx := enfCtxT(t)
	ls, err := r.v2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(arn)})
	if err != nil {
		return faultState{"gone": err.Error()}
	}
	s := faultState{}
	for _, l := range ls.Listeners {
		s[fmt.Sprintf("listener:%d", aws.ToInt32(l.Port))] = string(l.Protocol)
		la := enfMust[*elbv2.DescribeListenerAttributesOutput](t, "describe listener attributes")(r.v2.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn}))
		for _, a := range la.Attributes {
			if aws.ToString(a.Key) == "tcp.idle_timeout.seconds" {
				s[fmt.Sprintf("idle:%d", aws.ToInt32(l.Port))] = aws.ToString(a.Value)
			}
		}
		for _, tg := range forwardTGs(l.DefaultActions) {
			ta := enfMust[*elbv2.DescribeTargetGroupAttributesOutput](t, "describe target group attributes")(r.v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg)}))
			for _, a := range ta.Attributes {
				if aws.ToString(a.Key) == "proxy_protocol_v2.enabled" {
					s[fmt.Sprintf("proxy:%d", aws.ToInt32(l.Port))] = aws.ToString(a.Value)
				}
			}
		}
	}
	return s
}

func forwardTGs(actions []v2types.Action) []string {
	var out []string
	for _, a := range actions {
		if a.TargetGroupArn != nil {
			out = append(out, aws.ToString(a.TargetGroupArn))
		}
	}
	return out
}

// damage lists the facets of mid that are neither as they were (old) nor as
// enforcement makes them (want), plus duplicate proxy protocol policies: what
// a failed or concurrent run lost or half-changed. Empty means nothing lost.
func damage(old, mid, want faultState) []string {
	var out []string
	all := maps.Clone(old)
	maps.Copy(all, mid)
	maps.Copy(all, want)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if mid[k] != old[k] && mid[k] != want[k] {
			out = append(out, fmt.Sprintf("%s: got %q; want %q (before) or %q (enforced)", k, mid[k], old[k], want[k]))
		}
	}
	if n := strings.Count(mid["policies"], engine.ProxyPolicyName); n > 1 {
		out = append(out, fmt.Sprintf("%d proxy protocol policies; want at most 1", n))
	}
	return out
}

// faultTally adds up what a test did for its summary line.
type faultTally struct {
	scenario string
	rounds   int
	lbs      int
	requests map[string]int // by action key
	faults   map[string]int // by kind
	lost     int
	start    time.Time
}

func newTally(scenario string) *faultTally {
	return &faultTally{scenario: scenario, requests: map[string]int{}, faults: map[string]int{}, start: time.Now()}
}

// add takes the proxy's counts and resets them.
func (ft *faultTally) add(p *faultproxy.Proxy) {
	for k, a := range p.Stats() {
		ft.requests[k] += a.Requests
		for f, n := range a.Faults {
			if f != "intercepted" { // AWS emulation, not a fault
				ft.faults[f] += n
			}
		}
	}
}

// log writes the one-line summary collected into RELIABILITY.md.
func (ft *faultTally) log(t *testing.T) {
	t.Helper()
	var calls []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(ft.requests)) {
		v, a, _ := strings.Cut(k, ":")
		v = map[string]string{faultproxy.VersionClassic: "elb", faultproxy.VersionV2: "elbv2"}[v]
		calls = append(calls, fmt.Sprintf("%s:%s=%d", v, a, ft.requests[k]))
		total += ft.requests[k]
	}
	nf := 0
	for _, n := range ft.faults {
		nf += n
	}
	t.Logf("SUMMARY scenario=%q rounds=%d load_balancers=%d requests=%d faults=%d %v lost=%d wall=%s calls: %s",
		ft.scenario, ft.rounds, ft.lbs, total, nf, ft.faults, ft.lost, time.Since(ft.start).Round(10*time.Millisecond), strings.Join(calls, " "))
}
