//go:build integration

package test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/elbguard/elbguard/compliance/configrule"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/harness"
)

// compConfigRecorder stands in for PutEvaluations: moto accepts only
// TestMode=true, so it forwards each call to moto in test mode (which checks
// the request's shape) and records what the rule answered.
type compConfigRecorder struct {
	moto  *configservice.Client
	evals map[string]cfgtypes.Evaluation // by resource id
	calls int
}

func (r *compConfigRecorder) PutEvaluations(ctx context.Context, in *configservice.PutEvaluationsInput, opts ...func(*configservice.Options)) (*configservice.PutEvaluationsOutput, error) {
	r.calls++
	test := *in
	test.TestMode = true
	out, err := r.moto.PutEvaluations(ctx, &test, opts...)
	if err != nil {
		return nil, err
	}
	for _, e := range in.Evaluations {
		r.evals[aws.ToString(e.ComplianceResourceId)] = e
	}
	return out, nil
}

// TestComplianceConfigRule answers the golden Config events about the
// fixture's load balancers with the engine read-only against moto: before
// and after remediation, periodic, and deleted.
func TestComplianceConfigRule(t *testing.T) {
	m := harness.StartMoto(t)
	f := enfCreateFleet(t, m)
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	clients := awsclient.FromConfig(cfg)
	ro, err := fleet.NewEngine(clients, engine.Config{DryRun: true}, nil) // as the Config rule Lambda builds it
	if err != nil {
		t.Fatal(err)
	}
	rec := &compConfigRecorder{moto: configservice.NewFromConfig(cfg), evals: map[string]cfgtypes.Evaluation{}}
	rule, err := configrule.New(ro, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	handle := func(file string, replace ...string) {
		t.Helper()
		if err := rule.Handle(ctx, enfSampleEvent(t, "config/"+file, replace...)); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	want := func(id string, ct cfgtypes.ComplianceType) {
		t.Helper()
		got, ok := rec.evals[id]
		if !ok || got.ComplianceType != ct {
			t.Errorf("%s: got %s (%q); want %s", id, got.ComplianceType, aws.ToString(got.Annotation), ct)
		}
		if n := len([]rune(aws.ToString(got.Annotation))); n == 0 || n > configrule.MaxAnnotation {
			t.Errorf("%s: annotation of %d characters; want 1 to %d", id, n, configrule.MaxAnnotation)
		}
	}

	handle("classic_change.json", "web-classic", enfWebEnforce)
	want(enfWebEnforce, cfgtypes.ComplianceTypeNonCompliant)
	handle("v2_oversized.json", enfSampleNLB, f.nlb)
	want(f.nlb, cfgtypes.ComplianceTypeNonCompliant)

	// Nothing was changed by the rule: remediate with a writing engine,
	// then the same events are compliant.
	rw, err := fleet.NewEngine(clients, engine.Config{}, nil) // as the enforcer builds it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Reconcile(ctx, engine.Targets{Classic: []string{enfWebEnforce}, LoadBalancers: []string{f.nlb}}); err != nil {
		t.Fatal(err)
	}
	handle("classic_change.json", "web-classic", enfWebEnforce)
	want(enfWebEnforce, cfgtypes.ComplianceTypeCompliant)
	handle("v2_change.json", enfSampleNLB, f.nlb)
	want(f.nlb, cfgtypes.ComplianceTypeCompliant)

	// Periodic: every load balancer.
	handle("scheduled.json")
	want(enfWebUntagged, cfgtypes.ComplianceTypeNotApplicable) // out of scope (opt-in)
	want(enfWebAudit, cfgtypes.ComplianceTypeNonCompliant)
	want(enfWebBad, cfgtypes.ComplianceTypeNonCompliant) // invalid tag
	want(f.alb, cfgtypes.ComplianceTypeNotApplicable)

	handle("classic_deleted.json", "web-classic", "web-long-gone")
	want("web-long-gone", cfgtypes.ComplianceTypeNotApplicable)
	if rec.calls < 6 {
		t.Errorf("got %d PutEvaluations calls; want one per event", rec.calls)
	}
}
