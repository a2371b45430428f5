package peer

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLook(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{".cache/venv/bin", ".cache/bin", "node_modules/.bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, mode os.FileMode) string {
		p := filepath.Join(root, rel)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	venv := write(".cache/venv/bin/moto_server", 0o755)
	write(".cache/bin/moto_server", 0o755) // shadowed by the venv
	write("node_modules/.bin/cdk", 0o644)  // not executable: ignored
	tests := []struct {
		name    string
		tool    string
		want    string
		wantErr error
	}{
		{"venv first", "moto_server", venv, nil},
		{"PATH fallback", "sh", "", nil},
		{"not executable", "cdk", "", ErrNotFound},
		{"missing", "no-such-tool-elbguard", "", ErrNotFound},
	}
	t.Setenv("PATH", "/usr/bin:/bin")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Look(root, tc.tool)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Look(%q) error = %v; want %v", tc.tool, err, tc.wantErr)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("Look(%q) = %q; want %q", tc.tool, got, tc.want)
			}
			if tc.wantErr == nil && got == "" {
				t.Errorf("Look(%q) = \"\"; want a path", tc.tool)
			}
			if tc.wantErr != nil && !strings.Contains(err.Error(), "make ") {
				t.Errorf("error %q does not name the install step", err)
			}
		})
	}
}

func TestStartStopKillsProcessGroup(t *testing.T) {
	// The shell ignores SIGTERM, so Stop must escalate to SIGKILL; its child
	// sleep must die with it.
	p, err := Start("/bin/sh", []string{"-c", `trap "" TERM; echo started; sleep 60 & wait`}, Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop) // on an early failure too
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Logs(), "started") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(p.Logs(), "started") {
		// Without the trap in place SIGTERM alone would end it: not the case under test.
		t.Fatalf("the shell did not start within 5s; log:\n%s", p.Logs())
	}
	begin := time.Now()
	p.Stop()
	if !p.Exited() {
		t.Fatal("process still running after Stop")
	}
	if d := time.Since(begin); d < 4*time.Second {
		t.Errorf("Stop returned after %s; want the 5 s SIGTERM grace first", d)
	}
	p.Stop() // twice is safe
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, "/bin/sh", []string{"-c", "echo out; echo err >&2; exit 3"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "out\n" || res.Stderr != "err\n" || res.Code != 3 {
		t.Errorf("Run = %+v; want stdout \"out\\n\", stderr \"err\\n\", code 3", res)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := Run(short, "/bin/sleep", []string{"5"}, Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past its deadline: error = %v; want context.DeadlineExceeded", err)
	}
}

func TestWaitTCPHonoursContext(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := WaitTCP(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitTCP on a closed port: %v; want context.DeadlineExceeded", err)
	}
}
