// Command elbguard-proxy decodes PROXY protocol headers from a load balancer
// and redirects, reverse-proxies or forwards the traffic with the real client
// address. See package proxy and deploy/elbguard-proxy.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/elbguard/elbguard/proxy"
)

// version is set at build time (make package: -ldflags "-X main.version=$(git describe)").
var version = "dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("elbguard-proxy", version)
		return
	}
	opts, err := proxy.ParseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if opts.Check { // -t, check: validate and exit, like nginx -t
		os.Exit(proxy.CheckResult(os.Stderr, opts, err))
	}
	if opts.ReloadPID > 0 { // reload: check, hand over, wait for the outcome (the unit's ExecReload)
		os.Exit(proxy.ReloadCommand(context.Background(), os.Stderr, opts, err))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "elbguard-proxy:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	log.Info("elbguard-proxy starting", slog.String("version", version), slog.Int("pid", os.Getpid()))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := proxy.Run(context.Background(), opts, log, sigs); err != nil {
		log.Error("elbguard-proxy failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}
