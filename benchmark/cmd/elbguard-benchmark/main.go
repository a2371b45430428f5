// Command elbguard-benchmark runs `make bench`: `elbguard-benchmark run [flags]`
// measures the proxies and the enforcement engine and prints the tables of
// BENCHMARKS.md; `elbguard-benchmark backend --listen ADDR` is the shared
// backend it starts for the proxies. See scripts/benchmark.sh.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/elbguard/elbguard/benchmark"
	"github.com/elbguard/elbguard/benchmark/backend"
)

func main() { os.Exit(run()) }

// run returns the exit status: 0 all measured, 1 failed, 2 usage, 3 some
// scenario produced no number (the tables say which and why).
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		if err := backend.Command(ctx, os.Args[2:], log); err != nil {
			log.Error("backend failed", "err", err)
			return 1
		}
		return 0
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: elbguard-benchmark run [flags] | elbguard-benchmark backend --listen ADDR")
		return 2
	}
	cfg, err := benchmark.ParseFlags(os.Args[2:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "elbguard-benchmark:", err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "elbguard-benchmark: find own binary for the backend:", err)
		return 1
	}
	cfg.Log, cfg.Proxy.BackendCmd = log, []string{self, "backend"}
	res, err := benchmark.Run(ctx, cfg)
	if res != nil {
		fmt.Print(benchmark.Markdown(res))
	}
	switch {
	case errors.Is(err, benchmark.ErrMissing):
		log.Error("some scenarios produced no number", "err", err)
		return 3
	case err != nil:
		log.Error("bench failed", "err", err)
		return 1
	}
	return 0
}
