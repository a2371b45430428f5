// Command sweepworker is the sweep worker Lambda (provided.al2023
// bootstrap): it runs the account-region units a hub's sweeper puts on the
// sweep queue (SQS event source), resuming units that run out of time.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/elbguard/elbguard/fleet"
)

func main() {
	log, err := fleet.JSONLogger(os.Stdout, os.Getenv)
	if err != nil {
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	h, err := fleet.WorkerFromEnv(context.Background(), os.Getenv, log, os.Stdout)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
