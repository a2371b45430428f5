package securityhub

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/engine"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var goldenNow = time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)

func loadReports(t *testing.T) map[string]engine.Report {
	t.Helper()
	raw, err := os.ReadFile("testdata/reports.json")
	if err != nil {
		t.Fatal(err)
	}
	var reports map[string]engine.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		t.Fatalf("decode reports: %v", err)
	}
	return reports
}

// golden compares got with testdata/NAME, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test ./compliance/securityhub -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
	}
}

func TestFindingsGolden(t *testing.T) {
	reports := loadReports(t)
	names := make([]string, 0, len(reports))
	for n := range reports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, sweep := range []bool{false, true} {
			file := name + ".event.golden.json"
			if sweep {
				file = name + ".sweep.golden.json"
			}
			t.Run(file, func(t *testing.T) {
				r := reports[name]
				acct, region := r.Account, r.Region
				if acct == "" {
					acct, region = "123456789012", "us-east-1"
				}
				got := Findings(r, Context{Account: acct, Region: region, Now: goldenNow, Sweep: sweep})
				b := compact(t, got)
				if sweep && r.Status != engine.StatusSkipped {
					// Sweeps differ from events only for skipped reports.
					ev := Findings(r, Context{Account: acct, Region: region, Now: goldenNow})
					if b2 := compact(t, ev); !bytes.Equal(b, b2) {
						t.Errorf("sweep and event findings differ for %s", name)
					}
					return
				}
				golden(t, file, append(b, '\n'))
			})
		}
	}
}

// TestFindingsInvariants checks what every finding must satisfy, whatever
// the report: ASFF's required fields and limits, and ids that stay stable.
// compact renders findings as indented JSON without the SDK's null fields.
func compact(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	b, err = json.MarshalIndent(dropNulls(doc), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}

func TestFindingsInvariants(t *testing.T) {
	for name, r := range loadReports(t) {
		fs := Findings(r, Context{Account: "123456789012", Region: "us-east-1", Now: goldenNow})
		ids := map[string]bool{}
		for _, f := range fs {
			id := aws.ToString(f.Id)
			if ids[id] {
				t.Errorf("%s: duplicate finding id %s", name, id)
			}
			ids[id] = true
			for field, v := range map[string]*string{"Id": f.Id, "ProductArn": f.ProductArn, "GeneratorId": f.GeneratorId,
				"AwsAccountId": f.AwsAccountId, "Title": f.Title, "Description": f.Description, "CreatedAt": f.CreatedAt,
				"UpdatedAt": f.UpdatedAt, "SchemaVersion": f.SchemaVersion} {
				if aws.ToString(v) == "" {
					t.Errorf("%s %s: required field %s empty", name, id, field)
				}
			}
			if len(aws.ToString(f.Title)) > 256 || len(aws.ToString(f.Description)) > 1024 {
				t.Errorf("%s %s: title or description over the ASFF limit", name, id)
			}
			if f.Compliance == nil || f.Severity == nil || len(f.Resources) != 1 {
				t.Errorf("%s %s: want compliance, severity and one resource", name, id)
			}
			// Never passed while the report says non-compliant on that control.
			if r.Status == engine.StatusNonCompliant && f.Compliance.Status == types.ComplianceStatusPassed &&
				aws.ToString(f.GeneratorId) == "elbguard/"+ControlProxyProtocol {
				t.Errorf("%s: proxy_protocol PASSED for a non-compliant report", name)
			}
		}
	}
}

func TestFindingIDStable(t *testing.T) {
	r := engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusNonCompliant,
		Findings: []engine.Finding{{Rule: engine.RuleBackendProxy, Detail: "x"}}}
	a := Findings(r, Context{Account: "123456789012", Region: "us-east-1", Now: goldenNow})
	r.Status, r.Findings = engine.StatusRemediated, nil
	b := Findings(r, Context{Account: "123456789012", Region: "us-east-1", Now: goldenNow.Add(time.Hour)})
	if len(a) != len(b) {
		t.Fatalf("got %d then %d findings; want the same controls", len(a), len(b))
	}
	for i := range a {
		if aws.ToString(a[i].Id) != aws.ToString(b[i].Id) {
			t.Errorf("got id %s then %s; want one id per load balancer and control", aws.ToString(a[i].Id), aws.ToString(b[i].Id))
		}
	}
	want := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web/elbguard/proxy_protocol"
	if got := aws.ToString(a[0].Id); got != want {
		t.Errorf("got id %s; want %s", got, want)
	}
	if got := aws.ToString(a[0].ProductArn); got != "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default" {
		t.Errorf("got product %s; want the default product", got)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{name: "short", in: "abc", n: 5, want: "abc"},
		{name: "cut", in: "abcdefgh", n: 6, want: "abc..."},
		{name: "rune boundary", in: "ééééé", n: 6, want: "é..."},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("%s: clip(%q, %d) = %q; want %q", tt.name, tt.in, tt.n, got, tt.want)
		}
	}
}

// A rolled-back load balancer is not compliant on any control: a restore
// (elbguard:restore:PORT) puts back the HTTP listener elbguard had removed,
// and its report carries only the listener_restore finding; a health-drop
// roll back turned proxy protocol off again.
func TestRolledBackNeverPassed(t *testing.T) {
	reports := []engine.Report{
		{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusRolledBack,
			Findings: []engine.Finding{{Rule: engine.RuleListenerRestore, Detail: "listener 80 restored from tag elbguard:restore:80: HTTP:80 -> HTTP:80 policies []"}},
			Actions:  []engine.Action{{API: "CreateLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied}}},
		{Name: "edge", ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge/1", Type: engine.TypeNetwork,
			Mode: engine.ModeEnforce, Status: engine.StatusRolledBack,
			Findings: []engine.Finding{{Rule: engine.RuleHealthDropped, Detail: "target group tg: targets unhealthy; proxy protocol turned back off"}}},
	}
	for _, r := range reports {
		fs := Findings(r, Context{Account: "123456789012", Region: "us-east-1", Now: goldenNow})
		if len(fs) == 0 {
			t.Fatalf("%s: no findings", r.Name)
		}
		for _, f := range fs {
			if f.Compliance == nil || f.Compliance.Status != types.ComplianceStatusFailed {
				t.Errorf("%s %s: compliance %+v; want FAILED for a rolled-back load balancer", r.Name, aws.ToString(f.GeneratorId), f.Compliance)
			}
		}
	}
}
