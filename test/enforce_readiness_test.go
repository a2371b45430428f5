//go:build integration

package test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// motoAMI is an image moto knows (moto.ec2 loads its example AMIs).
const motoAMI = "ami-12c6146b"

// safetyRig is moto behind the fault proxy, with the engine wired as the
// Lambdas wire it (fleet.NewEngine: the EC2 client feeds the readiness gate).
type safetyRig struct {
	m       *harness.Moto
	cfg     aws.Config // straight to moto
	proxy   *faultproxy.Proxy
	clients *awsclient.Clients // through the proxy
	ec2     *ec2.Client
	seq     int
}

func newSafetyRig(t *testing.T) *safetyRig {
	t.Helper()
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	p, err := faultproxy.New(m.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	pc := cfg.Copy()
	pc.BaseEndpoint = aws.String(srv.URL)
	return &safetyRig{m: m, cfg: cfg, proxy: p, clients: awsclient.FromConfig(pc), ec2: ec2.NewFromConfig(cfg)}
}

func (s *safetyRig) enforcer(t *testing.T, opts ...engine.Option) *fleet.Enforcer {
	t.Helper()
	eng, err := fleet.NewEngine(s.clients, engine.Config{}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &fleet.Enforcer{Engine: eng, SelfARN: enfSampleSelf}
}

func (s *safetyRig) ctx(t *testing.T) context.Context {
	s.seq++
	return lambdacontext.NewContext(harness.Context(t, 50*time.Second), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("safety-%d", s.seq)})
}

// instances runs n instances in moto, tagged elbguard:proxy-ready=ready
// unless ready is empty.
func (s *safetyRig) instances(t *testing.T, n int, ready string) []string {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(motoAMI), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)), InstanceType: ec2types.InstanceTypeT4gMicro}
	if ready != "" {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String(engine.TagProxyReady), Value: aws.String(ready)}}}}
	}
	out := enfMust[*ec2.RunInstancesOutput](t, "run instances")(s.ec2.RunInstances(enfCtxT(t), in))
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}

func (s *safetyRig) tagReady(t *testing.T, value string, ids ...string) {
	t.Helper()
	enfMust[*ec2.CreateTagsOutput](t, "tag instances")(s.ec2.CreateTags(enfCtxT(t), &ec2.CreateTagsInput{
		Resources: ids, Tags: []ec2types.Tag{{Key: aws.String(engine.TagProxyReady), Value: aws.String(value)}}}))
}

// calls sums the proxy's requests since the last Reset: reads (Describe*)
// and writes.
func (s *safetyRig) calls() (reads, writes int, detail string) {
	var parts []string
	for k, st := range s.proxy.Stats() {
		if strings.Contains(k, "Describe") {
			reads += st.Requests
		} else {
			writes += st.Requests
		}
		parts = append(parts, fmt.Sprintf("%s=%d", k, st.Requests))
	}
	slices.Sort(parts)
	return reads, writes, strings.Join(parts, " ")
}

func findingOf(r engine.Report, rule string) string {
	var out []string
	for _, f := range r.Findings {
		if f.Rule == rule {
			out = append(out, f.Detail)
		}
	}
	return strings.Join(out, "\n")
}

// TestReadinessGateMoto: a Classic ELB with registered instances is changed
// only once every instance carries elbguard:proxy-ready=true; a malformed
// value is named; an instance registered later without the tag is drift,
// reported, and proxy protocol stays on.
func TestReadinessGateMoto(t *testing.T) {
	s := newSafetyRig(t)
	classic := elb.NewFromConfig(s.cfg)
	ctx := enfCtxT(t)
	const name = "web-ready"
	enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")},
		Tags:      enfTags(enfModeTag, "enforce", enfIdleTag, "3600")}))
	ready := s.instances(t, 1, "true")
	notYet := s.instances(t, 1, "")
	enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(classic.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String(name), Instances: []elbtypes.Instance{{InstanceId: aws.String(ready[0])}, {InstanceId: aws.String(notYet[0])}}}))
	h := s.enforcer(t)
	listener := func() string {
		out := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}}))
		return aws.ToString(out.LoadBalancerDescriptions[0].ListenerDescriptions[0].Listener.Protocol)
	}
	handle := func(t *testing.T) engine.Report {
		t.Helper()
		s.proxy.Reset()
		out, err := h.Handle(s.ctx(t), enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, name))
		if err != nil || out.Result == nil || len(out.Result.Reports) != 1 {
			t.Fatalf("Handle: %+v, %v", out, err)
		}
		return out.Result.Reports[0]
	}

	steps := []struct {
		name       string
		before     func()
		wantStatus engine.Status
		wantRule   string
		wantDetail string
		wantProto  string
	}{
		{"one instance without the tag: nothing changes", nil, engine.StatusHeld, engine.RuleBackendsNotReady, notYet[0], "HTTP"},
		{"a malformed value is named", func() { s.tagReady(t, "yes please", notYet[0]) }, engine.StatusHeld, engine.RuleInvalidTag, `"yes please" for ` + engine.TagProxyReady, "HTTP"},
		{"every instance ready: enforced", func() { s.tagReady(t, "true", notYet[0]) }, engine.StatusRemediated, "", "", "TCP"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			r := handle(t)
			_, writes, calls := s.calls()
			if r.Status != st.wantStatus || (st.wantRule != "" && !strings.Contains(findingOf(r, st.wantRule), st.wantDetail)) {
				t.Errorf("got %s %+v; want %s with %s naming %s", r.Status, r.Findings, st.wantStatus, st.wantRule, st.wantDetail)
			}
			if got := listener(); got != st.wantProto {
				t.Errorf("listener 80 is %s; want %s", got, st.wantProto)
			}
			if st.wantStatus != engine.StatusRemediated && writes != 0 {
				t.Errorf("held load balancer got %d writes: %s", writes, calls)
			}
		})
	}

	t.Run("compliant with instances: reads per event", func(t *testing.T) {
		r := handle(t)
		reads, writes, calls := s.calls()
		t.Logf("one event on compliant Classic ELB %s with 2 registered instances and an idle-timeout tag: %d reads, %d writes: %s", name, reads, writes, calls)
		if r.Status != engine.StatusCompliant || writes != 0 || reads != 5 {
			t.Errorf("got %s, %d reads, %d writes (%s); want compliant, 5 reads (4 + ec2:DescribeTags), 0 writes", r.Status, reads, writes, calls)
		}
	})

	t.Run("drift: an instance registered later without the tag", func(t *testing.T) {
		late := s.instances(t, 1, "")
		enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(classic.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: aws.String(name), Instances: []elbtypes.Instance{{InstanceId: aws.String(late[0])}}}))
		s.proxy.Reset()
		res, err := h.Engine.Sweep(harness.Context(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r := res.Reports[0]
		_, writes, calls := s.calls()
		if r.Status != engine.StatusNonCompliant || !strings.Contains(findingOf(r, engine.RuleBackendNotReady), late[0]) || writes != 0 || listener() != "TCP" {
			t.Errorf("got %s %+v, %d writes (%s), listener %s; want non_compliant, backend_not_ready naming %s, no writes, proxy protocol left on",
				r.Status, r.Findings, writes, calls, listener(), late[0])
		}
	})
}
