//go:build integration

package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/harness"
)

// hoManager plays systemd for TestProxyHandover: like elbguard-proxy.socket
// it binds the listening sockets once and holds them for the whole test,
// passing them to every process it starts in LISTEN_FDS (with LISTEN_PID the
// process's own pid, as systemd does); like Type=notify with
// NotifyAccess=all it reads READY=1 and MAINPID= from NOTIFY_SOCKET; like
// `systemctl restart` it sends SIGTERM to every process of the service,
// waits for all to exit, then starts a new one; like ExecReload it runs
// `elbguard-proxy reload --pid MAINPID` (check, SIGUSR2, wait for the
// outcome), with RUNTIME_DIRECTORY as RuntimeDirectory= sets it.
type hoManager struct {
	t       *testing.T
	bin     string // the installed binary (replaced by upgrades)
	config  string
	logPath string
	held    []*os.File // the "socket unit"
	notify  *net.UnixConn
	runtime string // RUNTIME_DIRECTORY

	mu      sync.Mutex
	main    int
	procs   map[int]bool // pids of the service's processes still running
	readyC  chan int     // MAINPID of each READY=1
	exitErr []string

	lastReload string // output of the last reload command
}

func newHOManager(t *testing.T, bin, config, logPath string, held []*os.File) *hoManager {
	t.Helper()
	// Processes handed over to outlive their parent: make this test process
	// their reaper (as systemd is), so their exits can be awaited.
	if err := prctlSubreaper(); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	sock := filepath.Join(t.TempDir(), "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	m := &hoManager{t: t, bin: bin, config: config, logPath: logPath, held: held, notify: nc,
		runtime: t.TempDir(), procs: map[int]bool{}, readyC: make(chan int, 16)}
	go m.readNotify()
	t.Cleanup(func() {
		m.mu.Lock()
		pids := make([]int, 0, len(m.procs))
		for p := range m.procs {
			pids = append(pids, p)
		}
		m.mu.Unlock()
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
			m.reap(p, 5*time.Second)
		}
		_ = nc.Close()
	})
	return m
}

func (m *hoManager) readNotify() {
	buf := make([]byte, 4096)
	for {
		n, err := m.notify.Read(buf)
		if err != nil {
			return
		}
		var pid int
		ready := false
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			switch {
			case line == "READY=1":
				ready = true
			case strings.HasPrefix(line, "MAINPID="):
				pid, _ = strconv.Atoi(strings.TrimPrefix(line, "MAINPID="))
			}
		}
		if pid > 0 {
			m.mu.Lock()
			m.main = pid
			m.procs[pid] = true
			m.mu.Unlock()
		}
		if ready {
			m.readyC <- pid
		}
	}
}

// start runs the binary as systemd would after the socket unit: the held
// sockets at fds 3, 4, ... and LISTEN_PID set by the process itself (a
// shell that execs the binary keeps its pid).
func (m *hoManager) start() int {
	m.t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, m.bin, "--config", m.config)
	cmd.ExtraFiles = m.held
	cmd.Env = append(os.Environ(), "LISTEN_FDS="+strconv.Itoa(len(m.held)),
		"NOTIFY_SOCKET="+m.notify.LocalAddr().String(), "RUNTIME_DIRECTORY="+m.runtime, "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start %s: %v", m.bin, err)
	}
	pid := cmd.Process.Pid
	m.mu.Lock()
	m.procs[pid] = true
	m.mu.Unlock()
	if got := m.waitReady(10 * time.Second); got != pid {
		m.t.Fatalf("started pid %d; READY came with MAINPID %d\n%s", pid, got, m.tailLog())
	}
	return pid
}

func (m *hoManager) waitReady(timeout time.Duration) int {
	select {
	case pid := <-m.readyC:
		return pid
	case <-time.After(timeout):
		return 0
	}
}

// mainPID is the service's main process as systemd knows it.
func (m *hoManager) mainPID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.main
}

// running returns the pids of the service's processes not yet exited.
func (m *hoManager) running() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for p := range m.procs {
		out = append(out, p)
	}
	return out
}

// restart is `systemctl restart` with KillMode=control-group: SIGTERM to
// every process of the service, wait until all have exited (a process
// still draining after a hand-over finishes its drain), start a new one.
func (m *hoManager) restart() (time.Duration, int) {
	m.t.Helper()
	start := time.Now()
	for _, p := range m.running() {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	for _, p := range m.running() {
		if !m.reap(p, 15*time.Second) {
			m.t.Fatalf("pid %d still running 15 s after SIGTERM\n%s", p, m.tailLog())
		}
	}
	stopped := time.Since(start)
	return stopped, m.start()
}

// reload is ExecReload: `elbguard-proxy reload --config FILE --pid
// $MAINPID`; it returns the new main process once it is ready, or the
// reload command's failure and output.
func (m *hoManager) reload() (int, error) {
	m.t.Helper()
	old := m.mainPID()
	cmd := exec.Command(m.bin, "reload", "--config", m.config, "--pid", strconv.Itoa(old))
	cmd.Env = append(os.Environ(), "RUNTIME_DIRECTORY="+m.runtime)
	out, err := cmd.CombinedOutput()
	m.lastReload = string(out)
	if err != nil {
		return 0, fmt.Errorf("ExecReload: %w: %s", err, out)
	}
	pid := m.waitReady(15 * time.Second)
	if pid == 0 || pid == old {
		return 0, fmt.Errorf("no new main process after SIGUSR2 to %d (got %d)", old, pid)
	}
	// The old process drains and exits on its own; reap it when it does.
	go m.reap(old, 30*time.Second)
	return pid, nil
}

// reap waits until pid (a child of this process, directly or adopted as
// its subreaper) has exited, and collects it.
func (m *hoManager) reap(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			if got == pid && ws.Exited() && ws.ExitStatus() != 0 {
				m.mu.Lock()
				m.exitErr = append(m.exitErr, fmt.Sprintf("pid %d exited with %d", pid, ws.ExitStatus()))
				m.mu.Unlock()
			}
			m.mu.Lock()
			delete(m.procs, pid)
			m.mu.Unlock()
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *hoManager) tailLog() string {
	b, _ := os.ReadFile(m.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// logHas reports whether the process log has a line containing every part.
func (m *hoManager) logHas(parts ...string) bool {
	f, err := os.Open(m.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
next:
	for sc.Scan() {
		for _, p := range parts {
			if !strings.Contains(sc.Text(), p) {
				continue next
			}
		}
		return true
	}
	return false
}

// openFDs counts the file descriptors of pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("fds of %d: %v", pid, err)
	}
	return len(ents)
}

// steadyFDs is openFDs once two counts 200ms apart agree (5s at most): a
// process that has just started or taken over closes some descriptors a
// little later (the READY notification's socket, the hand-over's pipes),
// later still when the machine is busy.
func steadyFDs(t *testing.T, pid int) int {
	t.Helper()
	n := openFDs(t, pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		m := openFDs(t, pid)
		if m == n {
			break
		}
		n = m
	}
	return n
}

// holdSocket binds a loopback listening socket and returns its file (the
// socket unit's copy) and address.
func holdSocket(t *testing.T) (*os.File, string) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // f keeps the socket
	t.Cleanup(func() { _ = f.Close() })
	return f, addr
}

// buildVersion builds elbguard-proxy with -X github.com/elbguard/elbguard/internal/buildinfo.Version=version.
func buildVersion(t *testing.T, version, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-X github.com/elbguard/elbguard/internal/buildinfo.Version="+version, "-o", out, "./cmd/elbguard-proxy")
	cmd.Dir = harness.Root(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (version %s): %v\n%s", version, err, b)
	}
}

// install replaces the binary the way a package manager does: write a new
// file beside it, rename it over the old one (running processes keep the
// old inode).
func install(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".dpkg-new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func prctlSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return e
	}
	return nil
}
