// Command elbguard audits and remediates load balancers for proxy protocol
// on TCP/SSL, and handles one EventBridge event as the enforcer Lambda does.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/elbguard/elbguard/cmd/elbguard/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Terminal: term.IsTerminal(int(os.Stdin.Fd()))})
	stop()
	os.Exit(code)
}
