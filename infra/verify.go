package infra

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
)

// Verification after a change (engine.Verify): the function that turns proxy
// protocol on for an NLB's target groups sends a message to VerifyQueue with
// a delay of the verification window; the queue is the enforcer's event
// source, so a later invocation compares target health with what it was
// before and turns proxy protocol back off where healthy targets turned
// unhealthy. No invocation waits for the window.
const (
	// DefaultVerifyWindowSeconds is the verification window: NLB health
	// checks at the default 30 s interval need 2-3 failures to mark a target
	// unhealthy.
	DefaultVerifyWindowSeconds = int(fleet.DefaultVerifyWindow / 1e9)
	// MaxVerifyWindowSeconds is SQS's largest message delay.
	MaxVerifyWindowSeconds = int(fleet.MaxVerifyWindow / 1e9)
	// verifyMaxReceives: a verification that keeps failing (throttling, an
	// API outage) goes to the failure queue, which alarms.
	verifyMaxReceives = 5
)

// HealthDroppedTagActions mark a load balancer on which a verification
// turned proxy protocol back off (engine.TagHealthDropped).
var HealthDroppedTagActions = []string{"elasticloadbalancing:AddTags"}

// healthDroppedStatement lets the role mark a load balancer whose health
// dropped (engine.TagHealthDropped) and nothing else; it is one of
// elbStatementsIn, so that a spoke role carries it too.
func healthDroppedStatement(stack awscdk.Stack, region *string, p EnforcerProps) awsiam.PolicyStatement {
	conditions := *tagConditions(p)
	conditions["ForAllValues:StringEquals"] = map[string]interface{}{"aws:TagKeys": []string{engine.TagHealthDropped}}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("MarkHealthDropped"),
		Actions:    jsii.Strings(HealthDroppedTagActions...),
		Resources:  &[]*string{elbArn(stack, region, "loadbalancer/*")},
		Conditions: &conditions,
	})
}

// healthDroppedGroupsStatement lets the role mark the target groups of a
// roll back when the load balancer cannot be marked (engine.Verify: a roll
// back that cannot mark itself must not flap). Target groups carry no mode
// tag, so the only condition is the one key: the worst a misuse can do is
// hold a target group's proxy protocol off.
func healthDroppedGroupsStatement(stack awscdk.Stack, region *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("MarkHealthDroppedTargetGroups"),
		Actions:   jsii.Strings(HealthDroppedTagActions...),
		Resources: &[]*string{elbArn(stack, region, "targetgroup/*")},
		Conditions: &map[string]interface{}{
			"ForAllValues:StringEquals": map[string]interface{}{"aws:TagKeys": []string{engine.TagHealthDropped}},
		},
	})
}

// addVerification creates the verification queue, makes it the enforcer's
// event source, tells both functions where it is and how long to wait, lets
// the role tag load balancers with engine.TagHealthDropped (that key only,
// on load balancers it may change), and alarms on every roll back. A dry run
// changes nothing and gets none of it.
func addVerification(e *Enforcer) {
	p := e.Props
	if p.DryRun {
		return
	}
	e.VerifyQueue = awssqs.NewQueue(e.Construct, jsii.String("VerifyQueue"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Lambda asks for at least six times the function timeout.
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * enforcerTimeoutSeconds)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(1)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: e.FailureQueue, MaxReceiveCount: jsii.Number(verifyMaxReceives)},
	})
	e.VerifyQueue.GrantSendMessages(e.Role)
	e.EnforcerFunction.AddEventSource(awslambdaeventsources.NewSqsEventSource(e.VerifyQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(1),
	}))
	window := strconv.Itoa(p.VerifyWindowSeconds) + "s"
	for _, fn := range []awslambda.Function{e.EnforcerFunction, e.SweeperFunction} {
		fn.AddEnvironment(jsii.String(fleet.EnvVerifyQueueURL), e.VerifyQueue.QueueUrl(), nil)
		fn.AddEnvironment(jsii.String(fleet.EnvVerifyWindow), jsii.String(window), nil)
	}
	alarm := awscloudwatch.NewAlarm(e.Construct, jsii.String("RolledBackAlarm"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("elbguard: proxy protocol was turned back off on an NLB after healthy targets turned unhealthy (finding health_dropped); the back ends do not read the PROXY v2 header"),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(fleet.MetricNamespace),
			MetricName:    jsii.String(fleet.MetricNames[engine.StatusRolledBack]),
			DimensionsMap: &map[string]*string{fleet.DimensionFunction: jsii.String(fleet.FunctionEnforcer)},
			Statistic:     jsii.String("Sum"),
			Period:        awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(e.AlarmTopic))
}
