package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the tests run this binary's main as elbguard-proxy.
func TestMain(m *testing.M) {
	if os.Getenv("ELBGUARD_PROXY_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runProxy runs main with args as a process of its own; a process still
// running after wait is killed, and reported as such.
func runProxy(t *testing.T, wait time.Duration, args ...string) (stdout, stderr string, code int, killed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...) //nolint:gosec // this test binary
	cmd.Env = append(os.Environ(), "ELBGUARD_PROXY_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return o.String(), e.String(), -1, true
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode(), false
	case err != nil:
		t.Fatalf("run: %v", err)
	}
	return o.String(), e.String(), 0, false
}

// The help, however asked for, goes to stdout, exits 0 and never opens a
// listener: with a config whose listener port is taken (a proxy that tried
// would fail, exit 1, "address already in use") and one whose ports are free
// (a proxy that served would still be running when the wait ends).
func TestHelpOpensNoListener(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	_ = free.Close()
	dir := t.TempDir()
	configs := map[string]string{"taken": taken.Addr().String(), "free": freeAddr}
	for name, addr := range configs {
		cfg := fmt.Sprintf("admin: off\naccess_log: {path: \"\"}\nlisteners:\n  - {listen: %q, mode: redirect}\n", addr)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name := range configs {
		cfg := filepath.Join(dir, name+".yaml")
		for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"run", "--help"}, {"--config", cfg, "-h"}, {"--config", cfg, "--help"}, {"run", "--config", cfg, "-h"}, {"help", "run"}} {
			t.Run(name+" "+strings.Join(args, " "), func(t *testing.T) {
				stdout, stderr, code, killed := runProxy(t, 10*time.Second, args...)
				if killed {
					t.Fatalf("still running after 10s: it serves instead of printing help; stderr %q", stderr)
				}
				if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: elbguard-proxy") {
					t.Errorf("exit %d, stderr %q, stdout %.40q; want 0, nothing, the usage", code, stderr, stdout)
				}
			})
		}
	}
	// The same config does serve without -h: the free one keeps running
	// (the test's proof that "still running" means serving).
	_, stderr, _, killed := runProxy(t, 2*time.Second, "--config", filepath.Join(dir, "free.yaml"))
	if !killed {
		t.Errorf("run with the free config exited; want it serving: %s", stderr)
	}
	_, stderr, code, _ := runProxy(t, 10*time.Second, "--config", filepath.Join(dir, "taken.yaml"))
	if code != 1 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("run with the taken port: exit %d, %q; want 1, address already in use", code, stderr)
	}
}

func TestVersionCommand(t *testing.T) {
	stdout, _, code, _ := runProxy(t, 10*time.Second, "version")
	if code != 0 || !strings.HasPrefix(stdout, "elbguard-proxy dev (commit ") {
		t.Errorf("exit %d, %q; want 0, elbguard-proxy dev (commit ...)", code, stdout)
	}
}

// A proxy that systemd starts (LISTEN_FDS) with a socket that is not the
// config's listener refuses to start and names both, instead of serving
// with a port that queues connections nothing accepts.
func TestRefusesMismatchedSystemdSockets(t *testing.T) {
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := sock.(*net.TCPListener).File()
	_ = sock.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := other.Addr().String()
	_ = other.Close()
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("admin: off\naccess_log: {path: \"\"}\nlisteners:\n  - {listen: %q, mode: redirect}\n", listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// LISTEN_PID must be the proxy's own pid: the shell sets its own, then execs.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, os.Args[0], "--config", cfg) //nolint:gosec // this test binary
	cmd.Env = append(os.Environ(), "ELBGUARD_PROXY_MAIN=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("got %v (ctx %v); want exit 1\n%s", err, ctx.Err(), stderr.String())
	}
	for _, want := range []string{"no socket for " + listen, "no listener for " + sock.Addr().String(), "--print-socket-unit"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
