//go:build integration

package test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/cmd/elbguard/cli"
	"github.com/elbguard/elbguard/test/harness"
)

// TestComplianceHTMLReport: `elbguard audit --output html` against moto,
// rendered in headless Chromium to a PNG; the rendered page's text has the
// counts, a section per status and the load balancers. With
// ELBGUARD_REPORT_PNG set (make report-png), the screenshot is also copied
// there (docs/report.png) and its text beside it (docs/report.txt); without,
// the text must equal docs/report.txt, or the screenshot in docs/compliance.md is stale.
func TestComplianceHTMLReport(t *testing.T) {
	m := harness.StartMoto(t)
	enfCreateFleet(t, m)
	m.Config(t) // sets AWS_* for the CLI's standard configuration
	var out, errOut bytes.Buffer
	code := cli.Run(enfCtxT(t), []string{"audit", "--output", "html"}, cli.Env{Stdout: &out, Stderr: &errOut, Getenv: os.Getenv})
	if code != cli.ExitFound {
		t.Fatalf("audit exit %d (stderr %s); want %d (non-compliant found)", code, errOut.String(), cli.ExitFound)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	dom := harness.RenderPage(t, page, shot, 1280, 900)
	for _, want := range []string{"elbguard audit", "non_compliant (", "not_applicable (", "skipped (", "error (",
		enfWebEnforce, enfWebAudit, "edge-nlb", "web-alb", "invalid_tag_value", "listeners 80,443 to TCP/SSL"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot %v; want 1280x900", b)
	}
	text := reportText(dom)
	if dst := os.Getenv("ELBGUARD_REPORT_PNG"); dst != "" {
		raw, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(dst, raw, 0o644)
		}
		if err == nil {
			err = os.WriteFile(strings.TrimSuffix(dst, ".png")+".txt", []byte(text), 0o644)
		}
		if err != nil {
			t.Fatalf("copy screenshot: %v", err)
		}
		return
	}
	want, err := os.ReadFile(filepath.Join(harness.Root(t), "docs", "report.txt"))
	if err != nil || string(want) != text {
		t.Errorf("docs/report.png is stale: the report renders differently from the page it shows (docs/report.txt); run make report-png and commit both\ngot:\n%s\nwant:\n%s", text, want)
	}
}

// reportText is the rendered page's text without what changes from run to
// run: the time and version line, and the ids in moto's ARNs.
func reportText(dom string) string {
	ids := regexp.MustCompile(`/[0-9a-f]{8,}\b`)
	var lines []string
	for _, l := range strings.Split(dom, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "generated ") {
			continue
		}
		lines = append(lines, ids.ReplaceAllString(l, "/ID"))
	}
	return strings.Join(lines, "\n") + "\n"
}
