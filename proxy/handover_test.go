package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSameAddress(t *testing.T) {
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 80}
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 80}
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9901}
	tests := []struct {
		listen string
		addr   *net.TCPAddr
		want   bool
	}{
		{":80", any6, true},
		{":80", any4, true},
		{"0.0.0.0:80", any6, true},
		{"[::]:80", any4, true},
		{":http", any6, true},
		{":81", any6, false},
		{"127.0.0.1:9901", lo, true},
		{"127.0.0.2:9901", lo, false},
		{":9901", lo, false},
		{"127.0.0.1:80", any4, false},
		{"bad", any4, false},
	}
	for _, tt := range tests {
		if got := sameAddress(tt.listen, tt.addr); got != tt.want {
			t.Errorf("sameAddress(%q, %s) = %v; want %v", tt.listen, tt.addr, got, tt.want)
		}
	}
}

// A reload that re-binds a listener gets the same socket back: the
// connections queued on it are accepted by the new listener, none refused.
func TestSocketsRebindKeepsQueue(t *testing.T) {
	sk := &Sockets{files: make(map[string]*os.File)}
	ctx := context.Background()
	ln, _, err := sk.listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// Registered under the configured address, which here names port 0:
	// look it up by the bound one for the rest of the test.
	sk.files[addr] = sk.files["127.0.0.1:0"]
	delete(sk.files, "127.0.0.1:0")
	c, err := net.DialTimeout("tcp", addr, time.Second) // queued, not accepted
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = ln.Close() // the old listener goes away
	ln2, _, err := sk.listen(ctx, addr)
	if err != nil {
		t.Fatalf("re-listen %s: %v", addr, err)
	}
	defer ln2.Close()
	_ = ln2.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	sc, err := ln2.Accept()
	if err != nil {
		t.Fatalf("accept the queued connection on the re-bound listener: %v", err)
	}
	_ = sc.Close()
	_ = ln2.Close()
	sk.release(addr)
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("after release the port is still held: %v", err)
	} else {
		_ = l.Close()
	}
}

func TestCheckResult(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantCode int
		want     string
	}{
		{"valid", "listeners:\n  - {listen: \":80\", mode: redirect}\n", 0, "syntax is ok\nelbguard-proxy: listeners :80 redirect (proxy_protocol required); admin 127.0.0.1:9901\nelbguard-proxy: configuration file "},
		{"bad mode", "listeners:\n  - {listen: \":80\", mode: htp}\n", 1, `listeners[0].mode "htp": allowed values are redirect, http, tcp`},
		{"unknown field", "listeners:\n  - listen: \":80\"\n    mdoe: http\n", 1, `proxy.yaml:3: unknown key "mdoe" in listeners[0]; did you mean "mode"?`},
		{"bad duration", "shutdown_timeout: -1s\nlisteners:\n  - {listen: \":80\", mode: redirect}\n", 1, "shutdown_timeout -1s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := t.TempDir() + "/proxy.yaml"
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"-t", "--config", path}, {"check", "--config", path}} {
				opts, err := ParseFlags(args, io.Discard)
				if !opts.Check {
					t.Fatalf("%v: Check not set", args)
				}
				var out bytes.Buffer
				if code := CheckResult(&out, opts, err); code != tt.wantCode || !strings.Contains(out.String(), tt.want) {
					t.Errorf("%v: exit %d, %q; want exit %d and %q", args, code, out.String(), tt.wantCode, tt.want)
				}
			}
		})
	}
}

// reload waits for the running process's word on the hand-over and turns
// it into its exit code.
func TestReloadCommandReportsOutcome(t *testing.T) {
	tests := []struct {
		name     string
		herr     error
		wantCode int
		want     string
	}{
		{"handed over", nil, 0, "handed over to pid 4242"},
		{"failed", ErrHandover, 1, "keeps serving: proxy: hand-over to a new process failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RUNTIME_DIRECTORY", t.TempDir())
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGUSR2)
			defer signal.Stop(sigs)
			go func() {
				<-sigs // the running process (here, this one) got SIGUSR2
				writeHandoverStatus(4242, tt.herr, slog.New(slog.DiscardHandler))
			}()
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := ReloadCommand(ctx, &out, Options{ReloadPID: os.Getpid()}, nil)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, %q; want exit %d and %q", code, out.String(), tt.wantCode, tt.want)
			}
		})
	}
}
