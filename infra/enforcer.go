package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudtrail"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/fleet"
)

// Function settings. The enforcer handles one event (one or a few load
// balancers, a handful of API calls) and gets a minute; the sweeper walks
// every load balancer in the region and gets Lambda's maximum.
const (
	enforcerTimeoutSeconds = 60
	sweeperTimeoutSeconds  = 900
	functionMemoryMB       = 256
	logRetention           = awslogs.RetentionDays_ONE_MONTH
)

// Enforcer is the construct NewEnforcer returns; its fields let a user's app
// add targets, subscriptions or permissions.
type Enforcer struct {
	// Construct is the scope of everything below (use it, not the Enforcer,
	// as a scope or for Node()).
	Construct constructs.Construct
	// Props are the validated props with defaults applied.
	Props EnforcerProps
	// EnforcerFunction reacts to CloudTrail and tag-change events.
	EnforcerFunction awslambda.Function
	// SweeperFunction reconciles every load balancer on SweepSchedule.
	SweeperFunction awslambda.Function
	// Role is both functions' execution role. They share it so that the
	// enforcer, which ignores CloudTrail events caused by its own role,
	// also ignores the sweeper's remediations instead of re-checking them.
	Role awsiam.Role
	// EventDeadLetterQueue receives events EventBridge could not deliver to
	// a function after its retries.
	EventDeadLetterQueue awssqs.Queue
	// FailureQueue is both functions' asynchronous on-failure destination:
	// it receives invocations that failed inside Lambda after retries
	// (EventBridge's dead-letter queue never sees those).
	FailureQueue awssqs.Queue
	// VerifyQueue carries the delayed health checks after a change to the
	// enforcer (see verify.go); nil in a dry run.
	VerifyQueue awssqs.Queue
	// RecheckQueue coalesces instance registrations into one reconcile per
	// load balancer (recheck.go); nil in a dry run.
	RecheckQueue awssqs.Queue
	// AlarmTopic receives every alarm; it is encrypted with AlarmKey.
	AlarmTopic awssns.Topic
	// AlarmKey encrypts AlarmTopic; CloudWatch may use it to publish.
	AlarmKey awskms.Key
	// Trail is the CloudTrail trail, or nil unless Props.CreateTrail.
	Trail awscloudtrail.Trail
	// TrailBucket holds the trail's log files, or nil unless Props.CreateTrail.
	TrailBucket awss3.Bucket
	// Hub is the central bus and the sweep fan-out, or nil unless Props.Hub.
	Hub *Hub
	// RestoreKey is the secret that signs restore records (restorekey.go).
	RestoreKey awssecretsmanager.Secret
	// Compliance holds what Props.Compliance added (infra/compliance.go).
	Compliance Compliance
}

// NewEnforcer validates props (nil means the zero value, i.e. all defaults)
// and creates the enforcer and sweeper Lambdas, their EventBridge rules,
// queues, alarms and IAM role under scope. It creates nothing when props are
// invalid.
func NewEnforcer(scope constructs.Construct, id *string, props *EnforcerProps) (*Enforcer, error) {
	var p EnforcerProps
	if props != nil {
		p = *props
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	for _, fn := range p.functionNames() {
		if _, err := os.Stat(filepath.Join(p.LambdaAssetDir, fn, "bootstrap")); err != nil {
			return nil, fmt.Errorf("%w: LambdaAssetDir %q: %s/bootstrap missing (run make build-lambda): %w", ErrInvalidProps, p.LambdaAssetDir, fn, err)
		}
	}

	if err := checkComplianceAssets(p); err != nil {
		return nil, err
	}
	c := constructs.NewConstruct(scope, id)
	e := &Enforcer{Construct: c, Props: p}
	stack := awscdk.Stack_Of(c)

	e.EventDeadLetterQueue = newQueue(c, "EventDeadLetterQueue")
	e.FailureQueue = newQueue(c, "FailureQueue")
	e.AlarmKey, e.AlarmTopic = newAlarmTopic(c, p.AlarmEmail)

	e.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("elbguard enforcer and sweeper: ELB reads and tag-scoped remediation"),
	})
	for _, st := range elbStatements(stack, p) {
		e.Role.AddToPrincipalPolicy(st)
	}
	var reserved *float64
	if p.ReservedConcurrency > 0 {
		reserved = jsii.Number(float64(p.ReservedConcurrency))
	}
	e.EnforcerFunction = newFunction(c, functionSpec{
		name:        "enforcer",
		description: "elbguard enforcer: brings the load balancers named in ELB CloudTrail and tag-change events to proxy protocol",
		assetDir:    filepath.Join(p.LambdaAssetDir, "enforcer"),
		timeout:     enforcerTimeoutSeconds,
		reserved:    reserved,
		selfRoleEnv: true,
		// Two more tries absorb throttling and transient API errors; the
		// hourly sweep catches anything that still fails.
		retryAttempts: 2,
		maxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	}, p, e.Role, e.FailureQueue)
	e.SweeperFunction = newFunction(c, functionSpec{
		name:        "sweeper",
		description: "elbguard sweeper: reconciles every load balancer in the region on a schedule and emits compliance metrics",
		assetDir:    filepath.Join(p.LambdaAssetDir, "sweeper"),
		timeout:     sweeperTimeoutSeconds,
		// A failed sweep is not retried: the next scheduled sweep redoes it,
		// and the failure is recorded in FailureQueue (and alarmed).
		retryAttempts: 0,
		maxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	}, p, e.Role, e.FailureQueue)

	if p.Hub != nil {
		addHub(e)
	}
	addRules(e)
	addAlarms(e)
	addVerification(e)
	addRestoreKey(e)
	addRecheck(e)
	if p.CreateTrail {
		e.Trail, e.TrailBucket = newTrail(c)
	}
	addCompliance(e)
	suppressEnforcerFindings(e)
	return e, nil
}

// newQueue is an SSE-SQS encrypted, SSL-only queue that keeps failed events
// for 14 days (SQS's maximum) for inspection and replay.
func newQueue(scope constructs.Construct, id string) awssqs.Queue {
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// newAlarmTopic is the SSL-only alarm topic, encrypted with a customer
// managed key that CloudWatch alarms may use (the AWS managed SNS key cannot
// grant CloudWatch access).
func newAlarmTopic(scope constructs.Construct, email string) (awskms.Key, awssns.Topic) {
	key := awskms.NewKey(scope, jsii.String("AlarmKey"), &awskms.KeyProps{
		Description:       jsii.String("elbguard: encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Stack_Of(scope).Account()},
		},
	}), jsii.Bool(false))
	topic := awssns.NewTopic(scope, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("elbguard alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
	}
	return key, topic
}

type functionSpec struct {
	name          string
	description   string
	assetDir      string
	timeout       float64
	reserved      *float64
	selfRoleEnv   bool
	retryAttempts float64
	maxEventAge   awscdk.Duration
}

// newFunction creates a provided.al2023 arm64 function with its own log
// group (JSON format, retention) that role may write to (no AWS managed
// policy), and an on-failure destination.
func newFunction(scope constructs.Construct, s functionSpec, p EnforcerProps, role awsiam.Role, failures awssqs.IQueue) awslambda.Function {
	id := titleCase(s.name)
	logGroup := awslogs.NewLogGroup(scope, jsii.String(id+"LogGroup"), &awslogs.LogGroupProps{
		Retention:     logRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logGroup.GrantWrite(role)

	fn := awslambda.NewFunction(scope, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:                  jsii.String(s.description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(s.assetDir), nil),
		MemorySize:                   jsii.Number(functionMemoryMB),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(s.timeout)),
		ReservedConcurrentExecutions: s.reserved,
		Role:                         role,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		RetryAttempts:                jsii.Number(s.retryAttempts),
		MaxEventAge:                  s.maxEventAge,
		OnFailure:                    awslambdadestinations.NewSqsDestination(failures),
		Environment: &map[string]*string{
			fleet.EnvTagKey:      jsii.String(p.TagKey),
			fleet.EnvDefaultMode: jsii.String(p.DefaultMode),
			fleet.EnvDryRun:      jsii.String(strconv.FormatBool(p.DryRun)),
			fleet.EnvConcurrency: jsii.String(strconv.Itoa(p.Concurrency)),
			fleet.EnvMaxChanges:  jsii.String(strconv.Itoa(p.MaxChanges)),
			fleet.EnvMaxErrors:   jsii.String(strconv.Itoa(p.MaxErrors)),
		},
	})
	if len(p.IaCTags) > 0 {
		fn.AddEnvironment(jsii.String(fleet.EnvIaCTags), jsii.String(strings.Join(p.IaCTags, ",")), nil)
	}
	if s.selfRoleEnv {
		// The enforcer ignores events its role caused; naming the role saves
		// an sts:GetCallerIdentity at start-up.
		fn.AddEnvironment(jsii.String(fleet.EnvSelfRoleARN), role.RoleArn(), nil)
	}
	return fn
}

// titleCase turns a function name into a construct id prefix.
func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
