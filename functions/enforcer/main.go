// Command enforcer is the enforcer Lambda (provided.al2023 bootstrap): it
// reconciles the load balancers named by each EventBridge event.
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
	h, err := fleet.EnforcerFromEnv(context.Background(), os.Getenv, log, os.Stdout)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
