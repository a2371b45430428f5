package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// emptyAccount is an account with no load balancers; it counts calls and can
// fail the listing.
type emptyAccount struct {
	engine.ClassicAPI // nil: any other call panics, proving it was not made
	calls             int
	err               error
}

func (a *emptyAccount) DescribeLoadBalancers(context.Context, *elb.DescribeLoadBalancersInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	a.calls++
	return &elb.DescribeLoadBalancersOutput{}, a.err
}

type emptyV2 struct {
	engine.V2API
	a *emptyAccount
}

func (v emptyV2) DescribeLoadBalancers(context.Context, *elbv2.DescribeLoadBalancersInput, ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	v.a.calls++
	return &elbv2.DescribeLoadBalancersOutput{}, nil
}

func newHandler(t *testing.T, acct *emptyAccount) (*Enforcer, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	e, err := engine.New(acct, emptyV2{a: acct}, engine.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs, metrics bytes.Buffer
	return &Enforcer{Engine: e, SelfARN: "arn:aws:iam::123456789012:role/service-role/ElbGuard-EnforcerRole1234",
		Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &metrics}, &logs, &metrics
}

func TestEnforcerIgnoresWithoutCalls(t *testing.T) {
	tests := []struct {
		name, file string
		raw        string
		wantBad    bool
		wantReason string
	}{
		{name: "malformed", raw: "{not json", wantBad: true, wantReason: "events: malformed event"},
		{name: "unknown", file: "unknown_ec2.json", wantReason: "unhandled event"},
		{name: "self caused", file: "classic_self_caused.json", wantReason: "caused by elbguard itself"},
		{name: "failed call", file: "classic_failed_call.json", wantReason: "failed call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.file != "" {
				var err error
				if raw, err = os.ReadFile("../events/testdata/" + tt.file); err != nil {
					t.Fatal(err)
				}
			}
			acct := &emptyAccount{}
			h, logs, _ := newHandler(t, acct)
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
			out, err := h.Handle(ctx, raw)
			if err != nil {
				t.Fatalf("got error %v; want none (bad input is not retried)", err)
			}
			if out.BadInput != tt.wantBad || out.Decision.Kind != events.KindIgnored || !strings.Contains(out.Decision.Reason, tt.wantReason) {
				t.Errorf("got %+v; want ignored (bad input %v) with reason containing %q", out, tt.wantBad, tt.wantReason)
			}
			if acct.calls != 0 {
				t.Errorf("got %d AWS calls; want 0", acct.calls)
			}
			if !strings.Contains(logs.String(), `"request_id":"req-1"`) {
				t.Errorf("got logs %s; want the request id", logs.String())
			}
		})
	}
}

func TestScheduledEventSweepsAndEmitsEMF(t *testing.T) {
	raw, err := os.ReadFile("../events/testdata/scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	acct := &emptyAccount{}
	h, _, metrics := newHandler(t, acct)
	out, err := h.Handle(context.Background(), raw)
	if err != nil || out.Result == nil || acct.calls != 2 {
		t.Fatalf("got %+v, %v, %d calls; want a sweep with 2 list calls", out, err, acct.calls)
	}
	var doc map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &doc); err != nil {
		t.Fatalf("EMF line %q: %v", metrics.String(), err)
	}
	if doc["Function"] != FunctionEnforcer || doc[MetricNonCompliant] != float64(0) {
		t.Errorf("got EMF %v; want Function=enforcer and NonCompliant=0", doc)
	}
}

func TestRetryOnlyRetryable(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantError bool
	}{
		{"access denied", &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}, false},
		{"throttled", &smithy.GenericAPIError{Code: "Throttling", Message: "slow down"}, true},
		{"deadline", context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := &emptyAccount{err: tt.err}
			e, _ := engine.New(acct, emptyV2{a: acct}, engine.Config{}, nil)
			out, err := (&Sweeper{Engine: e}).Handle(context.Background(), nil)
			if (err != nil) != tt.wantError || out.Error == "" {
				t.Errorf("got error %v (outcome %q); want error %v", err, out.Error, tt.wantError)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    engine.Config
		wantErr string
	}{
		{"empty", nil, engine.Config{}, ""},
		{"all set", map[string]string{EnvTagKey: "k", EnvDefaultMode: "Enforce", EnvDryRun: "true", EnvConcurrency: "4"},
			engine.Config{TagKey: "k", DefaultMode: engine.ModeEnforce, DryRun: true, Concurrency: 4}, ""},
		{"bad mode", map[string]string{EnvDefaultMode: "on"}, engine.Config{}, "ELBGUARD_DEFAULT_MODE=\"on\"; want enforce, audit or off"},
		{"bad dry run", map[string]string{EnvDryRun: "maybe"}, engine.Config{}, "ELBGUARD_DRY_RUN"},
		{"bad concurrency", map[string]string{EnvConcurrency: "0"}, engine.Config{}, "ELBGUARD_CONCURRENCY=\"0\"; want a whole number from 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrEnv) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v; want ErrEnv containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

type fakeSTS struct{ arn string }

func (f fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Arn: aws.String(f.arn)}, nil
}

func TestSelfARN(t *testing.T) {
	got, err := SelfARN(context.Background(), "", fakeSTS{"arn:aws:sts::1:assumed-role/ElbGuard-Enforcer/fn"})
	if err != nil || got != "arn:aws:iam::1:role/ElbGuard-Enforcer" {
		t.Errorf("got %q, %v; want the role ARN", got, err)
	}
	got, _ = SelfARN(context.Background(), "arn:aws:iam::1:role/X", nil)
	if got != "arn:aws:iam::1:role/X" {
		t.Errorf("got %q; want the configured ARN", got)
	}
}

func ExampleEMF() {
	res := &engine.Result{Found: 3, Processed: 3, Counts: map[engine.Status]int{engine.StatusNonCompliant: 1, engine.StatusSkipped: 2}}
	line, _ := EMF(res, FunctionSweeper, time.Unix(1700000000, 0))
	os.Stdout.Write(append(line, '\n'))
	// Output: {"Compliant":0,"Deferred":0,"Error":0,"Exempt":0,"Function":"sweeper","Gone":0,"Held":0,"LoadBalancers":3,"NonCompliant":1,"NotApplicable":0,"NotFound":0,"NotReached":0,"Remediated":0,"RolledBack":0,"Skipped":2,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Function"]],"Metrics":[{"Name":"Compliant","Unit":"Count"},{"Name":"NonCompliant","Unit":"Count"},{"Name":"Remediated","Unit":"Count"},{"Name":"RolledBack","Unit":"Count"},{"Name":"Held","Unit":"Count"},{"Name":"Deferred","Unit":"Count"},{"Name":"Exempt","Unit":"Count"},{"Name":"NotApplicable","Unit":"Count"},{"Name":"Skipped","Unit":"Count"},{"Name":"Gone","Unit":"Count"},{"Name":"NotFound","Unit":"Count"},{"Name":"Error","Unit":"Count"},{"Name":"LoadBalancers","Unit":"Count"},{"Name":"NotReached","Unit":"Count"}],"Namespace":"ElbGuard"}],"Timestamp":1700000000000}}
}

func TestLogLevelFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    slog.Level
		wantErr bool
	}{
		{nil, slog.LevelInfo, false},
		{map[string]string{EnvLogLevel: "debug"}, slog.LevelDebug, false},
		{map[string]string{EnvLambdaLogLevel: "WARN"}, slog.LevelWarn, false},
		{map[string]string{EnvLambdaLogLevel: "TRACE", EnvLogLevel: "error"}, slog.LevelError, false},
		{map[string]string{EnvLogLevel: "loud"}, slog.LevelInfo, true},
	}
	for _, tt := range tests {
		got, err := LogLevelFromEnv(func(k string) string { return tt.env[k] })
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%v: got %v, %v; want %v (error %v)", tt.env, got, err, tt.want, tt.wantErr)
		}
	}
}
