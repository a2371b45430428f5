// Package demo runs elbguard's end-to-end demonstration on one machine with
// no AWS account: a local AWS emulator (moto_server) holding load balancers
// like the seed's, the enforcer Lambda under the AWS Lambda Runtime
// Interface Emulator receiving CloudTrail events as EventBridge delivers
// them, and elbguard-proxy behind HAProxy (in the load balancer's place)
// carrying a WebSocket with the real client IP.
//
// Each step is announced as it runs; everything started is stopped when Run
// returns, also when its context is cancelled (Ctrl-C) or a step fails.
// `make demo` runs it through scripts/demo.sh.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// Parts of the demo.
const (
	PartAll      = "all"      // the enforcer, then the proxy
	PartEnforcer = "enforcer" // moto, load balancers, the enforcer under the RIE
	PartProxy    = "proxy"    // the app, elbguard-proxy, HAProxy, a WebSocket
)

// ErrFailed is wrapped by Run's error when one or more steps failed.
var ErrFailed = errors.New("demo: steps failed")

// ErrConfig is wrapped by Config validation errors.
var ErrConfig = errors.New("demo: invalid config")

// Config says which part of the demo to run, where the programs it drives
// are, and where it writes.
type Config struct {
	// Part is PartAll (default when empty), PartEnforcer or PartProxy.
	Part string
	// Root is the repository root, where tools are looked up
	// (.cache/venv/bin, .cache/bin, then $PATH). Required.
	Root string
	// Elbguard is the elbguard CLI binary. Required for the enforcer part.
	Elbguard string
	// Bootstrap is the enforcer Lambda's bootstrap, built for the host with
	// -tags lambda.norpc. Required for the enforcer part.
	Bootstrap string
	// Proxy is the elbguard-proxy binary. Required for the proxy part.
	Proxy string
	// WorkDir receives configuration files, certificates, the access log
	// and every process's log. Required; created if missing.
	WorkDir string
	// MotoURL, when set, is a running moto_server to use instead of
	// starting one (tests read its state back afterwards). It should be
	// empty of load balancers.
	MotoURL string
	// NoHAProxy uses the Go stand-in load balancer even when HAProxy is
	// installed.
	NoHAProxy bool
	// Out receives the story. Nil: os.Stdout.
	Out io.Writer
	// Colour turns on ANSI colours.
	Colour bool
	// Log receives diagnostics of the demo's own servers. Nil: discard.
	Log *slog.Logger

	binaries map[string]*string // set by validate: the binaries the part needs
}

// checkBinaries fails when a binary the part needs is not an executable
// file.
func (c *Config) checkBinaries() error {
	for _, k := range slices.Sorted(maps.Keys(c.binaries)) {
		p := *c.binaries[k]
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: %s %q is not an executable file (scripts/demo.sh builds it)", ErrConfig, k, p)
		}
	}
	return nil
}

func (c *Config) validate() error {
	if c.Part == "" {
		c.Part = PartAll
	}
	if !slices.Contains([]string{PartAll, PartEnforcer, PartProxy}, c.Part) {
		return fmt.Errorf("%w: Part %q; want all, enforcer or proxy", ErrConfig, c.Part)
	}
	need := map[string]*string{"Root": &c.Root, "WorkDir": &c.WorkDir}
	bins := map[string]*string{}
	if c.Part != PartProxy {
		bins["Elbguard"] = &c.Elbguard
		bins["Bootstrap"] = &c.Bootstrap
	}
	if c.Part != PartEnforcer {
		bins["Proxy"] = &c.Proxy
	}
	maps.Copy(need, bins)
	for _, k := range slices.Sorted(maps.Keys(need)) {
		p := need[k]
		if *p == "" {
			return fmt.Errorf("%w: %s is required for part %q", ErrConfig, k, c.Part)
		}
		// Processes run in WorkDir: every path must be absolute.
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrConfig, k, *p, err)
		}
		*p = abs
	}
	c.binaries = bins
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// run is one execution of the demo: its UI, what it started and what the
// steps hand to each other.
type run struct {
	cfg Config
	ui  *ui

	mu       sync.Mutex
	cleanups []func()
	procs    []*peer.Process

	// Filled by the steps.
	moto  motoEnv
	cert  *certificate
	seed  *seed
	proxy *proxySide
	// compliance: Security Hub and the notification inbox (demo/compliance.go).
	compliance *complianceSide
}

// Run runs the demo part cfg.Part and stops everything it started before
// returning. It returns an error wrapping ErrFailed when a step failed, or
// ErrConfig when cfg is invalid.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := cfg.checkBinaries(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("make work dir %s: %w", cfg.WorkDir, err)
	}
	r := &run{cfg: cfg, ui: newUI(cfg.Out, cfg.Colour)}
	began := time.Now()
	defer r.stopAll()

	if cfg.Part != PartProxy {
		r.enforcerPart(ctx)
	}
	if cfg.Part != PartEnforcer && ctx.Err() == nil {
		r.proxyPart(ctx)
	}
	r.stopAll()
	failed := r.ui.summary(time.Since(began))
	fmt.Fprintf(cfg.Out, "Logs and configuration of this run: %s\n", cfg.WorkDir)
	if ctx.Err() != nil {
		return fmt.Errorf("demo interrupted: %w", ctx.Err())
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d", ErrFailed, failed)
	}
	return nil
}

// step announces and runs one step; it reports whether the step succeeded.
// A failing step prints the tail of the logs of the processes started so far.
func (r *run) step(ctx context.Context, title string, fn func(ctx context.Context) error) bool {
	if ctx.Err() != nil {
		return false
	}
	n := r.ui.start(title)
	began := time.Now()
	err := fn(ctx)
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", errInterrupted, ctx.Err())
	}
	r.ui.done(n, title, time.Since(began), err)
	if err != nil && ctx.Err() == nil {
		r.showLogs()
	}
	return err == nil
}

// steps runs fns in order and stops at the first failure.
func (r *run) steps(ctx context.Context, list []namedStep) {
	for _, s := range list {
		if !r.step(ctx, s.title, s.fn) {
			return
		}
	}
}

type namedStep struct {
	title string
	fn    func(ctx context.Context) error
}

// started records a process so that it is stopped at the end and its log
// shown on failure.
func (r *run) started(p *peer.Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = append(r.procs, p)
	r.cleanups = append(r.cleanups, p.Stop)
}

// atExit registers fn to run when the demo ends, in reverse order.
func (r *run) atExit(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, fn)
}

// stopAll runs the cleanups, last registered first. Safe to call twice.
func (r *run) stopAll() {
	r.mu.Lock()
	fns := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// showLogs points at every process's log, and prints the last lines of
// those that have exited and of the one started last.
func (r *run) showLogs() {
	r.mu.Lock()
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	for i, p := range procs {
		exited := p.Exited()
		note := ""
		if exited {
			note = ", exited"
		}
		r.ui.say("log of %s%s: %s", p.Name, note, p.LogPath)
		if exited || i == len(procs)-1 {
			r.ui.block(tail(p.Logs(), 12), true)
		}
	}
}

// path returns a file name inside the work directory.
func (r *run) path(name string) string { return filepath.Join(r.cfg.WorkDir, name) }

// processOptions are the options of every process the demo starts.
func (r *run) processOptions(env ...string) peer.Options {
	return peer.Options{Env: env, Dir: r.cfg.WorkDir, LogDir: r.cfg.WorkDir}
}
