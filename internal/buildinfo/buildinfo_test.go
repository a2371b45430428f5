package buildinfo

import (
	"regexp"
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "1.2.3"
	got := Read()
	if got.Version != "1.2.3" || got.GoVersion != runtime.Version() || got.Commit == "" {
		t.Fatalf("got %+v; want version 1.2.3, %s, a commit", got, runtime.Version())
	}
	if !regexp.MustCompile(`^1\.2\.3 \(commit \S+, go\S+ \w+/\w+\)$`).MatchString(got.String()) {
		t.Errorf("got %q; want 1.2.3 (commit C, goV OS/ARCH)", got.String())
	}
	Version = ""
	if v := Read().Version; v == "" {
		t.Errorf("got an empty version without -X; want dev or the module version")
	}
}
