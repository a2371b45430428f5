package infra

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/fleet"
)

// The hub's functions read these variables (the engine's multi-account
// runtime contract; fleet names them once).
const (
	envRoleName      = fleet.EnvRoleName
	envAccounts      = fleet.EnvAccounts
	envOrgUnits      = fleet.EnvOrgUnits
	envRegions       = fleet.EnvRegions
	envSweepQueueURL = fleet.EnvSweepQueueURL
	envRateDescribe  = fleet.EnvRateDescribe
	envRateMutate    = fleet.EnvRateMutate
)

// Hub defaults and limits.
const (
	// DefaultSpokeRoleName is the role the hub assumes in every spoke account.
	DefaultSpokeRoleName = "elbguard-spoke"
	// HubEventBusName is the hub's central event bus; spokes forward to
	// arn:PARTITION:events:HUB_REGION:HUB_ACCOUNT:event-bus/HubEventBusName.
	HubEventBusName = "elbguard-hub"
	// AccountsFromOrganization is ELBGUARD_ACCOUNTS when HubProps.Accounts is
	// empty: the engine lists the organization's active accounts.
	AccountsFromOrganization = "org"
	// DefaultSweepWorkers is the sweep workers' default maximum concurrency.
	DefaultSweepWorkers = 10
	// MinSweepWorkers and MaxSweepWorkers bound HubProps.SweepWorkers: the
	// limits of an SQS event source's maximum concurrency.
	MinSweepWorkers = 2
	MaxSweepWorkers = 1000
)

// Sweep queue settings. A unit of work (one account and region) may take a
// worker's whole 15 minutes; Lambda's documentation asks for a visibility
// timeout of at least six times the function timeout, so that a throttled
// batch is retried before it becomes visible again. A unit that fails three
// times goes to the dead-letter queue (and its alarm); a unit older than a
// day is stale (newer sweeps have run).
const (
	sweepWorkerTimeoutSeconds = 900
	sweepVisibilitySeconds    = 6 * sweepWorkerTimeoutSeconds
	sweepMaxReceives          = 3
	sweepRetentionHours       = 24
	// sweepBacklogSeconds: a unit waiting longer than this means the workers
	// cannot keep up with the schedule.
	sweepBacklogSeconds = 3600
)

// HubProps turns the Enforcer into an organization's hub: its functions
// handle events and sweep load balancers in other accounts by assuming the
// spoke role there. The zero value is not valid: Regions and one of OrgID or
// Accounts are required.
type HubProps struct {
	// OrgID is the AWS Organizations id (o-...). With it, the hub's event
	// bus admits PutEvents only from principals of the organization
	// (aws:PrincipalOrgID), and the functions may assume spoke roles only in
	// its accounts (aws:ResourceOrgID). Required unless Accounts is set.
	OrgID string
	// Accounts are the spoke account ids (12 digits). Empty: every active
	// account of the organization (the engine calls ListAccounts; OrgID is
	// then required). When set, the bus admits only these accounts and the
	// functions may assume only their spoke roles.
	Accounts []string
	// OrgUnits, when set, are where the spokes are: the sweep covers the
	// accounts of these organizational units (and of the units below
	// them) plus Accounts, and an account there whose spoke role is
	// missing is not_applicable rather than an error. NewHubStack sets it
	// to the StackSet's OrgUnits. Requires OrgID.
	OrgUnits []string
	// Regions are the regions swept in every account, e.g. us-east-1.
	// Required.
	Regions []string
	// SpokeRoleName is the role assumed in each account,
	// arn:aws:iam::ACCOUNT:role/SpokeRoleName. Empty: DefaultSpokeRoleName.
	SpokeRoleName string
	// SweepWorkers is the most sweep workers running at once (the SQS event
	// source's maximum concurrency), MinSweepWorkers-MaxSweepWorkers. Zero:
	// DefaultSweepWorkers.
	SweepWorkers int
	// RateDescribe and RateMutate are Elastic Load Balancing API calls per
	// second, per account and region, for reads and for writes. Zero: the
	// engine's defaults.
	RateDescribe float64
	RateMutate   float64
}

// withDefaults returns a copy of h with zero values replaced by defaults.
func (h HubProps) withDefaults() HubProps {
	if h.SpokeRoleName == "" {
		h.SpokeRoleName = DefaultSpokeRoleName
	}
	if h.SweepWorkers == 0 {
		h.SweepWorkers = DefaultSweepWorkers
	}
	return h
}

// validate reports the first invalid field of h (after defaults); a nil h
// (single-account Enforcer) is valid.
func (h *HubProps) validate() error {
	if h == nil {
		return nil
	}
	v := h.withDefaults()
	if v.OrgID == "" && len(v.Accounts) == 0 {
		return fmt.Errorf("%w: Hub.OrgID and Hub.Accounts are both empty: want the organization id (%s) or a list of account ids", ErrInvalidProps, wantOrgID)
	}
	if v.OrgID != "" {
		if err := checkID("Hub.OrgID", v.OrgID, orgIDPattern, wantOrgID); err != nil {
			return err
		}
	}
	if err := checkIDs("Hub.Accounts", v.Accounts, accountIDPattern, wantAccountID); err != nil {
		return err
	}
	if err := checkIDs("Hub.OrgUnits", v.OrgUnits, orgUnitPattern, wantOrgUnit); err != nil {
		return err
	}
	if len(v.OrgUnits) > 0 && v.OrgID == "" {
		return fmt.Errorf("%w: Hub.OrgUnits is set and Hub.OrgID is empty: want the organization id (%s)", ErrInvalidProps, wantOrgID)
	}
	if len(v.Regions) == 0 {
		return fmt.Errorf("%w: Hub.Regions is empty: want at least one region name such as us-east-1", ErrInvalidProps)
	}
	if err := checkIDs("Hub.Regions", v.Regions, regionPattern, wantRegion); err != nil {
		return err
	}
	if err := checkID("Hub.SpokeRoleName", v.SpokeRoleName, roleNamePattern, wantRoleName); err != nil {
		return err
	}
	if v.SweepWorkers < MinSweepWorkers || v.SweepWorkers > MaxSweepWorkers {
		return fmt.Errorf("%w: Hub.SweepWorkers %d: allowed values are %d-%d (0 means %d)", ErrInvalidProps, v.SweepWorkers, MinSweepWorkers, MaxSweepWorkers, DefaultSweepWorkers)
	}
	for _, r := range []struct {
		field string
		v     float64
	}{{"Hub.RateDescribe", v.RateDescribe}, {"Hub.RateMutate", v.RateMutate}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return fmt.Errorf("%w: %s %v: want calls per second > 0 (0 means the engine's default)", ErrInvalidProps, r.field, r.v)
		}
	}
	return nil
}

// fromOrg reports whether the hub finds accounts in the organization (all
// of them, or those of OrgUnits) rather than only in Accounts: then any
// account of the organization may be a spoke.
func (h HubProps) fromOrg() bool { return len(h.Accounts) == 0 || len(h.OrgUnits) > 0 }

// accountsValue is ELBGUARD_ACCOUNTS.
func (h HubProps) accountsValue() string {
	if len(h.Accounts) == 0 {
		return AccountsFromOrganization
	}
	return strings.Join(h.Accounts, ",")
}

// Hub is what NewEnforcer adds with EnforcerProps.Hub: the central event bus
// the rules listen on, and the sweep's fan-out queue and workers.
type Hub struct {
	// EventBus receives the spokes' forwarded events; its resource policy
	// admits PutEvents only from the organization (or the listed accounts).
	EventBus awsevents.EventBus
	// SweepQueue holds one message per account and region of a sweep.
	SweepQueue awssqs.Queue
	// SweepDeadLetterQueue receives units that failed sweepMaxReceives times.
	SweepDeadLetterQueue awssqs.Queue
	// SweepWorkerFunction consumes SweepQueue.
	SweepWorkerFunction awslambda.Function
}

// functionNames are the Lambdas NewEnforcer deploys (and needs assets for).
func (p EnforcerProps) functionNames() []string {
	if p.Hub == nil {
		return []string{"enforcer", "sweeper"}
	}
	return []string{"enforcer", "sweeper", "sweepworker"}
}

// eventBus is the bus the enforcer's rules listen on: the hub's, or nil for
// the account's default bus.
func (e *Enforcer) eventBus() awsevents.IEventBus {
	if e.Hub == nil {
		return nil
	}
	return e.Hub.EventBus
}

// addHub makes e a hub (e.Props.Hub is set and validated): the central bus,
// the sweep queue and its workers, the hub environment on every function,
// and the role's cross-account permissions. It runs after the functions are
// created and before the rules.
func addHub(e *Enforcer) {
	h := e.Props.Hub.withDefaults()
	e.Props.Hub = &h
	p, c := e.Props, e.Construct
	hub := &Hub{}
	e.Hub = hub

	hub.EventBus = awsevents.NewEventBus(c, jsii.String("HubEventBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(HubEventBusName),
		Description:  jsii.String("elbguard: ELB API calls and tag changes forwarded by the spoke accounts"),
	})
	hub.EventBus.AddToResourcePolicy(busPolicy(hub.EventBus, h))

	hub.SweepDeadLetterQueue = newQueue(c, "SweepDeadLetterQueue")
	hub.SweepQueue = awssqs.NewQueue(c, jsii.String("SweepQueue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(sweepVisibilitySeconds)),
		RetentionPeriod:   awscdk.Duration_Hours(jsii.Number(sweepRetentionHours)),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           hub.SweepDeadLetterQueue,
			MaxReceiveCount: jsii.Number(sweepMaxReceives),
		},
	})
	hub.SweepWorkerFunction = newFunction(c, functionSpec{
		name:        "sweepworker",
		description: "elbguard sweep worker: reconciles every load balancer of one account and region (one message of the sweep queue)",
		assetDir:    filepath.Join(p.LambdaAssetDir, "sweepworker"),
		timeout:     sweepWorkerTimeoutSeconds,
		// Invoked by the SQS event source: failed units are retried by SQS
		// and end in SweepDeadLetterQueue, not in Lambda's async retries.
		retryAttempts: 0,
		maxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	}, p, e.Role, e.FailureQueue)
	hub.SweepWorkerFunction.AddEventSource(awslambdaeventsources.NewSqsEventSource(hub.SweepQueue, &awslambdaeventsources.SqsEventSourceProps{
		// One unit per invocation: a unit can use a worker's whole timeout.
		BatchSize:               jsii.Number(1),
		MaxConcurrency:          jsii.Number(float64(h.SweepWorkers)),
		ReportBatchItemFailures: jsii.Bool(true),
	}))

	env := hubEnvironment(h, hub.SweepQueue.QueueUrl())
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, fn := range []awslambda.Function{e.EnforcerFunction, e.SweeperFunction, hub.SweepWorkerFunction} {
		for _, k := range keys {
			fn.AddEnvironment(jsii.String(k), env[k], nil)
		}
	}

	// The sweeper fans out onto the queue; a worker that runs out of time
	// puts the rest of its unit back.
	hub.SweepQueue.GrantSendMessages(e.Role)
	for _, st := range hubStatements(awscdk.Stack_Of(c), h) {
		e.Role.AddToPrincipalPolicy(st)
	}
	addHubAlarms(e)
	suppressHubFindings(e, h)
}

// hubEnvironment is the multi-account configuration every hub function gets.
func hubEnvironment(h HubProps, queueURL *string) map[string]*string {
	env := map[string]*string{
		envRoleName:      jsii.String(h.SpokeRoleName),
		envAccounts:      jsii.String(h.accountsValue()),
		envRegions:       jsii.String(strings.Join(h.Regions, ",")),
		envSweepQueueURL: queueURL,
	}
	if len(h.OrgUnits) > 0 {
		env[envOrgUnits] = jsii.String(strings.Join(h.OrgUnits, ","))
	}
	if h.RateDescribe > 0 {
		env[envRateDescribe] = jsii.String(strconv.FormatFloat(h.RateDescribe, 'f', -1, 64))
	}
	if h.RateMutate > 0 {
		env[envRateMutate] = jsii.String(strconv.FormatFloat(h.RateMutate, 'f', -1, 64))
	}
	return env
}

// spokeRoleArns are the roles the hub may assume: the spoke role in each
// listed account, or in any account (then limited to the organization by
// aws:ResourceOrgID).
func spokeRoleArns(stack awscdk.Stack, h HubProps) []*string {
	accounts := h.Accounts
	if h.fromOrg() {
		accounts = []string{"*"}
	}
	out := make([]*string, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("iam"),
			Region:       jsii.String(""),
			Account:      jsii.String(a),
			Resource:     jsii.String("role"),
			ResourceName: jsii.String(h.SpokeRoleName),
			Partition:    stack.Partition(),
		}))
	}
	return out
}

// hubStatements are what the hub's function role needs beyond the
// single-account statements: assume the spoke roles, and list the
// organization's accounts when no account list is configured.
func hubStatements(stack awscdk.Stack, h HubProps) []awsiam.PolicyStatement {
	assume := &awsiam.PolicyStatementProps{
		Sid:     jsii.String("AssumeSpokeRoles"),
		Actions: jsii.Strings("sts:AssumeRole"),
	}
	arns := spokeRoleArns(stack, h)
	assume.Resources = &arns
	if h.OrgID != "" {
		assume.Conditions = &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:ResourceOrgID": h.OrgID},
		}
	}
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(assume)}
	switch {
	case len(h.OrgUnits) > 0:
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ListOrganizationalUnitAccounts"),
			Actions:   jsii.Strings("organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"),
			Resources: jsii.Strings("*"),
		}))
	case len(h.Accounts) == 0:
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ListOrganizationAccounts"),
			Actions:   jsii.Strings("organizations:ListAccounts"),
			Resources: jsii.Strings("*"),
		}))
	}
	return out
}

// busPolicy admits events:PutEvents on the hub bus from the organization
// (any principal with aws:PrincipalOrgID = OrgID), narrowed to the listed
// accounts when Accounts is set. Nothing else may write to the bus.
func busPolicy(bus awsevents.IEventBus, h HubProps) awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String("SpokesPutEvents"),
		Actions:   jsii.Strings("events:PutEvents"),
		Resources: &[]*string{bus.EventBusArn()},
	}
	if !h.fromOrg() {
		ps := make([]awsiam.IPrincipal, 0, len(h.Accounts))
		for _, a := range h.Accounts {
			ps = append(ps, awsiam.NewAccountPrincipal(jsii.String(a)))
		}
		props.Principals = &ps
	} else {
		props.Principals = &[]awsiam.IPrincipal{awsiam.NewStarPrincipal()}
	}
	if h.OrgID != "" {
		props.Conditions = &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": h.OrgID},
		}
	}
	return awsiam.NewPolicyStatement(props)
}

// addHubAlarms: the sweep worker's errors, a unit in the sweep dead-letter
// queue, and a sweep backlog older than sweepBacklogSeconds.
func addHubAlarms(e *Enforcer) {
	action := awscloudwatchactions.NewSnsAction(e.AlarmTopic)
	add := func(id, description string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(e.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
	}
	add("SweepWorkerErrorsAlarm", "elbguard: the sweep worker function returned errors", functionErrors(e.Hub.SweepWorkerFunction), 0)
	add("SweepDeadLetterAlarm", "elbguard: a sweep unit (account and region) failed three times; inspect the sweep dead-letter queue",
		queueDepth(e.Hub.SweepDeadLetterQueue), 0)
	add("SweepBacklogAlarm", "elbguard: a sweep unit waited more than an hour; raise sweepWorkers or the API rates, or sweep less often",
		e.Hub.SweepQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		}), sweepBacklogSeconds)
}

// suppressHubFindings records why the hub's own cdk-nag findings are
// accepted.
func suppressHubFindings(e *Enforcer, h HubProps) {
	applies := []string{}
	if h.fromOrg() {
		applies = append(applies,
			"Resource::arn:<AWS::Partition>:iam::*:role/"+h.SpokeRoleName,
			"Resource::*")
	}
	if len(applies) > 0 {
		suppress(e.Role, true, suppression{
			id: "AwsSolutions-IAM5",
			reason: "The hub assumes the spoke role in every account of the organization, including accounts created after " +
				"deployment, so the account part of the role ARN is a wildcard; aws:ResourceOrgID limits it to the " +
				"organization. organizations:ListAccounts supports no resource-level permissions; the per-parent listings walk " +
				"organizational units whose ARNs include the management account's id, which the hub does not know.",
			appliesTo: applies,
		})
	}
	suppress(e.Hub.SweepDeadLetterQueue, false, suppression{
		id:     "AwsSolutions-SQS3",
		reason: "This queue is itself the sweep queue's dead-letter queue; a dead-letter queue of it would only move the messages its alarm already reports.",
	})
}
