package fleet

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// recordSink keeps the reports published to it.
type recordSink struct{ got []engine.Report }

func (s *recordSink) Name() string { return "record" }

func (s *recordSink) Publish(_ context.Context, res *engine.Result, _ compliance.Trigger) (compliance.Stats, error) {
	s.got = append(s.got, res.Reports...)
	return compliance.Stats{Sent: len(res.Reports)}, nil
}

// A verification that finds no target dropped checked only the target
// groups one run turned on; its "compliant" says nothing about the rest of
// the load balancer (a target group that failed, drift on another), so it
// must not reach Security Hub (PASSED) or notifications. A roll back must.
func TestVerificationPublishesOnlyWhatItFound(t *testing.T) {
	tests := []struct {
		name    string
		healthy string // the target healthy before; healthV2 answers i-1:80 unhealthy
		want    []engine.Status
	}{
		{"no drop", "i-2:80", nil},
		{"dropped", "i-1:80", []engine.Status{engine.StatusRolledBack}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := engine.New(&emptyAccount{}, &healthV2{}, engine.Config{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			sink := &recordSink{}
			h := &Enforcer{Engine: e, Log: slog.New(slog.DiscardHandler), Publisher: &compliance.Publisher{Sinks: []compliance.Sink{sink}}}
			body, _ := json.Marshal(map[string]engine.Verification{verificationKey: {LoadBalancerArn: "arn:lb", Name: "edge",
				TargetGroups: []engine.VerifyGroup{{ARN: "arn:tg", Healthy: []string{tt.healthy}}}}})
			raw, _ := json.Marshal(map[string]any{"Records": []map[string]string{{"messageId": "m1", "eventSource": "aws:sqs", "body": string(body)}}})
			if _, err := h.Handle(context.Background(), raw); err != nil {
				t.Fatal(err)
			}
			var got []engine.Status
			for _, r := range sink.got {
				got = append(got, r.Status)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("published %v; want %v", got, tt.want)
			}
		})
	}
}

// The delay is the configured window or, when longer, the time the target
// groups' health checks need to mark a target unhealthy (the verification
// would otherwise read them still healthy and let a harmful change stand);
// never past SQS's largest delay.
func TestSQSSchedulerWaitsForHealthChecks(t *testing.T) {
	tests := []struct {
		window time.Duration
		min    int32
		want   int32
	}{
		{90 * time.Second, 0, 90},
		{90 * time.Second, 60, 90},
		{90 * time.Second, 330, 330},
		{90 * time.Second, 3300, 900},
	}
	for _, tt := range tests {
		s := &sender{}
		v := engine.Verification{LoadBalancerArn: "arn:lb", Name: "edge", MinDelaySeconds: tt.min}
		if err := (&SQSScheduler{Client: s, QueueURL: "q", Window: tt.window}).Schedule(context.Background(), v); err != nil {
			t.Fatal(err)
		}
		if got := s.in[0].DelaySeconds; got != tt.want {
			t.Errorf("window %s, min %d s: delay %d s; want %d", tt.window, tt.min, got, tt.want)
		}
	}
}
