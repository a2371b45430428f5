package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options change how Start runs a command. The zero value runs it in the
// current directory with the current environment, logging to a new file in
// os.TempDir.
type Options struct {
	// Env is added to the current process's environment ("KEY=value").
	Env []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// LogDir holds the log file of stdout and stderr; empty means os.TempDir.
	LogDir string
	// Stdin, if set, is the command's standard input.
	Stdin io.Reader
}

// Process is a command started by Start, in a process group of its own.
type Process struct {
	Cmd     *exec.Cmd
	Name    string
	LogPath string

	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start runs bin with args in the background, its stdout and stderr going to
// a log file. Call Stop when done.
func Start(bin string, args []string, o Options) (*Process, error) {
	name := filepath.Base(bin)
	logf, err := os.CreateTemp(o.LogDir, name+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("create log for %s: %w", name, err)
	}
	// Not bound to a context: the process outlives this call and ends with Stop.
	cmd := exec.Command(bin, args...) //nolint:noctx // lifetime managed by Stop
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Dir = o.Dir
	cmd.Stdin = o.Stdin
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Cmd: cmd, Name: name, LogPath: logf.Name(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Logs returns what the process has written so far.
func (p *Process) Logs() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit
// error (nil for exit status 0).
func (p *Process) Wait(timeout time.Duration) error {
	if p.Exited() { // never race an expired timer against a process already gone
		return p.waitErr
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.Name, timeout)
	}
}

// Stop ends the process and its children: SIGTERM to the process group, then
// SIGKILL if it has not exited within 5 seconds. Safe to call twice.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		pgid := -p.Cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
		// Children that outlived a clean exit of the leader.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
	})
}

// Result is what a command run by Run printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin to completion within ctx. A non-zero exit is reported in
// Result.Code, not as an error; failing to start or ctx ending is an error.
func Run(ctx context.Context, bin string, args []string, o Options) (Result, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Dir = o.Dir
	cmd.Stdin = o.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		return res, fmt.Errorf("run %s: %w", bin, err)
	}
	return res, nil
}

// BuildOptions say how Build compiles a package.
type BuildOptions struct {
	// Tags are build tags.
	Tags []string
	// Env is added to the environment of `go build` (e.g. GOOS, GOARCH);
	// CGO_ENABLED=0 is always set.
	Env []string
}

// Build compiles the main package pkg (e.g. "./cmd/elbguard") of the module
// at root into out.
func Build(ctx context.Context, root, pkg, out string, o BuildOptions) error {
	args := []string{"build", "-trimpath", "-o", out}
	if len(o.Tags) > 0 {
		args = append(args, "-tags", strings.Join(o.Tags, ","))
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), o.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}
