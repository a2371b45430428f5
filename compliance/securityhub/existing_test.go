package securityhub

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// storeHub is a Security Hub that keeps what it imports, by Id, and answers
// GetFindings with every finding it holds, ignoring the filter (as moto
// does), plus one foreign finding; readErr fails the reads.
type storeHub struct {
	fakeHub
	held    map[string]types.AwsSecurityFinding
	reads   int
	readErr error
}

func (h *storeHub) BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	for _, f := range in.Findings {
		h.held[aws.ToString(f.Id)] = f
	}
	return h.fakeHub.BatchImportFindings(ctx, in, optFns...)
}

func (h *storeHub) GetFindings(_ context.Context, in *securityhub.GetFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error) {
	h.reads++
	if h.readErr != nil {
		return nil, h.readErr
	}
	if n := len(in.Filters.Id); n == 0 || n > idsPerRead {
		return nil, errors.New("want 1 to 20 Id filters")
	}
	out := &securityhub.GetFindingsOutput{Findings: []types.AwsSecurityFinding{
		{Id: aws.String("someone-else"), CreatedAt: aws.String("2001-01-01T00:00:00.000Z")}}}
	for _, f := range h.held {
		out.Findings = append(out.Findings, f)
	}
	return out, nil
}

func classicReport(name string, status engine.Status) engine.Report {
	return engine.Report{Name: name, Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: status,
		Findings: []engine.Finding{{Rule: engine.RuleListenerProtocol, Detail: "HTTP:80"}}}
}

// TestSinkKeepsCreatedAtAndArchivesOnlyExisting: CreatedAt is when elbguard
// first saw the problem, across imports; a deleted load balancer archives
// the findings it had and creates none; a read that fails falls back to
// importing as mapped.
func TestSinkKeepsCreatedAtAndArchivesOnlyExisting(t *testing.T) {
	hub := &storeHub{held: map[string]types.AwsSecurityFinding{}}
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := &Sink{Client: hub, Locator: &compliance.Locator{Region: "us-east-1", Account: "123456789012"}, Now: func() time.Time { return now }}
	publish := func(reports ...engine.Report) {
		t.Helper()
		if _, err := s.Publish(context.Background(), &engine.Result{Reports: reports}, compliance.Trigger{Kind: compliance.TriggerEvent}); err != nil {
			t.Fatal(err)
		}
	}
	id := FindingID("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web", ControlListenerProtocol)

	publish(classicReport("web", engine.StatusNonCompliant))
	first := aws.ToString(hub.held[id].CreatedAt)
	now = now.Add(time.Hour)
	publish(classicReport("web", engine.StatusNonCompliant))
	if got := hub.held[id]; aws.ToString(got.CreatedAt) != first || aws.ToString(got.UpdatedAt) != "2026-01-01T11:00:00.000Z" {
		t.Errorf("second import: CreatedAt %s, UpdatedAt %s; want the first %s and this run's", aws.ToString(got.CreatedAt), aws.ToString(got.UpdatedAt), first)
	}

	// Gone: its two findings archived, no /exempt finding created; a load
	// balancer never seen: nothing at all.
	calls := len(hub.calls)
	publish(classicReport("web", engine.StatusGone), classicReport("never-seen", engine.StatusGone))
	sent := slices.Concat(hub.calls[calls:]...)
	slices.Sort(sent)
	want := []string{FindingID("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web", ControlListenerProtocol),
		FindingID("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web", ControlProxyProtocol)}
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Errorf("gone: sent %q; want only the existing %q", sent, want)
	}
	for _, w := range want {
		if f := hub.held[w]; f.RecordState != types.RecordStateArchived || aws.ToString(f.CreatedAt) != first {
			t.Errorf("%s: %s, CreatedAt %s; want archived, first seen kept", w, f.RecordState, aws.ToString(f.CreatedAt))
		}
	}
	if _, ok := hub.held["someone-else"]; ok {
		t.Errorf("a finding the read returned but was not asked for was imported")
	}

	// A read that fails: imported as mapped (this run's CreatedAt).
	hub.readErr = errors.New("AccessDeniedException: securityhub:GetFindings")
	now = now.Add(time.Hour)
	publish(classicReport("web", engine.StatusNonCompliant))
	if got := aws.ToString(hub.held[id].CreatedAt); got != "2026-01-01T12:00:00.000Z" {
		t.Errorf("read failed: CreatedAt %s; want this run's", got)
	}
}
