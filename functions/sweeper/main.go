// Command sweeper is the sweeper Lambda (provided.al2023 bootstrap): on a
// schedule it reconciles every load balancer in the region and emits EMF metrics.
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
	h, err := fleet.SweeperFromEnv(context.Background(), os.Getenv, log, os.Stdout)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
