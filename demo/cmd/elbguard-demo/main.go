// Command elbguard-demo runs elbguard's end-to-end demonstration on one
// machine; `make demo` builds what it needs and runs it (scripts/demo.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/elbguard/elbguard/demo"
)

func main() {
	cfg, err := demo.ParseFlags(os.Args[1:], os.Stderr, os.Getenv, demo.IsTerminal(os.Stdout))
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "elbguard-demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = demo.Run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "elbguard-demo:", err)
		os.Exit(1)
	}
}
