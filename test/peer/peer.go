// Package peer finds and runs the external programs that elbguard's tests,
// demo and benchmarks talk to — moto_server, HAProxy, nginx, the Lambda
// runtime emulator and elbguard's own binaries — on loopback, and stops them.
//
// It knows nothing of testing; test/harness wraps it for tests, and the demo
// and benchmark programs use it directly.
package peer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ErrNotFound is returned by Look when a tool is not installed.
var ErrNotFound = errors.New("peer: tool not found")

// installStep names the step that provides each known tool.
var installStep = map[string]string{
	"moto_server":    "make tools (Python venv from requirements.txt)",
	"cfn-lint":       "make tools (Python venv from requirements.txt)",
	"custodian":      "make tools (Python venv .cache/bench-venv from requirements-bench.txt)",
	"cdk":            "make tools (npm ci: aws-cdk from package-lock.json)",
	"node":           "make tools (apt: nodejs)",
	"aws-lambda-rie": "make tools (go install aws-lambda-rie)",
	"haproxy":        "make tools (apt: haproxy)",
	"nginx":          "make tools (apt: nginx-light libnginx-mod-stream)",
	"wrk":            "make tools (apt: wrk)",
	"curl":           "make tools (apt: curl)",
	"chromium":       "make tools (apt: chromium)",
}

// InstallStep says how to install the named tool.
func InstallStep(name string) string {
	if s, ok := installStep[name]; ok {
		return s
	}
	return "make tools"
}

// Root returns the repository root: the nearest directory holding go.mod
// above this source file or above the working directory.
func Root() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("peer: no go.mod above %v", starts)
}

// Look returns the path of the named tool, searching the repository's own
// tool cache (.cache/venv/bin, .cache/bench-venv/bin, .cache/bin,
// node_modules/.bin) first, then /usr/sbin, /usr/local/sbin and $PATH. The
// error wraps ErrNotFound and names the install step.
func Look(root, name string) (string, error) {
	dirs := []string{
		filepath.Join(root, ".cache", "venv", "bin"),
		filepath.Join(root, ".cache", "bench-venv", "bin"),
		filepath.Join(root, ".cache", "bin"),
		filepath.Join(root, "node_modules", ".bin"),
		"/usr/sbin",
		"/usr/local/sbin",
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s; install it with `%s`", ErrNotFound, name, InstallStep(name))
}
