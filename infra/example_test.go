package infra_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/infra"
)

// ExampleNewEnforcer adds the enforcer to a stack of your own CDK app. (No
// Output: running it needs node and the built Lambda assets; the integration
// tests cover that.)
func ExampleNewEnforcer() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Platform"), nil)
	enforcer, err := infra.NewEnforcer(stack, jsii.String("ElbGuard"), &infra.EnforcerProps{
		DefaultMode: "audit",
		AlarmEmail:  "platform@example.com",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Route elbguard's alarms wherever else you need them.
	fmt.Println(*enforcer.AlarmTopic.TopicArn() != "")
	app.Synth(nil)
}
