package proxy

import (
	"github.com/elbguard/elbguard/internal/buildinfo"

	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Help goes to stdout with exit 0, for every way people ask for it, and
// its text is testdata/help*.golden.
func TestHelpGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"help", []string{"help"}, "help.golden"},
		{"--help", []string{"--help"}, "help.golden"},
		{"-h", []string{"-h"}, "help.golden"},
		{"run --help", []string{"run", "--help"}, "help_run.golden"},
		{"help run", []string{"help", "run"}, "help_run.golden"},
		{"help check", []string{"help", "check"}, "help_check.golden"},
		{"check -h", []string{"check", "-h"}, "help_check.golden"},
		{"help reload", []string{"help", "reload"}, "help_reload.golden"},
		{"reload --help", []string{"reload", "--help"}, "help_reload.golden"},
		{"help version", []string{"help", "version"}, "help_version.golden"},
		{"-h after config", []string{"--config", "/nonexistent/proxy.yaml", "-h"}, "help.golden"},
	}
	written := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr)
			if code != 0 || stderr.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want 0 and nothing on stderr", code, stderr.String())
			}
			if *update && written[tt.golden] {
				return
			}
			written[tt.golden] = true
			golden(t, tt.golden, stdout.String())
		})
	}
}

// Mistakes on the command line: exit 2, a one-line reason on stderr and
// the way to the help, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, `elbguard-proxy: unknown command "serve"; commands are run, check, reload, version, help`},
		{[]string{"--bogus"}, "elbguard-proxy: run: flag provided but not defined: -bogus"},
		{[]string{"help", "serve"}, `unknown command "serve"`},
		{[]string{"check", "extra"}, `elbguard-proxy: check: unexpected argument "extra"`},
		{[]string{"--config", "x.yaml", "--upstream", "http://x:1"}, "elbguard-proxy: --upstream cannot be combined with --config"},
		{[]string{"version", "now"}, "version takes no arguments"},
		{[]string{"--log-level", "loud", "--admin", "off"}, `--log-level "loud": allowed values are debug, info, warn, error`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr)
			out := stderr.String() + stdout.String()
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, %q; want exit 2 and %q", code, out, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	old := buildinfo.Version
	t.Cleanup(func() { buildinfo.Version = old })
	buildinfo.Version = "1.2.3-4.gabc" // as -ldflags -X sets it
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, &stdout, &stderr)
		b := CurrentBuild()
		want := "elbguard-proxy 1.2.3-4.gabc (commit " + b.Commit + ", " + b.GoVersion + ")\n"
		if code != 0 || stdout.String() != want {
			t.Errorf("%v: exit %d, %q; want 0, %q", args, code, stdout.String(), want)
		}
	}
}

// -t and check without --config check the installed file, as nginx -t, and
// say which file they checked.
func TestCheckDefaultPath(t *testing.T) {
	for _, args := range [][]string{{"-t"}, {"check"}, {"check", "--log-level", "debug"}} {
		opts, err := ParseFlags(args, io.Discard)
		if opts.Command != CmdCheck || opts.ConfigPath != DefaultConfigPath {
			t.Errorf("%v: command %q config %q; want check of %s", args, opts.Command, opts.ConfigPath, DefaultConfigPath)
		}
		var out bytes.Buffer
		code := CheckResult(&out, opts, err)
		if _, serr := os.Stat(DefaultConfigPath); serr == nil {
			continue // a machine with elbguard-proxy installed: the file's own result
		}
		want := "elbguard-proxy: configuration file " + DefaultConfigPath + " test failed\n"
		if code != 1 || !strings.HasSuffix(out.String(), want) || !strings.Contains(out.String(), "pass --config FILE") {
			t.Errorf("%v: exit %d, %q; want 1 and %q", args, code, out.String(), want)
		}
	}
	// Configuration flags build the configuration instead.
	if opts, err := ParseFlags([]string{"check", "--http-listen", "127.0.0.1:8181"}, io.Discard); err != nil || opts.ConfigPath != "" {
		t.Errorf("check with flags: %v, config %q; want the flags' configuration", err, opts.ConfigPath)
	}
}

// check says, in nginx -t's words, which file it checked and what it holds.
func TestCheckGolden(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(good, []byte("access_log: {format: elb}\nlisteners:\n  - {listen: \":80\", mode: redirect, proxy_protocol: optional}\n  - {listen: \":81\", mode: http, upstream: \"http://127.0.0.1:8080\", body_timeout: 60}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listeners:\n  - listen: \":80\"\n    mode: redirect\n    proxy_protocl: optional\n"), 0o600); err != nil { //nolint:misspell // the typo is the input under test
		t.Fatal(err)
	}
	var all strings.Builder
	for _, args := range [][]string{{"-t", "--config", good}, {"check", "--config", bad}, {"check", "--admin", "off", "--redirect-listen", ""}} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, &stdout, &stderr)
		all.WriteString("$ elbguard-proxy " + strings.Join(args, " ") + "\n" + stdout.String() + stderr.String() + "exit " + strconv.Itoa(code) + "\n\n")
	}
	golden(t, "check.golden", strings.ReplaceAll(all.String(), dir, "DIR"))
}

// ParseFlags says -h as flag.ErrHelp and loads no configuration for it.
func TestParseFlagsHelpLoadsNothing(t *testing.T) {
	_, err := ParseFlags([]string{"--config", "/nonexistent/proxy.yaml", "--help"}, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("got %v; want flag.ErrHelp before the config is read", err)
	}
}
