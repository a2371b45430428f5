package htmlreport

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
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
