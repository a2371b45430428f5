package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// `systemctl reload` runs `elbguard-proxy reload --config FILE --pid
// $MAINPID` (ExecReload): it checks the config, sends SIGUSR2, and waits for
// the running process to say how the hand-over went, so that the unit
// reports a failed reload, whatever made it fail (a broken config, a port
// the new process cannot bind, a binary that does not start). The running
// process says it in a status file in systemd's RUNTIME_DIRECTORY
// (RuntimeDirectory= in the unit); without one, reload only signals.

// handoverStatusFile is where the outcome of a hand-over is written, or ""
// without a runtime directory.
func handoverStatusFile() string {
	d := runtimeDir()
	if d == "" {
		return ""
	}
	return filepath.Join(d, "handover")
}

// runtimeDir is systemd's RUNTIME_DIRECTORY (RuntimeDirectory= in the
// unit), or "".
func runtimeDir() string {
	d, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":")
	return d
}

// The running proxy writes its pid in its runtime directory, so that
// `elbguard-proxy reload` finds it as nginx -s reload finds nginx.pid. An
// operator's shell has no RUNTIME_DIRECTORY: reload then looks in the
// unit's, defaultRuntimeDir.
const (
	defaultRuntimeDir = "/run/elbguard-proxy"
	pidFileName       = "elbguard-proxy.pid"
)

// reloadRuntimeDir is where reload looks for the pid and the outcome.
func reloadRuntimeDir() string {
	if d := runtimeDir(); d != "" {
		return d
	}
	if st, err := os.Stat(defaultRuntimeDir); err == nil && st.IsDir() {
		return defaultRuntimeDir
	}
	return ""
}

// writePIDFile records this process as the one serving (after a hand-over,
// the new process overwrites its parent's), when there is a runtime
// directory.
func writePIDFile(log *slog.Logger) {
	d := runtimeDir()
	if d == "" {
		return
	}
	path := filepath.Join(d, pidFileName)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644) //nolint:gosec // a pid, readable as nginx.pid is
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		log.Warn("write pid file", slog.String("path", path), slog.String("error", err.Error()))
	}
}

// removePIDFile removes the pid file if it still names this process (a
// process that handed over leaves its successor's).
func removePIDFile() {
	d := runtimeDir()
	if d == "" {
		return
	}
	path := filepath.Join(d, pidFileName)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) { //nolint:gosec // our runtime directory
		_ = os.Remove(path)
	}
}

// readPIDFile is the running proxy's pid, for reload without --pid.
func readPIDFile() (int, error) {
	d := reloadRuntimeDir()
	if d == "" {
		return 0, fmt.Errorf("no runtime directory (%s, or RUNTIME_DIRECTORY) holds a pid file: is elbguard-proxy running under systemd? Pass --pid", defaultRuntimeDir)
	}
	path := filepath.Join(d, pidFileName)
	b, err := os.ReadFile(path) //nolint:gosec // the runtime directory of the service
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w (is elbguard-proxy running?)", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// writeHandoverStatus records "<this pid> ok <new pid>" or "<this pid>
// failed <error>".
func writeHandoverStatus(newPID int, herr error, log *slog.Logger) {
	path := handoverStatusFile()
	if path == "" {
		return
	}
	line := fmt.Sprintf("%d ok %d\n", os.Getpid(), newPID)
	if herr != nil {
		line = fmt.Sprintf("%d failed %s\n", os.Getpid(), strings.ReplaceAll(herr.Error(), "\n", " "))
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(line), 0o600) //nolint:gosec // systemd's RUNTIME_DIRECTORY for this service
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		log.Warn("write hand-over status", slog.String("path", path), slog.String("error", err.Error()))
	}
}

// reloadWait bounds how long reload waits for the outcome: the hand-over's
// own bound and a margin.
const reloadWait = handoverTimeout + 10*time.Second

// ReloadCommand is `elbguard-proxy reload` (opts and err as ParseFlags
// returned them): check the config, SIGUSR2 to opts.ReloadPID, wait for the
// outcome, report it on w. It returns the exit code: 0 when the new process
// took over (or, without a runtime directory, once signalled), 1 otherwise.
func ReloadCommand(ctx context.Context, w io.Writer, opts Options, err error) int {
	if err != nil {
		return CheckResult(w, opts, err)
	}
	status := ""
	if d := reloadRuntimeDir(); d != "" {
		status = filepath.Join(d, "handover")
	}
	if status != "" {
		if err := os.Remove(status); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(w, "elbguard-proxy: reload: %v\n", err)
			return 1
		}
	}
	if err := syscall.Kill(opts.ReloadPID, syscall.SIGUSR2); err != nil {
		fmt.Fprintf(w, "elbguard-proxy: reload: signal pid %d: %v\n", opts.ReloadPID, err)
		return 1
	}
	if status == "" {
		fmt.Fprintf(w, "elbguard-proxy: reload: pid %d signalled (no RUNTIME_DIRECTORY: not waiting for the outcome)\n", opts.ReloadPID)
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	prefix := strconv.Itoa(opts.ReloadPID) + " "
	for {
		if b, err := os.ReadFile(status); err == nil && strings.HasPrefix(string(b), prefix) { //nolint:gosec // systemd's RUNTIME_DIRECTORY for this service
			line := strings.TrimSpace(strings.TrimPrefix(string(b), prefix))
			if next, ok := strings.CutPrefix(line, "ok "); ok {
				fmt.Fprintf(w, "elbguard-proxy: reload: pid %d handed over to pid %s and drains\n", opts.ReloadPID, next)
				return 0
			}
			fmt.Fprintf(w, "elbguard-proxy: reload: pid %d keeps serving: %s\n", opts.ReloadPID, strings.TrimPrefix(line, "failed "))
			return 1
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "elbguard-proxy: reload: no outcome from pid %d within %v\n", opts.ReloadPID, reloadWait)
			return 1
		case <-tick.C:
		}
	}
}
