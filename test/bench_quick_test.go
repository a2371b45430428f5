//go:build integration

package test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elbguard/elbguard/benchmark"
	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/test/harness"
)

// TestBenchQuick runs `make bench-quick` (scripts/benchmark.sh --quick) end to
// end — nginx, HAProxy and elbguard-proxy side by side, the sweeps in moto,
// Cloud Custodian, the cold start under aws-lambda-rie — and checks that
// every scenario produced a number for every tool. It never looks at the
// numbers themselves: speed claims live in BENCHMARKS.md, not in tests.
func TestBenchQuick(t *testing.T) {
	root := harness.Root(t)
	for _, tool := range []string{"nginx", "haproxy", "moto_server", "aws-lambda-rie", "python3"} {
		harness.Tool(t, tool)
	}
	out := t.TempDir()
	res := harness.Run(t, 9*time.Minute, "bash", []string{filepath.Join(root, "scripts", "benchmark.sh"), "--quick", "-out", out},
		harness.WithDir(root))
	t.Logf("scripts/benchmark.sh --quick exited %d; stdout:\n%s", res.Code, res.Stdout)
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("read results.json: %v\nstderr:\n%s", err, res.Stderr)
	}
	var got benchmark.Results
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("decode results.json: %v", err)
	}
	for _, m := range got.Missing {
		t.Errorf("no number: %s", m)
	}
	if len(got.Proxy) == 0 || len(got.Enforcement) == 0 {
		t.Errorf("got %d proxy rows and %d enforcement rows; want both parts measured", len(got.Proxy), len(got.Enforcement))
	}
	for _, r := range got.Proxy {
		tools := []string{benchmark.Elbguard, benchmark.Nginx, benchmark.HAProxy}
		if r.Only != "" { // a reference measured for one tool alone
			tools = []string{r.Only}
		}
		for _, tool := range tools {
			checkCell(t, r.Scenario+" "+r.Metric, tool, r.Cells)
		}
	}
	for _, r := range got.Enforcement {
		if len(r.Cells) == 0 {
			t.Errorf("%s %s: no tool measured", r.Scenario, r.Metric)
		}
		for tool := range r.Cells {
			checkCell(t, r.Scenario+" "+r.Metric, tool, r.Cells)
		}
	}
	if len(got.Calls) == 0 {
		t.Errorf("no API call counts recorded; want the sweeps' calls by action")
	}
	if res.Code != 0 {
		t.Errorf("scripts/benchmark.sh --quick exited %d; want 0\nstderr:\n%s", res.Code, res.Stderr)
	}
}

func checkCell(t *testing.T, figure, tool string, cells map[string]report.Cell) {
	t.Helper()
	c, ok := cells[tool]
	switch {
	case !ok:
		t.Errorf("%s: no figure for %s", figure, tool)
	case c.Err != "":
		t.Errorf("%s: %s produced no number: %s", figure, tool, c.Err)
	case math.IsNaN(c.Value) || math.IsInf(c.Value, 0):
		t.Errorf("%s: %s = %v; want a finite number", figure, tool, c.Value)
	}
}
