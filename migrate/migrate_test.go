package migrate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/elbguard/elbguard/engine"
)

func newTestMigrator(t *testing.T, s *Source, v2 *fakeV2, ec2 fakeEC2, cfg Config) *Migrator {
	t.Helper()
	m, err := New(Clients{Classic: &fakeClassic{s}, V2: v2, EC2: ec2, IAM: fakeIAM{"web-example": true}}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var bothReady = fakeEC2{"i-0aaa": "true", "i-0bbb": "true"}

// TestApplyMakesThePlannedCalls: the plan is the change. Every call apply
// makes is the plan's call, in the plan's order, with the plan's
// parameters (only ${REF} filled in with the ARNs returned before).
func TestApplyMakesThePlannedCalls(t *testing.T) {
	v2 := &fakeV2{}
	m := newTestMigrator(t, seedSource(), v2, bothReady, Config{Wait: time.Second})
	res, err := m.Plan(context.Background(), "web")
	if err != nil || res.Status != StatusPlanned {
		t.Fatalf("plan: got %v, %+v; want planned", err, res)
	}
	if len(v2.writes) != 0 {
		t.Fatalf("planning wrote %v", v2.writes)
	}
	m.Apply(context.Background(), res)
	if res.Status != StatusMigrated {
		t.Fatalf("got status %s, findings %v; want migrated", res.Status, res.Findings)
	}
	want := resolvedParams(t, res)
	if !slices.Equal(v2.writes, want) {
		t.Errorf("calls made:\n%s\nwant the plan's:\n%s", strings.Join(v2.writes, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range res.Calls {
		if c.Status != CallApplied {
			t.Errorf("call %s: got %s; want applied", c.API, c.Status)
		}
	}
	if res.NLB.ARN == "" || res.NLB.DNSName == "" || res.TargetGroups[0].ARN == "" || res.Listeners[1].ARN == "" || res.TargetGroups[0].Targets[0].State != "healthy" {
		t.Errorf("got %+v; want the NLB's, target groups' and listeners' ARNs and the target health", res)
	}
}

// TestApplyStopsAtFirstFailure: a failed call stops the run; the rest are
// not attempted and the result says how to undo.
func TestApplyStopsAtFirstFailure(t *testing.T) {
	v2 := &fakeV2{fail: "CreateListener"}
	m := newTestMigrator(t, seedSource(), v2, bothReady, Config{Wait: time.Second})
	res, _ := m.Plan(context.Background(), "web")
	m.Apply(context.Background(), res)
	var st []CallStatus
	for _, c := range res.Calls {
		st = append(st, c.Status)
	}
	if res.Status != engine.StatusError || !slices.Contains(rules(res), RuleIncomplete) || st[8] != CallFailed || st[9] != CallNotAttempted || st[7] != CallApplied {
		t.Errorf("got %s %v, calls %v; want error, migration_incomplete, call 9 failed, 10-11 not attempted", res.Status, rules(res), st)
	}
	if len(v2.writes) != 9 {
		t.Errorf("got %d writes; want 9 (up to the failure)", len(v2.writes))
	}
}

// TestApplyWaitsForHealthyTargets: targets that never turn healthy within
// --wait make a failed migration.
func TestApplyWaitsForHealthyTargets(t *testing.T) {
	v2 := &fakeV2{health: "unhealthy"}
	m := newTestMigrator(t, seedSource(), v2, bothReady, Config{Wait: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
	res, _ := m.Plan(context.Background(), "web")
	start := time.Now()
	m.Apply(context.Background(), res)
	if res.Status != engine.StatusError || !strings.Contains(strings.Join(detailOf(res, RuleTargetsUnhealthy), ""), "i-0aaa:80 unhealthy") {
		t.Errorf("got %s %v; want error with targets_unhealthy naming i-0aaa:80", res.Status, res.Findings)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %s; want about the 300ms of --wait", d)
	}
}

func detailOf(r *Result, rule string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Rule == rule {
			out = append(out, f.Detail)
		}
	}
	return out
}

// TestGates: the readiness gate (PROXY v2 is a different header from v1)
// and the certificate check hold the plan: held, no writes on apply.
func TestGates(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Source)
		ec2    fakeEC2
		held   string
	}{
		{"one instance not ready", nil, fakeEC2{"i-0aaa": "true"}, RuleBackendsNotReady},
		{"bad tag value", nil, fakeEC2{"i-0aaa": "true", "i-0bbb": "yes"}, RuleBackendsNotReady},
		{"readiness skip", func(s *Source) { s.Tags[engine.TagReadiness] = "skip" }, fakeEC2{}, ""},
		{"bad readiness tag", func(s *Source) { s.Tags[engine.TagReadiness] = "maybe" }, bothReady, engine.RuleInvalidTag},
		{"no proxy protocol: no gate", func(s *Source) { s.LB.BackendServerDescriptions = nil }, fakeEC2{}, ""},
		{"certificate deleted", func(s *Source) {
			s.LB.ListenerDescriptions[0].Listener.SSLCertificateId = new("arn:aws:iam::123456789012:server-certificate/gone")
		}, bothReady, RuleCertificateMissing},
		{"all ready", nil, bothReady, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seedSource()
			if tt.change != nil {
				tt.change(s)
			}
			v2 := &fakeV2{}
			m := newTestMigrator(t, s, v2, tt.ec2, Config{Wait: time.Second})
			res, err := m.Plan(context.Background(), "web")
			if err != nil {
				t.Fatal(err)
			}
			m.Apply(context.Background(), res)
			switch {
			case tt.held == "" && res.Status != StatusMigrated:
				t.Errorf("got %s %v; want migrated", res.Status, res.Findings)
			case tt.held != "" && (res.Status != engine.StatusHeld || !slices.Contains(rules(res), tt.held) || len(v2.writes) != 0):
				t.Errorf("got %s %v, %d writes; want held by %s, no writes", res.Status, res.Findings, len(v2.writes), tt.held)
			}
		})
	}
}

func TestPlanNotFound(t *testing.T) {
	m := newTestMigrator(t, seedSource(), &fakeV2{}, bothReady, Config{})
	res, err := m.Plan(context.Background(), "nope")
	if err != nil || res.Status != engine.StatusNotFound {
		t.Errorf("got %v, %+v; want not_found", err, res)
	}
}

// fakeRoute53 fails every read, as for a caller without route53:List*.
type fakeRoute53 struct{ Route53API }

func (fakeRoute53) ListHostedZones(context.Context, *route53.ListHostedZonesInput, ...func(*route53.Options)) (*route53.ListHostedZonesOutput, error) {
	return nil, errors.New("AccessDenied: not authorized to perform route53:ListHostedZones")
}

// TestPlanWithoutRoute53Access: the migration is planned and the unread
// records are a finding; an undo, which must put them back, fails.
func TestPlanWithoutRoute53Access(t *testing.T) {
	m, err := New(Clients{Classic: &fakeClassic{seedSource()}, V2: &fakeV2{}, EC2: bothReady, IAM: fakeIAM{"web-example": true}, Route53: fakeRoute53{}}, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Plan(context.Background(), "web")
	if err != nil || res.Status != StatusPlanned || !strings.Contains(strings.Join(detailOf(res, RuleRecordNotShifted), ""), "AccessDenied") {
		t.Errorf("plan: got %v, %s %v; want planned with a finding naming AccessDenied", err, res.Status, res.Findings)
	}
	if _, err := m.PlanUndo(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("undo: got %v; want the error", err)
	}
}
