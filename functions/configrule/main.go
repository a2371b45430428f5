// Command configrule is the AWS Config custom rule elbguard-proxy-protocol
// (provided.al2023 bootstrap): it evaluates load balancers read-only and
// answers PutEvaluations.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/elbguard/elbguard/compliance/configrule"
	"github.com/elbguard/elbguard/fleet"
)

func main() {
	log, err := fleet.JSONLogger(os.Stdout, os.Getenv)
	if err != nil {
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	rule, err := configrule.FromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(rule.HandleEvent)
}
