package htmlreport

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/engine"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sample(t *testing.T) *engine.Result {
	t.Helper()
	raw, err := os.ReadFile("../securityhub/testdata/reports.json")
	if err != nil {
		t.Fatal(err)
	}
	var byName map[string]engine.Report
	if err := json.Unmarshal(raw, &byName); err != nil {
		t.Fatal(err)
	}
	res := &engine.Result{Counts: map[engine.Status]int{}}
	for _, n := range []string{"classic_non_compliant", "classic_remediated", "nlb_compliant", "classic_skipped", "classic_error", "classic_exempt", "alb"} {
		r := byName[n]
		res.Reports = append(res.Reports, r)
		res.Counts[r.Status]++
	}
	res.Found, res.Processed = len(res.Reports), len(res.Reports)
	return res
}

func TestRenderGolden(t *testing.T) {
	var b bytes.Buffer
	err := Render(&b, sample(t), Options{Generated: time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC),
		Changes: func(r engine.Report) string { return r.Name + " <changes>" }})
	if err != nil {
		t.Fatal(err)
	}
	got := b.Bytes()
	if *update {
		if err := os.WriteFile("testdata/report.golden.html", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/report.golden.html")
	if err != nil {
		t.Fatalf("read golden (go test ./compliance/htmlreport -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from testdata/report.golden.html; run with -update and review")
	}
}

// TestRenderSelfContained: no scripts, no external assets, and report text
// escaped (a load balancer name or AWS error message is untrusted).
func TestRenderSelfContained(t *testing.T) {
	res := sample(t)
	var b bytes.Buffer
	if err := Render(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	page := strings.ToLower(b.String())
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q; want a self-contained page", bad)
		}
	}
	hostile := sample(t)
	hostile.Reports[0].Findings = append(hostile.Reports[0].Findings, engine.Finding{Rule: "api_error", Detail: `<script>alert(1)</script><img src="https://evil.example/x">`})
	var h bytes.Buffer
	if err := Render(&h, hostile, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.String(), "<script") || strings.Contains(h.String(), "<img") || !strings.Contains(h.String(), "&lt;script&gt;") {
		t.Errorf("hostile finding not escaped")
	}
	for _, want := range []string{"non_compliant (1)", "remediated (1)", "exempt (1)", "web-classic", "7 load balancers"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestRenderOrderTilesHeader: the header names where and with what the run
// looked; tiles only for statuses that occur; what needs a person first;
// nothing cut.
func TestRenderOrderTilesHeader(t *testing.T) {
	long := strings.Repeat("the certificate arn:aws:acm:us-east-1:1:certificate/abc is not ISSUED; ", 8)
	res := &engine.Result{Reports: []engine.Report{
		{Type: "classic", Name: "ok", Status: engine.StatusCompliant},
		{Type: "classic", Name: "bad", Status: engine.StatusNonCompliant},
		{Type: "classic", Name: "waiting", Status: engine.StatusHeld, Findings: []engine.Finding{{Rule: "backends_not_ready", Detail: "i-1 has no elbguard:proxy-ready"}}},
		{Type: "classic", Name: "broken", Status: engine.StatusError, Findings: []engine.Finding{{Rule: "certificate_missing", Detail: long}}},
	}}
	var b bytes.Buffer
	if err := Render(&b, res, Options{Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"}, Version: "1.2.3 (commit abc)", Generated: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"account 123456789012", "region us-east-1", "2026-12-07T00:00:00Z", "elbguard 1.2.3 (commit abc)", long} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	last := -1
	for _, id := range []string{`id="error"`, `id="held"`, `id="non_compliant"`, `id="compliant"`} {
		i := strings.Index(page, id)
		if i < last {
			t.Errorf("%s comes before the section above it; want errors, held, non_compliant, compliant", id)
		}
		last = i
	}
	for _, absent := range []string{"s-remediated", "s-gone", "s-deferred"} {
		if strings.Contains(page, `<li class="`+absent) {
			t.Errorf("a tile for %s, which has no load balancer", absent)
		}
	}
}

func TestOrderHasEveryStatus(t *testing.T) {
	for _, s := range engine.Statuses {
		if !slices.Contains(Order, s) {
			t.Errorf("status %s is not in Order: its load balancers would not be shown", s)
		}
	}
}
