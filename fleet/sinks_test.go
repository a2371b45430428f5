package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

func TestSinksFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Sinks
		wantErr string
	}{
		{name: "none"},
		{name: "both", env: map[string]string{EnvSecurityHub: "true", EnvNotifyTopicARN: "arn:aws:sns:us-east-1:123456789012:t"},
			want: Sinks{SecurityHub: true, NotifyTopicARN: "arn:aws:sns:us-east-1:123456789012:t"}},
		{name: "bad bool", env: map[string]string{EnvSecurityHub: "yes please"}, wantErr: EnvSecurityHub},
		{name: "bad topic", env: map[string]string{EnvNotifyTopicARN: "my-topic"}, wantErr: EnvNotifyTopicARN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SinksFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrEnv) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want an ErrEnv naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// failingSink is a sink whose service is down.
type failingSink struct{ got []compliance.Trigger }

func (s *failingSink) Name() string { return "securityhub" }

func (s *failingSink) Publish(_ context.Context, res *engine.Result, t compliance.Trigger) (compliance.Stats, error) {
	s.got = append(s.got, t)
	return compliance.Stats{Failed: 2, Calls: 1}, errors.New("ServiceUnavailableException: try later")
}

// TestPublishFailureDoesNotFailRun: a sink that is down is logged and
// counted; the run's outcome is the same as without sinks.
func TestPublishFailureDoesNotFailRun(t *testing.T) {
	raw, err := os.ReadFile("../events/testdata/scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	acct := &emptyAccount{}
	h, logs, metrics := newHandler(t, acct)
	sink := &failingSink{}
	h.Publisher = &compliance.Publisher{Sinks: []compliance.Sink{sink}, Log: h.Log}
	out, err := h.Handle(context.Background(), raw)
	if err != nil || out.Result == nil || out.Error != "" {
		t.Fatalf("got %+v, %v; want the sweep's result and no error", out, err)
	}
	if len(sink.got) != 1 || sink.got[0].Kind != compliance.TriggerSweep {
		t.Errorf("got triggers %+v; want one sweep", sink.got)
	}
	if !strings.Contains(logs.String(), "publish failed; enforcement is unaffected") {
		t.Errorf("got logs %s; want the failure logged", logs.String())
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		if v, ok := doc[MetricPublishFailures]; ok {
			found = true
			if v.(float64) != 2 || doc[MetricFindingsFailed].(float64) != 2 {
				t.Errorf("got %v; want 2 publish failures", doc)
			}
		}
	}
	if !found {
		t.Errorf("got metrics %s; want a %s line", metrics.String(), MetricPublishFailures)
	}
}

func TestTriggerOf(t *testing.T) {
	d := events.Decision{Kind: events.KindReconcile, EventName: "AddTags", Caller: "arn:aws:iam::1:role/Admin",
		Identity: "arn:aws:sts::1:assumed-role/Admin/alice"}
	if got := TriggerOf(d); got.Caller != d.Identity || got.Kind != compliance.TriggerEvent || got.EventName != "AddTags" {
		t.Errorf("got %+v; want the event's identity", got)
	}
	if got := TriggerOf(events.Decision{Kind: events.KindSweep}); !got.Sweep() {
		t.Errorf("got %+v; want a sweep", got)
	}
}

func TestPublishEMFHasUndimensionedSet(t *testing.T) {
	b, err := PublishEMF(compliance.Totals{"sns": {Sent: 1}}, FunctionEnforcer, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"Dimensions":[["Function"],[]]`)) || !bytes.Contains(b, []byte(`"NotificationsSent":1`)) {
		t.Errorf("got %s; want both dimension sets and the counts", b)
	}
}
