//go:build integration

package test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
)

// TestReadinessGatesCLI runs the real elbguard binary against moto through
// the three gates of issue 20 §2: an empty Classic ELB is held
// (no_backends); once instances that read the header on port 80 only
// register, the web listener is converted and TCP:22 -> 22 is left alone
// (port_not_ready); a listener with cookie stickiness is held until the
// load balancer says elbguard:stickiness=drop.
func TestReadinessGatesCLI(t *testing.T) {
	s := newSafetyRig(t)
	classic := elb.NewFromConfig(s.cfg)
	ctx := enfCtxT(t)
	enfRunCLI(t, s.m, nil, "--help") // build the binary before the contexts below start
	create := func(name string, tags []elbtypes.Tag, ls ...elbtypes.Listener) {
		enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"}, Listeners: ls, Tags: tags}))
	}
	register := func(name string, ids []string) {
		var in []elbtypes.Instance
		for _, id := range ids {
			in = append(in, elbtypes.Instance{InstanceId: aws.String(id)})
		}
		enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(classic.RegisterInstancesWithLoadBalancer(enfCtxT(t),
			&elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String(name), Instances: in}))
	}
	remediate := func(t *testing.T, name string) engine.Report {
		t.Helper()
		res := enfRunCLI(t, s.m, nil, "remediate", "--output", "json", name)
		got := enfDecodeResult(t, res.Stdout)
		r, ok := got[name]
		if !ok {
			t.Fatalf("no report for %s (exit %d)\nstdout:\n%s\nstderr:\n%s", name, res.Code, res.Stdout, res.Stderr)
		}
		return r
	}
	protocols := func(name string) map[int32]string {
		out := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(classic.DescribeLoadBalancers(enfCtxT(t), &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}}))
		got := map[int32]string{}
		for _, ld := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
			got[ld.Listener.LoadBalancerPort] = aws.ToString(ld.Listener.Protocol)
		}
		for _, b := range out.LoadBalancerDescriptions[0].BackendServerDescriptions {
			if len(b.PolicyNames) > 0 {
				got[-aws.ToInt32(b.InstancePort)] = strings.Join(b.PolicyNames, ",")
			}
		}
		return got
	}

	const web = "web-gates"
	create(web, enfTags(enfModeTag, "enforce"), enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("TCP", 22, "TCP", 22, ""))
	t.Run("empty: held, no_backends", func(t *testing.T) {
		r := remediate(t, web)
		if r.Status != engine.StatusHeld || !strings.Contains(findingOf(r, engine.RuleNoBackends), "instance port") ||
			slices.ContainsFunc(r.Actions, func(a engine.Action) bool { return a.Status != engine.ActionHeld }) {
			t.Errorf("got %s %+v %+v; want held with no_backends, its calls listed as held only", r.Status, r.Findings, r.Actions)
		}
		if p := protocols(web); p[80] != "HTTP" || p[-80] != "" {
			t.Errorf("got %v; want nothing changed", p)
		}
	})
	t.Run("instances ready on 80 only: 80 converted, 22 left alone", func(t *testing.T) {
		register(web, s.instances(t, 2, "80"))
		r := remediate(t, web)
		if r.Status != engine.StatusHeld || !strings.Contains(findingOf(r, engine.RulePortNotReady), "instance port 22") {
			t.Errorf("got %s %+v; want held with port_not_ready naming instance port 22", r.Status, r.Findings)
		}
		if p := protocols(web); p[80] != "TCP" || p[22] != "TCP" || p[-80] == "" || p[-22] != "" {
			t.Errorf("got %v; want listener 80 TCP with proxy protocol on instance port 80, none on 22", p)
		}
	})

	const sticky = "web-sticky"
	create(sticky, enfTags(enfModeTag, "enforce"), enfListener("HTTP", 80, "HTTP", 80, ""))
	enfMust[*elb.CreateLBCookieStickinessPolicyOutput](t, "stickiness")(classic.CreateLBCookieStickinessPolicy(ctx, &elb.CreateLBCookieStickinessPolicyInput{
		LoadBalancerName: aws.String(sticky), PolicyName: aws.String("sticky"), CookieExpirationPeriod: aws.Int64(300)}))
	enfMust[*elb.SetLoadBalancerPoliciesOfListenerOutput](t, "attach")(classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
		LoadBalancerName: aws.String(sticky), LoadBalancerPort: 80, PolicyNames: []string{"sticky"}}))
	register(sticky, s.instances(t, 1, "true"))
	t.Run("cookie stickiness: held", func(t *testing.T) {
		r := remediate(t, sticky)
		if r.Status != engine.StatusHeld || !strings.Contains(findingOf(r, engine.RuleStickinessWouldDrop), "sticky") || protocols(sticky)[80] != "HTTP" {
			t.Errorf("got %s %+v, listener %s; want held with stickiness_would_drop, listener HTTP", r.Status, r.Findings, protocols(sticky)[80])
		}
	})
	t.Run("stickiness=drop: converted", func(t *testing.T) {
		enfMust[*elb.AddTagsOutput](t, "tag")(classic.AddTags(enfCtxT(t), &elb.AddTagsInput{LoadBalancerNames: []string{sticky}, Tags: enfTags(engine.TagStickiness, "drop")}))
		r := remediate(t, sticky)
		if r.Status != engine.StatusRemediated || protocols(sticky)[80] != "TCP" || findingOf(r, engine.RulePolicyDropped) == "" {
			t.Errorf("got %s %+v, listener %s; want remediated, TCP, the cookie policy reported dropped", r.Status, r.Findings, protocols(sticky)[80])
		}
	})
}

// TestRecheckQueueMoto: the debounce against moto's SQS FIFO queue. 50
// registrations of one load balancer queue one message; delivered to the
// enforcer, it is one reconcile that sees every registered instance.
func TestRecheckQueueMoto(t *testing.T) {
	s := newSafetyRig(t)
	ctx := enfCtxT(t)
	classic := elb.NewFromConfig(s.cfg)
	const name = "web-scale"
	enfMust[*elb.CreateLoadBalancerOutput](t, "create")(classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, Tags: enfTags(enfModeTag, "enforce")}))
	q := sqs.NewFromConfig(s.cfg)
	qu := enfMust[*sqs.CreateQueueOutput](t, "create queue")(q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("recheck.fifo"),
		Attributes: map[string]string{"FifoQueue": "true"}})) // delay 0 here; the stack sets 300 s
	h := s.enforcer(t)
	h.Debouncer = &fleet.SQSDebouncer{Client: q, QueueURL: aws.ToString(qu.QueueUrl)}
	ids := s.instances(t, 50, "true")
	for i, id := range ids { // Auto Scaling: one call, one event per instance
		enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(classic.RegisterInstancesWithLoadBalancer(ctx,
			&elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String(name), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}}))
		s.proxy.Reset()
		out, err := h.Handle(s.ctx(t), enfSampleEvent(t, "classic_register_instances.json", "web-classic", name))
		if reads, writes, calls := s.calls(); err != nil || !out.Debounced || reads+writes != 0 {
			t.Fatalf("event %d: got %+v, %v, calls %s; want debounced without an ELB call", i, out, err, calls)
		}
	}
	msgs := enfMust[*sqs.ReceiveMessageOutput](t, "receive")(q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qu.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1}))
	if len(msgs.Messages) != 1 {
		t.Fatalf("got %d messages; want 1 (SQS deduplicated the other 49)", len(msgs.Messages))
	}
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]string{{"messageId": aws.ToString(msgs.Messages[0].MessageId), "eventSource": "aws:sqs", "body": aws.ToString(msgs.Messages[0].Body)}}})
	s.proxy.Reset()
	out, err := h.Handle(s.ctx(t), batch)
	if err != nil || out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != engine.StatusRemediated {
		t.Fatalf("got %+v, %v; want one reconcile, remediated", out, err)
	}
	if _, _, calls := s.calls(); !strings.Contains(calls, "2012-06-01:DescribeTags=1 ") {
		t.Errorf("got calls %s; want one evaluation (one read of the load balancer's tags)", calls)
	}
}
