package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// Process is a command started by Start; see peer.Process.
type Process = peer.Process

// Result is what a command run by Run printed and how it ended.
type Result = peer.Result

// Option changes how Start and Run run a command.
type Option func(*peer.Options)

// WithEnv adds environment variables ("KEY=value") to the command's
// environment, which otherwise is the test process's own.
func WithEnv(env ...string) Option {
	return func(o *peer.Options) { o.Env = append(o.Env, env...) }
}

// WithDir sets the command's working directory.
func WithDir(dir string) Option {
	return func(o *peer.Options) { o.Dir = dir }
}

// WithStdin connects the command's standard input to data.
func WithStdin(data []byte) Option {
	return func(o *peer.Options) { o.Stdin = bytes.NewReader(data) }
}

func options(t testing.TB, opts []Option) peer.Options {
	o := peer.Options{LogDir: t.TempDir()}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Start runs bin with args in the background. The process is stopped
// (SIGTERM, then SIGKILL after 5 s) when the test ends, and its output is
// logged if the test failed.
func Start(t testing.TB, bin string, args []string, opts ...Option) *Process {
	t.Helper()
	p, err := peer.Start(bin, args, options(t, opts))
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p, strings.Join(append([]string{filepath.Base(bin)}, args...), " "))
	return p
}

func stopWithTest(t testing.TB, p *Process, what string) {
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", what, p.Logs())
		}
	})
}

// Run runs bin to completion with a deadline. A failure to start or a
// timeout fails the test; a non-zero exit does not (check Result.Code).
func Run(t testing.TB, timeout time.Duration, bin string, args []string, opts ...Option) Result {
	t.Helper()
	res, err := peer.Run(Context(t, timeout), bin, args, options(t, opts))
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, res.Stdout, res.Stderr)
	}
	return res
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
	buildDir   string
)

// Build compiles a main package of this module (e.g. "./cmd/elbguard") for
// the host, once per test binary, and returns the binary's path.
func Build(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	root := Root(t)
	key := pkg + "|" + strings.Join(tags, ",")
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[key]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "elbguard-test-bin-")
		if err != nil {
			t.Fatalf("make build dir: %v", err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, fmt.Sprintf("%s-%d", filepath.Base(pkg), len(buildCache)))
	if err := peer.Build(Context(t, 5*time.Minute), root, pkg, out, peer.BuildOptions{Tags: tags}); err != nil {
		t.Fatal(err)
	}
	buildCache[key] = out
	return out
}
