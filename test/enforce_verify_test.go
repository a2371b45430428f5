//go:build integration

package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/faultproxy"
)

// TestVerifyRollbackMoto runs the delayed verification end to end: the
// enforcer turns proxy protocol on for an NLB's target group, queues the
// check on a real (moto) SQS queue with the window as the message delay, and
// a later invocation fed that SQS message finds a target that was healthy
// now unhealthy (moto says every target is healthy: the fault proxy answers
// DescribeTargetHealth as AWS would once the back end fails the PROXY v2
// health checks), turns proxy protocol back off, and marks the load
// balancer so that the next event leaves it alone.
func TestVerifyRollbackMoto(t *testing.T) {
	s := newSafetyRig(t)
	ctx := enfCtxT(t)
	v2 := elbv2.NewFromConfig(s.cfg)
	sq := sqs.NewFromConfig(s.cfg)
	q := enfMust[*sqs.CreateQueueOutput](t, "create queue")(sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("elbguard-verify")}))
	sched := &fleet.SQSScheduler{Client: sq, QueueURL: aws.ToString(q.QueueUrl), Window: time.Second}
	h := s.enforcer(t, engine.WithVerifier(sched))

	vpc, subnets := enfDefaultSubnets(t, s.m)
	lb := enfMust[*elbv2.CreateLoadBalancerOutput](t, "create nlb")(v2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("edge-verify"), Type: v2types.LoadBalancerTypeEnumNetwork, Subnets: subnets,
		Tags: []v2types.Tag{{Key: aws.String(enfModeTag), Value: aws.String("enforce")}}}))
	arn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tg := enfMust[*elbv2.CreateTargetGroupOutput](t, "create target group")(v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("edge-verify-tg"), Protocol: v2types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(vpc),
		TargetType: v2types.TargetTypeEnumInstance, HealthCheckProtocol: v2types.ProtocolEnumTcp,
		// The quickest checks AWS allows: the verification waits at least
		// interval x (unhealthy threshold + 1) = 15 s for them.
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)}))
	tgARN := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	enfMust[*elbv2.CreateListenerOutput](t, "create listener")(v2.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(arn), Protocol: v2types.ProtocolEnumTcp, Port: aws.Int32(80),
		DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}}))
	ids := s.instances(t, 2, "true")
	enfMust[*elbv2.RegisterTargetsOutput](t, "register targets")(v2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(tgARN), Targets: []v2types.TargetDescription{{Id: aws.String(ids[0]), Port: aws.Int32(80)}, {Id: aws.String(ids[1]), Port: aws.Int32(80)}}}))
	proxyV2 := func() string {
		out := enfMust[*elbv2.DescribeTargetGroupAttributesOutput](t, "describe attributes")(v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN)}))
		for _, a := range out.Attributes {
			if aws.ToString(a.Key) == "proxy_protocol_v2.enabled" {
				return aws.ToString(a.Value)
			}
		}
		return ""
	}
	event := enfSampleEvent(t, "v2_create_nlb.json", enfSampleNLB, arn)

	out, err := h.Handle(s.ctx(t), event)
	if err != nil || out.Result.Reports[0].Status != engine.StatusRemediated || proxyV2() != "true" {
		t.Fatalf("enforce: got %+v, %v, proxy v2 %q; want remediated and on", out, err, proxyV2())
	}

	// The delayed check arrives on the queue (moto's SQS), as it would at
	// the enforcer's SQS event source after the window.
	msg := enfMust[*sqs.ReceiveMessageOutput](t, "receive")(sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: q.QueueUrl, WaitTimeSeconds: 20, MaxNumberOfMessages: 10}))
	if len(msg.Messages) != 1 || !strings.Contains(aws.ToString(msg.Messages[0].Body), tgARN) {
		t.Fatalf("got %d messages %+v; want one verification of %s", len(msg.Messages), msg.Messages, tgARN)
	}
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]string{{
		"messageId": aws.ToString(msg.Messages[0].MessageId), "eventSource": "aws:sqs", "body": aws.ToString(msg.Messages[0].Body)}}})

	// The first instance's server cannot read the header: its health checks fail.
	s.proxy.Intercept("DescribeTargetHealth", faultproxy.TargetHealth(func(id string) string {
		if id == ids[0] {
			return "unhealthy"
		}
		return ""
	}))
	out, err = h.Handle(s.ctx(t), batch)
	if err != nil || out.Result == nil || len(out.Result.Reports) != 1 {
		t.Fatalf("verify: got %+v, %v", out, err)
	}
	r := out.Result.Reports[0]
	if r.Status != engine.StatusRolledBack || !strings.Contains(findingOf(r, engine.RuleHealthDropped), ids[0]+":80") || proxyV2() != "false" {
		t.Fatalf("verify: got %s %+v, proxy v2 %q; want rolled_back, health_dropped naming %s:80, proxy protocol off", r.Status, r.Findings, proxyV2(), ids[0])
	}
	tags := enfMust[*elbv2.DescribeTagsOutput](t, "describe tags")(v2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}}))
	marked := false
	for _, tag := range tags.TagDescriptions[0].Tags {
		marked = marked || aws.ToString(tag.Key) == engine.TagHealthDropped
	}
	if !marked {
		t.Errorf("got tags %+v; want %s on the load balancer", tags.TagDescriptions[0].Tags, engine.TagHealthDropped)
	}

	// The next event (or sweep) does not turn it on again.
	s.proxy.Reset()
	out, err = h.Handle(s.ctx(t), event)
	_, writes, calls := s.calls()
	if err != nil || out.Result.Reports[0].Status != engine.StatusNonCompliant || writes != 0 || proxyV2() != "false" {
		t.Errorf("next event: got %+v, %v, %d writes (%s); want non_compliant with health_dropped, no writes", out.Result.Reports, err, writes, calls)
	}
}
