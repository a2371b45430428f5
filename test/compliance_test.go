//go:build integration

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/notify"
	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/harness"
)

// TestComplianceSinks runs the enforcer with Security Hub and SNS sinks
// against moto: findings FAILED before, the same findings PASSED after the
// event's remediation, one notification read back from an SQS queue
// subscribed to the topic, none for a sweep that changes nothing, and
// enforcement unaffected when both services are unreachable.
func TestComplianceSinks(t *testing.T) {
	m := harness.StartMoto(t)
	enfCreateFleet(t, m)
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	clients := awsclient.FromConfig(cfg)
	hub := securityhubsdk.NewFromConfig(cfg)
	if _, err := hub.EnableSecurityHub(ctx, &securityhubsdk.EnableSecurityHubInput{}); err != nil {
		t.Fatalf("enable Security Hub: %v", err)
	}
	topic, queue := compSubscribedQueue(t, cfg)
	loc := &compliance.Locator{Region: cfg.Region, STS: clients.STS}
	pub := &compliance.Publisher{Sinks: []compliance.Sink{
		&securityhub.Sink{Client: hub, Locator: loc},
		&notify.Sink{Client: sns.NewFromConfig(cfg), TopicARN: topic, Locator: loc},
	}}

	// Before: an audit imports FAILED findings.
	audit, err := engine.New(clients.Classic, clients.V2, engine.Config{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if totals := pub.Publish(ctx, res, compliance.Trigger{Kind: compliance.TriggerCLI}); totals.Failed() != 0 {
		t.Fatalf("got publish failures %+v; want none", totals)
	}
	proxyID := securityhub.FindingID(compliance.ClassicARN(cfg.Region, "123456789012", enfWebEnforce), securityhub.ControlProxyProtocol)
	before := compFindings(t, hub)
	if got := before[proxyID]; got.Compliance == nil || got.Compliance.Status != shtypes.ComplianceStatusFailed {
		t.Fatalf("before: finding %s = %+v; want FAILED", proxyID, got.Compliance)
	}
	if n := len(compMessages(t, cfg, queue)); n != 0 {
		t.Errorf("got %d notifications for an audit; want 0 (nothing changed)", n)
	}

	// The event: the enforcer remediates and publishes.
	eng, err := engine.New(clients.Classic, clients.V2, engine.Config{}, nil, engine.WithCertificates(clients.IAM, clients.ACM)) // as fleet.NewEngine: the HTTPS listener's certificate is checked
	if err != nil {
		t.Fatal(err)
	}
	var logs, metrics bytes.Buffer
	h := &fleet.Enforcer{Engine: eng, SelfARN: enfSampleSelf, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &metrics, Publisher: pub}
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-compliance"})
	out, err := h.Handle(lctx, enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, enfWebEnforce))
	if err != nil || out.Result == nil || out.Result.Reports[0].Status != engine.StatusRemediated {
		t.Fatalf("got %+v, %v; want %s remediated", out, err, enfWebEnforce)
	}
	after := compFindings(t, hub)
	if got := after[proxyID]; got.Compliance == nil || got.Compliance.Status != shtypes.ComplianceStatusPassed {
		t.Errorf("after: finding %s = %+v; want PASSED", proxyID, got.Compliance)
	}
	if len(after) != len(before) {
		t.Errorf("got %d findings after, %d before; want the same ids updated in place", len(after), len(before))
	}
	msgs := compMessages(t, cfg, queue)
	if len(msgs) != 1 {
		t.Fatalf("got %d notifications; want 1 for the remediation", len(msgs))
	}
	msg := msgs[0]
	if !strings.Contains(msg.Subject, "remediated classic "+enfWebEnforce+" in 123456789012 us-east-1") ||
		!strings.Contains(msg.Message, "Triggered by:  arn:aws:sts::123456789012:assumed-role/") ||
		!strings.Contains(msg.Message, "==>") || !strings.Contains(msg.Message, "Undo or exempt") {
		t.Errorf("got notification %q\n%s\nwant subject, trigger, before/after and undo", msg.Subject, msg.Message)
	}
	for k, want := range map[string]string{"status": "remediated", "type": notify.TypeRemediated, "account": "123456789012"} {
		if got := msg.MessageAttributes[k].Value; got != want {
			t.Errorf("attribute %s = %q; want %q", k, got, want)
		}
	}

	// Unreachable sinks: enforcement still happens and is reported; the
	// failure is logged and counted, and the handler returns no error.
	deadCfg := cfg.Copy()
	deadCfg.BaseEndpoint = aws.String("http://127.0.0.1:1")
	deadCfg.RetryMaxAttempts = 2
	dead := &compliance.Publisher{Timeout: 5 * time.Second, Sinks: []compliance.Sink{
		&securityhub.Sink{Client: securityhubsdk.NewFromConfig(deadCfg), Locator: loc},
		&notify.Sink{Client: sns.NewFromConfig(deadCfg), TopicARN: topic, Locator: loc},
	}}
	logs.Reset()
	metrics.Reset()
	h.Publisher = dead
	start := time.Now()
	out, err = h.Handle(lctx, enfSampleEvent(t, "tag_change_classic.json", enfSampleClassic, enfWebSSL))
	if err != nil || out.Result == nil || out.Result.Reports[0].Status != engine.StatusRemediated {
		t.Fatalf("got %+v, %v; want %s remediated despite the sinks", out, err, enfWebSSL)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v with the sinks down; want bounded", d)
	}
	if !strings.Contains(logs.String(), "publish failed; enforcement is unaffected") || !strings.Contains(metrics.String(), `"PublishFailures":`) ||
		strings.Contains(metrics.String(), `"PublishFailures":0`) {
		t.Errorf("got logs %s\nmetrics %s\nwant the failures logged and counted", logs.String(), metrics.String())
	}
	h.Publisher = pub

	// A sweep remediates the rest (one message each); the next sweep
	// changes nothing and sends nothing.
	sw := &fleet.Sweeper{Engine: eng, Publisher: pub}
	for i, want := range []bool{true, false} {
		if _, err := sw.Handle(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if n := len(compMessages(t, cfg, queue)); (n > 0) != want {
			t.Errorf("sweep %d: got %d notifications; want some: %v", i+1, n, want)
		}
	}
}

// compSubscribedQueue creates an SNS topic and an SQS queue subscribed to it.
func compSubscribedQueue(t *testing.T, cfg aws.Config) (topic, queue string) {
	t.Helper()
	ctx := enfCtxT(t)
	tp := enfMust[*sns.CreateTopicOutput](t, "create topic")(sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("elbguard-notify")}))
	q := sqs.NewFromConfig(cfg)
	qo := enfMust[*sqs.CreateQueueOutput](t, "create queue")(q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("elbguard-inbox")}))
	attrs := enfMust[*sqs.GetQueueAttributesOutput](t, "queue arn")(q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: qo.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}}))
	enfMust[*sns.SubscribeOutput](t, "subscribe")(sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: tp.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}))
	return aws.ToString(tp.TopicArn), aws.ToString(qo.QueueUrl)
}

// compNotification is the SNS envelope an SQS subscriber receives.
type compNotification struct {
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// compMessages drains the queue.
func compMessages(t *testing.T, cfg aws.Config, queue string) []compNotification {
	t.Helper()
	q := sqs.NewFromConfig(cfg)
	var got []compNotification
	for {
		out, err := q.ReceiveMessage(enfCtxT(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			var n compNotification
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &n); err != nil {
				t.Fatalf("decode SNS envelope %q: %v", aws.ToString(m.Body), err)
			}
			got = append(got, n)
			if _, err := q.DeleteMessage(enfCtxT(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

// compFindings reads every finding back by id (moto ignores filters).
func compFindings(t *testing.T, hub *securityhubsdk.Client) map[string]shtypes.AwsSecurityFinding {
	t.Helper()
	got := map[string]shtypes.AwsSecurityFinding{}
	p := securityhubsdk.NewGetFindingsPaginator(hub, &securityhubsdk.GetFindingsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("GetFindings: %v", err)
		}
		for _, f := range page.Findings {
			got[aws.ToString(f.Id)] = f
		}
	}
	return got
}
