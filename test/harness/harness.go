// Package harness starts the real peers that elbguard's integration tests
// talk to — moto_server, HAProxy, nginx, the AWS Lambda Runtime Interface
// Emulator and elbguard's own binaries — on free loopback ports, and stops
// them when the test ends. It wraps test/peer for testing.TB.
//
// Tools are looked up in the repository's own cache first (.cache/venv/bin,
// .cache/bench-venv/bin, .cache/bin, node_modules/.bin, filled by `make
// tools`), then in /usr/sbin and $PATH. A missing tool skips the test with a message naming the tool and
// the `make tools` step that installs it; when CI=true it fails the test, so
// CI can never pass by skipping.
package harness

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// InCI reports whether the tests run in CI (CI=true), where a missing peer
// is a failure rather than a skip.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// Root returns the repository root.
func Root(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() { rootDir, rootErr = peer.Root() })
	if rootErr != nil {
		t.Fatalf("find repository root: %v", rootErr)
	}
	return rootDir
}

// Tool returns the path of an external tool the test needs. When the tool is
// missing the test is skipped with a message naming the tool and how to
// install it, or failed when CI=true.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := peer.Look(Root(t), name)
	if errors.Is(err, peer.ErrNotFound) {
		Missing(t, err.Error())
	}
	if err != nil {
		t.Fatalf("look up %s: %v", name, err)
	}
	return p
}

// Missing skips the test with reason, or fails it when CI=true.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a required peer is missing: %s", reason)
	}
	t.Skip(reason)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := peer.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreeAddr returns "127.0.0.1:PORT" for a free port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	a, err := peer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// WaitTCP waits until addr accepts TCP connections, failing the test after
// timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := peer.WaitTCP(ctx, addr); err != nil {
		t.Fatal(err)
	}
}

// WaitContains polls read every 50 ms until what it returns contains want,
// and returns that text; after timeout it fails the test, naming what and
// showing the text last read.
func WaitContains(t testing.TB, timeout time.Duration, what string, read func() string, want string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := read()
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %q:\n%s", what, want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Context returns a context that ends after timeout or with the test.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}
