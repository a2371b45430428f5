package harness

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// chromiumFlags keep headless Chromium off the network and out of the
// user's profile.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"}

// RenderPage loads the local HTML file page in headless Chromium (Debian's
// chromium package), writes a screenshot of width×height pixels to png and
// returns the page's DOM after rendering.
func RenderPage(t testing.TB, page, png string, width, height int) string {
	t.Helper()
	bin := Tool(t, "chromium")
	run := func(extra ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir())
		args = append(args, extra...)
		args = append(args, "file://"+page)
		out, err := exec.CommandContext(ctx, bin, args...).Output() //nolint:gosec // test helper: the binary is the found chromium
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return out
	}
	abs, err := filepath.Abs(png)
	if err != nil {
		t.Fatal(err)
	}
	run("--screenshot="+abs, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
	return string(run("--dump-dom"))
}
