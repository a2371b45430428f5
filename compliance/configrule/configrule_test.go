package configrule

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/elbguard/elbguard/engine"
)

var when = time.Date(2026, 11, 27, 1, 38, 2, 0, time.UTC)

func TestEvaluate(t *testing.T) {
	nlb := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge-nlb/1"
	tests := []struct {
		name     string
		r        engine.Report
		want     cfgtypes.ComplianceType
		wantID   string
		wantWhy  string
		wantNone bool
	}{
		{name: "compliant classic", r: engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusCompliant},
			want: cfgtypes.ComplianceTypeCompliant, wantID: "web", wantWhy: "PROXY protocol on"},
		{name: "non-compliant nlb", r: engine.Report{Name: "edge-nlb", ARN: nlb, Type: engine.TypeNetwork, Mode: engine.ModeAudit, Status: engine.StatusNonCompliant,
			Findings: []engine.Finding{{Rule: engine.RuleTargetGroupProxy, Detail: "target group edge-tcp does not have proxy_protocol_v2.enabled=true"}}},
			want: cfgtypes.ComplianceTypeNonCompliant, wantID: nlb, wantWhy: "edge-tcp"},
		{name: "invalid tag", r: engine.Report{Name: "web", Type: engine.TypeClassic, Status: engine.StatusError,
			Findings: []engine.Finding{{Rule: engine.RuleInvalidTag, Detail: `invalid tag value "x"`}}},
			want: cfgtypes.ComplianceTypeNonCompliant, wantID: "web", wantWhy: "invalid tag"},
		{name: "alb", r: engine.Report{Name: "web-alb", ARN: "arn:alb", Type: engine.TypeApplication, Status: engine.StatusNotApplicable},
			want: cfgtypes.ComplianceTypeNotApplicable, wantID: "arn:alb"},
		{name: "mode off", r: engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeOff, Status: engine.StatusSkipped},
			want: cfgtypes.ComplianceTypeNotApplicable, wantID: "web", wantWhy: "scope"},
		{name: "exempt", r: engine.Report{Name: "web", Type: engine.TypeClassic, Status: engine.StatusExempt,
			Findings: []engine.Finding{{Rule: "exempt", Detail: "until 2027-01-31: migration"}}},
			want: cfgtypes.ComplianceTypeNotApplicable, wantID: "web", wantWhy: "exempt: until 2027-01-31"},
		{name: "rolled back", r: engine.Report{Name: "web", Type: engine.TypeClassic, Status: engine.StatusRolledBack,
			Findings: []engine.Finding{{Rule: "backends_unhealthy", Detail: strings.Repeat("long ", 100)}}},
			want: cfgtypes.ComplianceTypeNonCompliant, wantID: "web", wantWhy: "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok := Evaluate(tt.r, when)
			if ok == tt.wantNone {
				t.Fatalf("got ok %v; want %v", ok, !tt.wantNone)
			}
			if ev.ComplianceType != tt.want || aws.ToString(ev.ComplianceResourceId) != tt.wantID {
				t.Errorf("got %s %s; want %s %s", ev.ComplianceType, aws.ToString(ev.ComplianceResourceId), tt.want, tt.wantID)
			}
			ann := aws.ToString(ev.Annotation)
			if !strings.Contains(ann, tt.wantWhy) || len([]rune(ann)) > MaxAnnotation || ann == "" {
				t.Errorf("got annotation %q; want one containing %q, 1 to %d characters", ann, tt.wantWhy, MaxAnnotation)
			}
			if !aws.ToTime(ev.OrderingTimestamp).Equal(when) {
				t.Errorf("got ordering time %v; want %v", ev.OrderingTimestamp, when)
			}
		})
	}
}

// recorder stands in for PutEvaluations (moto accepts only TestMode=true).
type recorder struct {
	in  []*configservice.PutEvaluationsInput
	err error
}

func (r *recorder) PutEvaluations(_ context.Context, in *configservice.PutEvaluationsInput, _ ...func(*configservice.Options)) (*configservice.PutEvaluationsOutput, error) {
	r.in = append(r.in, in)
	return &configservice.PutEvaluationsOutput{}, r.err
}

// noLBs is an account without load balancers.
type noLBs struct {
	engine.ClassicAPI
	calls int
}

func (a *noLBs) DescribeLoadBalancers(context.Context, *elb.DescribeLoadBalancersInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	a.calls++
	return &elb.DescribeLoadBalancersOutput{}, nil
}

type noV2 struct {
	engine.V2API
	a *noLBs
}

func (v noV2) DescribeLoadBalancers(context.Context, *elbv2.DescribeLoadBalancersInput, ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	v.a.calls++
	return &elbv2.DescribeLoadBalancersOutput{}, nil
}

func newEvaluator(t *testing.T, dryRun bool) (*Evaluator, *recorder, *noLBs, error) {
	t.Helper()
	a := &noLBs{}
	eng, err := engine.New(a, noV2{a: a}, engine.Config{DryRun: dryRun}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ev, err := New(eng, rec, nil)
	return ev, rec, a, err
}

func TestNewRefusesWritingEngine(t *testing.T) {
	if _, _, _, err := newEvaluator(t, false); !errors.Is(err, ErrNotReadOnly) {
		t.Errorf("got %v; want ErrNotReadOnly", err)
	}
}

func TestHandleWithoutReading(t *testing.T) {
	tests := []struct {
		file      string
		wantType  cfgtypes.ComplianceType // "" for no PutEvaluations
		wantCalls int                     // engine calls
	}{
		{file: "classic_deleted.json", wantType: cfgtypes.ComplianceTypeNotApplicable},
		{file: "classic_left_scope.json", wantType: cfgtypes.ComplianceTypeNotApplicable},
		{file: "unrelated_instance.json"},
		{file: "scheduled.json", wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e, rec, acct, err := newEvaluator(t, true)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile("../../events/testdata/config/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Handle(context.Background(), raw); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if acct.calls != tt.wantCalls {
				t.Errorf("got %d engine calls; want %d", acct.calls, tt.wantCalls)
			}
			if tt.wantType == "" {
				if len(rec.in) != 0 {
					t.Errorf("got %d PutEvaluations; want none", len(rec.in))
				}
				return
			}
			if len(rec.in) != 1 || len(rec.in[0].Evaluations) != 1 || rec.in[0].Evaluations[0].ComplianceType != tt.wantType ||
				aws.ToString(rec.in[0].ResultToken) == "" {
				t.Fatalf("got %+v; want one %s evaluation with the result token", rec.in, tt.wantType)
			}
		})
	}
}

func TestHandleMalformedIsNotRetried(t *testing.T) {
	e, rec, _, err := newEvaluator(t, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(context.Background(), []byte("{not json")); err != nil || len(rec.in) != 0 {
		t.Errorf("got %v, %d calls; want nil and no call", err, len(rec.in))
	}
}
