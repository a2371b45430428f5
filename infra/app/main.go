// Command app is the elbguard CDK app (cdk.json runs it): the ElbGuard stack,
// and the ElbGuardEdgeDemo stack with -c demo=true. The context keys are the
// Ctx* constants of package infra.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/infra"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "elbguard cdk app:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	if all, ok := app.Node().GetAllContext(nil).(map[string]any); ok {
		if err := infra.CheckContextKeys(all); err != nil {
			return err
		}
	}
	cfg, err := infra.ConfigFromContext(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return err
	}
	if err := infra.Build(app, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
