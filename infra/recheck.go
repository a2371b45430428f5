package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/fleet"
)

// addRecheck creates the FIFO queue that coalesces instance registrations
// (fleet/debounce.go): the enforcer sends one message per load balancer,
// SQS drops the repeats of the next five minutes by deduplication id, and
// delivers the message back to the enforcer after a delay as long as that
// window, so that a scale-out of 50 instances is one reconcile that sees
// them all. None in a dry run.
func addRecheck(e *Enforcer) {
	if e.Props.DryRun { // a dry run consumes no queue: each registration is evaluated at once
		return
	}
	// A FIFO queue's dead-letter queue is FIFO too. A recheck that keeps
	// failing lands there (the hourly sweep covers its load balancer).
	dlq := awssqs.NewQueue(e.Construct, jsii.String("RecheckDeadLetterQueue"), &awssqs.QueueProps{
		Fifo:            jsii.Bool(true),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	e.RecheckQueue = awssqs.NewQueue(e.Construct, jsii.String("RecheckQueue"), &awssqs.QueueProps{
		Fifo:       jsii.Bool(true),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Not before SQS's deduplication window has closed.
		DeliveryDelay: awscdk.Duration_Seconds(jsii.Number(fleet.RecheckDelaySeconds)),
		// Lambda asks for at least six times the function timeout.
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * enforcerTimeoutSeconds)),
		RetentionPeriod:   awscdk.Duration_Hours(jsii.Number(1)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(verifyMaxReceives)},
	})
	e.RecheckQueue.GrantSendMessages(e.Role)
	e.EnforcerFunction.AddEventSource(awslambdaeventsources.NewSqsEventSource(e.RecheckQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10),
	}))
	e.EnforcerFunction.AddEnvironment(jsii.String(fleet.EnvRecheckQueueURL), e.RecheckQueue.QueueUrl(), nil)
}
