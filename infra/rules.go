package infra

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/events"
)

// EnforcerEventNames are the CloudTrail eventName values the enforcer's rule
// matches: exactly those the events package turns into a reconcile.
func EnforcerEventNames() []string {
	names := slices.Clone(events.HandledEventNames)
	slices.Sort(names)
	return names
}

// Event delivery retries from EventBridge to Lambda. EventBridge only fails
// to deliver when Lambda refuses the asynchronous invoke itself; what fails
// inside the function goes to the function's on-failure destination.
const (
	targetRetryAttempts = 8
	targetMaxEventHours = 2
)

// addRules creates the three EventBridge rules: ELB API calls recorded by
// CloudTrail and tag changes go to the enforcer, the schedule to the sweeper.
// On a hub the first two listen on the hub's bus; schedules exist only on
// the default bus.
func addRules(e *Enforcer) {
	enforcerTarget := lambdaTarget(e, e.EnforcerFunction)
	awsevents.NewRule(e.Construct, jsii.String("ApiCallRule"), &awsevents.RuleProps{
		Description:  jsii.String("elbguard: ELB API calls (recorded by CloudTrail) that can make a load balancer non-compliant"),
		EventBus:     e.eventBus(),
		EventPattern: apiCallPattern(),
		Targets:      &[]awsevents.IRuleTarget{enforcerTarget},
	})
	awsevents.NewRule(e.Construct, jsii.String("TagChangeRule"), &awsevents.RuleProps{
		Description:  jsii.String("elbguard: tag changes on Elastic Load Balancing resources"),
		EventBus:     e.eventBus(),
		EventPattern: tagChangePattern(),
		Targets:      &[]awsevents.IRuleTarget{enforcerTarget},
	})
	awsevents.NewRule(e.Construct, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("elbguard: periodic sweep of every load balancer in the region"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(e.Props.SweepSchedule)),
		Targets:     &[]awsevents.IRuleTarget{lambdaTarget(e, e.SweeperFunction)},
	})
}

// apiCallPattern matches the ELB API calls, recorded by CloudTrail, that can
// make a load balancer non-compliant. The enforcer's rule and the spokes'
// forwarding rule both use it.
func apiCallPattern() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings(events.SourceELB),
		DetailType: jsii.Strings(events.DetailTypeCloudTrail),
		Detail: &map[string]interface{}{
			"eventSource": []string{"elasticloadbalancing.amazonaws.com"},
			"eventName":   EnforcerEventNames(),
			// Failed calls changed nothing.
			"errorCode": []interface{}{map[string]interface{}{"exists": false}},
		},
	}
}

// tagChangePattern matches tag changes on Elastic Load Balancing resources.
func tagChangePattern() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings(events.SourceTag),
		DetailType: jsii.Strings(events.DetailTypeTagChange),
		Detail: &map[string]interface{}{
			"service": []string{"elasticloadbalancing"},
		},
	}
}

func lambdaTarget(e *Enforcer, fn awslambda.IFunction) awsevents.IRuleTarget {
	return awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: e.EventDeadLetterQueue,
		RetryAttempts:   jsii.Number(targetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(targetMaxEventHours)),
	})
}
