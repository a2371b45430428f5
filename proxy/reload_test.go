package proxy

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// reload without --pid finds the running proxy as nginx -s reload does:
// the pid the proxy wrote in its runtime directory.
func TestReloadFindsPIDFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte("listeners: [{listen: ':80', mode: redirect}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNTIME_DIRECTORY", dir)
	if _, err := ParseFlags([]string{"reload", "--config", cfg}, io.Discard); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--pid") {
		t.Errorf("no pid file: %v; want a usage error saying --pid", err)
	}
	writePIDFile(slog.New(slog.DiscardHandler))
	opts, err := ParseFlags([]string{"reload", "--config", cfg}, io.Discard)
	if err != nil || opts.ReloadPID != os.Getpid() || opts.Command != CmdReload {
		t.Errorf("reload: %v, pid %d, command %q; want pid %d from the pid file", err, opts.ReloadPID, opts.Command, os.Getpid())
	}
	if opts, err := ParseFlags([]string{"reload", "--config", cfg, "--pid", "42"}, io.Discard); err != nil || opts.ReloadPID != 42 {
		t.Errorf("--pid 42: %v, %d; want 42", err, opts.ReloadPID)
	}
	// A process that handed over leaves its successor's pid.
	pidFile := filepath.Join(dir, pidFileName)
	if err := os.WriteFile(pidFile, []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	removePIDFile()
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != "4242\n" { //nolint:gosec // test file
		t.Errorf("successor's pid file: %q %v; want kept", b, err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	removePIDFile()
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("own pid file after exit: %v; want removed", err)
	}
}
