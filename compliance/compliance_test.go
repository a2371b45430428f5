package compliance

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/engine"
)

// slowSink blocks until its deadline, as an unreachable service would.
type slowSink struct{ name string }

func (s slowSink) Name() string { return s.name }

func (s slowSink) Publish(ctx context.Context, res *engine.Result, _ Trigger) (Stats, error) {
	<-ctx.Done()
	return Stats{Failed: len(res.Reports), Calls: 1}, ctx.Err()
}

type okSink struct{ got *Trigger }

func (okSink) Name() string { return "ok" }

func (s okSink) Publish(_ context.Context, res *engine.Result, t Trigger) (Stats, error) {
	*s.got = t
	return Stats{Sent: len(res.Reports), Calls: 1}, nil
}

func TestPublisherBoundsEachSink(t *testing.T) {
	var logs bytes.Buffer
	var got Trigger
	p := &Publisher{Sinks: []Sink{slowSink{name: "securityhub"}, okSink{got: &got}}, Timeout: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	res := &engine.Result{Reports: []engine.Report{{Name: "a"}, {Name: "b"}}}
	began := time.Now()
	totals := p.Publish(context.Background(), res, Trigger{Kind: TriggerSweep})
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("took %v; want each sink bounded by its timeout", d)
	}
	if totals.Failed() != 2 || totals["ok"].Sent != 2 || !got.Sweep() {
		t.Errorf("got %+v, trigger %+v; want the slow sink's 2 failures counted and the next sink run", totals, got)
	}
	if !strings.Contains(logs.String(), "publish failed; enforcement is unaffected") {
		t.Errorf("got logs %q; want the failure logged", logs.String())
	}
}

func TestPublisherNil(t *testing.T) {
	var p *Publisher
	if got := p.Publish(context.Background(), &engine.Result{}, Trigger{}); len(got) != 0 {
		t.Errorf("got %v; want nothing from a nil publisher", got)
	}
}

type stsFunc func() (*sts.GetCallerIdentityOutput, error)

func (f stsFunc) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f()
}

func TestLocator(t *testing.T) {
	calls := 0
	l := &Locator{Region: "eu-west-1", STS: stsFunc(func() (*sts.GetCallerIdentityOutput, error) {
		calls++
		return &sts.GetCallerIdentityOutput{Account: aws.String("111122223333")}, nil
	})}
	tests := []struct {
		name        string
		r           engine.Report
		wantAccount string
		wantRegion  string
	}{
		{name: "own account and region", r: engine.Report{Account: "444455556666", Region: "us-west-2"}, wantAccount: "444455556666", wantRegion: "us-west-2"},
		{name: "caller's account", r: engine.Report{}, wantAccount: "111122223333", wantRegion: "eu-west-1"},
		{name: "remembered", r: engine.Report{Region: "us-east-1"}, wantAccount: "111122223333", wantRegion: "us-east-1"},
	}
	for _, tt := range tests {
		a, r, err := l.Locate(context.Background(), tt.r)
		if err != nil || a != tt.wantAccount || r != tt.wantRegion {
			t.Errorf("%s: got %s %s %v; want %s %s", tt.name, a, r, err, tt.wantAccount, tt.wantRegion)
		}
	}
	if calls != 1 {
		t.Errorf("got %d STS calls; want 1", calls)
	}
	none := &Locator{Region: "us-east-1"}
	if _, _, err := none.Locate(context.Background(), engine.Report{Name: "x"}); !errors.Is(err, ErrNoAccount) {
		t.Errorf("got %v; want ErrNoAccount", err)
	}
}

func TestARNs(t *testing.T) {
	tests := []struct{ region, want string }{
		{"us-east-1", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web"},
		{"cn-north-1", "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:loadbalancer/web"},
		{"us-gov-west-1", "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/web"},
	}
	for _, tt := range tests {
		if got := ClassicARN(tt.region, "123456789012", "web"); got != tt.want {
			t.Errorf("ClassicARN(%s) = %s; want %s", tt.region, got, tt.want)
		}
	}
}
