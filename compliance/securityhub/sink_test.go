package securityhub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// fakeHub records BatchImportFindings calls; fail decides per call which
// finding ids fail, err fails whole calls.
type fakeHub struct {
	calls [][]string
	fail  func(call int, id string) bool
	err   error
}

func (h *fakeHub) BatchImportFindings(_ context.Context, in *securityhub.BatchImportFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	var ids []string
	out := &securityhub.BatchImportFindingsOutput{}
	for _, f := range in.Findings {
		id := aws.ToString(f.Id)
		ids = append(ids, id)
		if h.fail != nil && h.fail(len(h.calls), id) {
			out.FailedFindings = append(out.FailedFindings, types.ImportFindingsError{Id: f.Id,
				ErrorCode: aws.String("InvalidInput"), ErrorMessage: aws.String("rejected")})
		}
	}
	h.calls = append(h.calls, ids)
	if h.err != nil {
		return nil, h.err
	}
	if len(in.Findings) > BatchSize {
		return nil, fmt.Errorf("%d findings; BatchImportFindings takes at most %d", len(in.Findings), BatchSize)
	}
	return out, nil
}

type fakeSTS struct{ calls int }

func (s *fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	s.calls++
	return &sts.GetCallerIdentityOutput{Account: aws.String("123456789012")}, nil
}

// nlbs is a result of n compliant NLBs: one finding each.
func nlbs(n int) *engine.Result {
	res := &engine.Result{}
	for i := range n {
		res.Reports = append(res.Reports, engine.Report{Name: fmt.Sprintf("nlb-%d", i), Type: engine.TypeNetwork,
			ARN:  fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb-%d/1", i),
			Mode: engine.ModeEnforce, Status: engine.StatusCompliant})
	}
	return res
}

func TestSinkPublish(t *testing.T) {
	tests := []struct {
		name       string
		n          int
		fail       func(call int, id string) bool
		err        error
		wantCalls  int
		wantSent   int
		wantFailed int
		wantErr    string
	}{
		{name: "one batch", n: 3, wantCalls: 1, wantSent: 3},
		{name: "batches of 100", n: 250, wantCalls: 3, wantSent: 250},
		{name: "partial failure retried once", n: 5, wantCalls: 2, wantSent: 5,
			fail: func(call int, id string) bool { return call == 0 && strings.Contains(id, "nlb-2/") }},
		{name: "persistent failure bounded", n: 5, wantCalls: 3, wantSent: 4, wantFailed: 1, wantErr: "InvalidInput",
			fail: func(_ int, id string) bool { return strings.Contains(id, "nlb-2/") }},
		{name: "denied not retried", n: 150, wantCalls: 2, wantFailed: 150, wantErr: "AccessDenied",
			err: errors.New("AccessDeniedException: not authorized to perform securityhub:BatchImportFindings")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := &fakeHub{fail: tt.fail, err: tt.err}
			id := &fakeSTS{}
			s := &Sink{Client: hub, Locator: &compliance.Locator{Region: "us-east-1", STS: id}, Backoff: time.Millisecond}
			st, err := s.Publish(context.Background(), nlbs(tt.n), compliance.Trigger{Kind: compliance.TriggerSweep})
			if len(hub.calls) != tt.wantCalls || st.Calls != tt.wantCalls || st.Sent != tt.wantSent || st.Failed != tt.wantFailed {
				t.Errorf("got %d calls, stats %+v; want %d calls, %d sent, %d failed", len(hub.calls), st, tt.wantCalls, tt.wantSent, tt.wantFailed)
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got error %v; want one containing %q", err, tt.wantErr)
			}
			for _, c := range hub.calls {
				if len(c) > BatchSize {
					t.Errorf("got a call with %d findings; want at most %d", len(c), BatchSize)
				}
			}
			if id.calls != 1 {
				t.Errorf("got %d GetCallerIdentity calls; want 1 (the account is remembered)", id.calls)
			}
		})
	}
}

// TestSweepOf1000Calls pins the cost of a sweep of 1,000 load balancers:
// 500 Classic (2 findings each) and 500 NLBs (1 each) in scope are 1,500
// findings in 15 calls; out-of-scope ones cost nothing on sweeps.
func TestSweepOf1000Calls(t *testing.T) {
	res := &engine.Result{}
	for i := range 1000 {
		r := engine.Report{Name: fmt.Sprintf("lb-%d", i), Mode: engine.ModeEnforce, Status: engine.StatusCompliant}
		if i%2 == 0 {
			r.Type = engine.TypeClassic
		} else {
			r.Type, r.ARN = engine.TypeNetwork, fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/lb-%d/1", i)
		}
		res.Reports = append(res.Reports, r)
	}
	skipped := engine.Report{Name: "untagged", Type: engine.TypeClassic, Mode: engine.ModeOff, Status: engine.StatusSkipped}
	for range 500 {
		res.Reports = append(res.Reports, skipped)
	}
	hub := &fakeHub{}
	s := &Sink{Client: hub, Locator: &compliance.Locator{Region: "us-east-1", STS: &fakeSTS{}}}
	st, err := s.Publish(context.Background(), res, compliance.Trigger{Kind: compliance.TriggerSweep})
	if err != nil || st.Calls != 15 || st.Sent != 1500 {
		t.Errorf("got %+v, %v; want 1,500 findings in 15 calls", st, err)
	}
}
