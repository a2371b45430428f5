package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
)

type sender struct {
	in  []*sqs.SendMessageInput
	err error
}

func (s *sender) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	s.in = append(s.in, in)
	return &sqs.SendMessageOutput{}, s.err
}

func TestVerifyWindowFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 90 * time.Second, false},
		{"120", 2 * time.Minute, false},
		{"5m", 5 * time.Minute, false},
		{"900s", 900 * time.Second, false},
		{"901s", 0, true},
		{"0", 0, true},
		{"1.5s", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		got, err := VerifyWindowFromEnv(func(string) string { return tt.value })
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q: got %s, %v; want %s, error %v", tt.value, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), EnvVerifyWindow) {
			t.Errorf("%q: error %v does not name %s", tt.value, err, EnvVerifyWindow)
		}
	}
}

func TestSQSSchedulerRoundTrip(t *testing.T) {
	s := &sender{}
	v := engine.Verification{LoadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge/1", Name: "edge",
		TargetGroups: []engine.VerifyGroup{{ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1", Healthy: []string{"i-1:80"}}}}
	if err := (&SQSScheduler{Client: s, QueueURL: "https://sqs/q", Window: 2 * time.Minute}).Schedule(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if len(s.in) != 1 || s.in[0].DelaySeconds != 120 || aws.ToString(s.in[0].QueueUrl) != "https://sqs/q" {
		t.Fatalf("got %+v; want one message delayed 120 s", s.in)
	}
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]string{
		{"messageId": "m1", "eventSource": "aws:sqs", "body": aws.ToString(s.in[0].MessageBody)},
		{"messageId": "m2", "eventSource": "aws:sqs", "body": `{"something":"else"}`},
	}})
	vs, _, bad, ok := queued(batch)
	if !ok || len(vs) != 1 || vs[0].TargetGroups[0].Healthy[0] != "i-1:80" || len(bad) != 1 || bad[0] != "m2" {
		t.Errorf("got %+v, bad %v, ok %v; want the verification back and m2 bad", vs, bad, ok)
	}
	if _, _, _, ok := queued([]byte(`{"detail-type":"Scheduled Event","source":"aws.events"}`)); ok {
		t.Error("a scheduled event was taken for an SQS batch")
	}
	s.err = errors.New("AccessDenied")
	if err := (&SQSScheduler{Client: s, QueueURL: "q"}).Schedule(context.Background(), v); err == nil || !strings.Contains(err.Error(), "edge") {
		t.Errorf("got %v; want an error naming the load balancer", err)
	}
}

// healthV2 answers DescribeTargetHealth with one unhealthy target and takes
// the roll back.
type healthV2 struct {
	engine.V2API
	writes []string
}

func (h *healthV2) DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	return &elbv2.DescribeTargetHealthOutput{TargetHealthDescriptions: []v2types.TargetHealthDescription{{
		Target: &v2types.TargetDescription{Id: aws.String("i-1"), Port: aws.Int32(80)}, TargetHealth: &v2types.TargetHealth{State: v2types.TargetHealthStateEnumUnhealthy}}}}, nil
}

// DescribeTargetGroupAttributes answers proxy protocol on: the change a
// verification checks still stands.
func (h *healthV2) DescribeTargetGroupAttributes(context.Context, *elbv2.DescribeTargetGroupAttributesInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error) {
	return &elbv2.DescribeTargetGroupAttributesOutput{Attributes: []v2types.TargetGroupAttribute{{Key: aws.String("proxy_protocol_v2.enabled"), Value: aws.String("true")}}}, nil
}

func (h *healthV2) AddTags(_ context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	h.writes = append(h.writes, "AddTags "+aws.ToString(in.Tags[0].Key))
	return &elbv2.AddTagsOutput{}, nil
}

func (h *healthV2) ModifyTargetGroupAttributes(_ context.Context, in *elbv2.ModifyTargetGroupAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error) {
	h.writes = append(h.writes, fmt.Sprintf("Modify %s=%s", aws.ToString(in.Attributes[0].Key), aws.ToString(in.Attributes[0].Value)))
	return &elbv2.ModifyTargetGroupAttributesOutput{}, nil
}

func TestEnforcerRunsVerificationFromSQS(t *testing.T) {
	v2 := &healthV2{}
	e, err := engine.New(&emptyAccount{}, v2, engine.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	h := &Enforcer{Engine: e, Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
	body, _ := json.Marshal(map[string]engine.Verification{verificationKey: {LoadBalancerArn: "arn:lb", Name: "edge",
		TargetGroups: []engine.VerifyGroup{{ARN: "arn:tg", Healthy: []string{"i-1:80"}}}}})
	raw, _ := json.Marshal(map[string]any{"Records": []map[string]string{{"messageId": "m1", "eventSource": "aws:sqs", "body": string(body)}}})
	out, err := h.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result == nil || out.Result.Counts[engine.StatusRolledBack] != 1 {
		t.Fatalf("got %+v; want one rolled_back report", out)
	}
	if want := "AddTags " + engine.TagHealthDropped + ",Modify proxy_protocol_v2.enabled=false"; strings.Join(v2.writes, ",") != want {
		t.Errorf("got writes %v; want %s", v2.writes, want)
	}
	if !strings.Contains(metrics.String(), `"RolledBack":1`) {
		t.Errorf("got metrics %s; want RolledBack 1 for the alarm", metrics.String())
	}
}

// FuzzVerifications feeds arbitrary bytes to the SQS batch decoder the
// enforcer runs on every invocation: it must never panic, and whatever it
// accepts round-trips.
func FuzzVerifications(f *testing.F) {
	body, _ := json.Marshal(map[string]engine.Verification{verificationKey: {LoadBalancerArn: "arn:lb", Name: "edge",
		TargetGroups: []engine.VerifyGroup{{ARN: "arn:tg", Healthy: []string{"i-1:80"}}}}})
	good, _ := json.Marshal(map[string]any{"Records": []map[string]string{{"messageId": "m1", "eventSource": "aws:sqs", "body": string(body)}}})
	for _, seed := range []string{string(good), `{"Records":[]}`, `{"Records":[{"eventSource":"aws:sqs","body":"null"}]}`,
		`{"Records":[{"eventSource":"aws:s3"}]}`, `{"detail-type":"Scheduled Event"}`, `[]`, ``} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		vs, rs, bad, ok := queued(raw)
		if !ok && (len(vs) > 0 || len(rs) > 0 || len(bad) > 0) {
			t.Fatalf("not a batch, yet %d verifications, %d rechecks and %d bad", len(vs), len(rs), len(bad))
		}
		for _, rc := range rs {
			if len(rc.Classic)+len(rc.TargetGroups) == 0 {
				t.Fatalf("accepted a recheck that names nothing: %+v", rc)
			}
		}
		for _, v := range vs {
			if v.LoadBalancerArn == "" {
				t.Fatalf("accepted a verification without a load balancer: %+v", v)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("accepted verification does not encode: %v", err)
			}
		}
	})
}
