//go:build integration

package infra

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/fleet"
)

const (
	testOrgID   = "o-a1b2c3d4e5"
	testOrgUnit = "ou-ab12-cdef3456"
	sweepWorker = "EnforcerSweepworkerFunction"
)

// orgHub is a hub over the test organization in two regions.
func orgHub() *HubProps {
	return &HubProps{OrgID: testOrgID, Regions: []string{"us-east-1", "eu-west-1"}}
}

// hubStack synthesizes an ElbGuardHub stack (asset dir filled in) under the
// cdk-nag checks.
func hubStack(t *testing.T, props HubStackProps) (map[string]any, *HubStack) {
	t.Helper()
	props.Enforcer.LambdaAssetDir = assets(t).lambdaDir
	app := awscdk.NewApp(nil)
	h, err := NewHubStack(app, HubStackName, nil, &props)
	if err != nil {
		t.Fatalf("NewHubStack: %v", err)
	}
	AddNagChecks(app)
	return synthChecked(t, h.Stack), h
}

func TestHubStackFunctionsAndQueue(t *testing.T) {
	tpl, h := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: orgHub()}})
	if h.StackSet != nil || h.SpokeTemplate != "" {
		t.Errorf("StackSet = %v; want none without StackSetProps", h.StackSet)
	}
	if n := len(resources(tpl, "AWS::Lambda::Function")); n != 3 {
		t.Fatalf("got %d functions; want 3 (enforcer, sweeper, sweep worker)", n)
	}
	queueID := idOf(t, tpl, "AWS::SQS::Queue", "EnforcerSweepQueue")
	// Every function gets the single-account settings and the hub's.
	for _, prefix := range []string{enforcerFn, sweeperFn, sweepWorker} {
		env, _ := dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", prefix), "Properties", "Environment", "Variables").(map[string]any)
		want := map[string]string{
			fleet.EnvTagKey: "elbguard:proxy-protocol", fleet.EnvDefaultMode: "off",
			envRoleName: "elbguard-spoke", envAccounts: "org", envRegions: "us-east-1,eu-west-1",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s = %v; want %q", prefix, k, env[k], v)
			}
		}
		if got := refID(env[envSweepQueueURL]); got != queueID {
			t.Errorf("%s: %s refers to %q; want the sweep queue %s", prefix, envSweepQueueURL, got, queueID)
		}
		for _, k := range []string{envRateDescribe, envRateMutate} {
			if _, ok := env[k]; ok {
				t.Errorf("%s: %s set; want it absent (the engine's default)", prefix, k)
			}
		}
	}

	worker := withIDPrefix(t, tpl, "AWS::Lambda::Function", sweepWorker)["Properties"].(map[string]any)
	if worker["Timeout"] != float64(900) || worker["ReservedConcurrentExecutions"] != nil {
		t.Errorf("worker Timeout/ReservedConcurrentExecutions = %v/%v; want 900/none", worker["Timeout"], worker["ReservedConcurrentExecutions"])
	}
	esm := workerEventSource(t, tpl)
	p := esm["Properties"].(map[string]any)
	checks := []struct {
		what      string
		got, want any
	}{
		{"EventSourceArn", refID(p["EventSourceArn"]), queueID},
		{"FunctionName", refID(p["FunctionName"]), idOf(t, tpl, "AWS::Lambda::Function", sweepWorker)},
		{"BatchSize", p["BatchSize"], float64(1)},
		{"FunctionResponseTypes", flat(p["FunctionResponseTypes"]), "[ReportBatchItemFailures]"},
		{"ScalingConfig.MaximumConcurrency", dig(p, "ScalingConfig", "MaximumConcurrency"), float64(DefaultSweepWorkers)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("event source %s = %v; want %v", c.what, c.got, c.want)
		}
	}

	q := resources(tpl, "AWS::SQS::Queue")[queueID]["Properties"].(map[string]any)
	if v, _ := q["VisibilityTimeout"].(float64); v < worker["Timeout"].(float64) {
		t.Errorf("sweep queue VisibilityTimeout = %v; want at least the worker's timeout %v", q["VisibilityTimeout"], worker["Timeout"])
	}
	if got := refID(dig(q, "RedrivePolicy", "deadLetterTargetArn")); !strings.HasPrefix(got, "EnforcerSweepDeadLetterQueue") {
		t.Errorf("sweep queue dead-letter target = %q; want EnforcerSweepDeadLetterQueue", got)
	}
	if got := dig(q, "RedrivePolicy", "maxReceiveCount"); got != float64(sweepMaxReceives) {
		t.Errorf("maxReceiveCount = %v; want %d", got, sweepMaxReceives)
	}
	if q["SqsManagedSseEnabled"] != true {
		t.Errorf("sweep queue not encrypted")
	}

	// Alarms: the single-account ones (their own test counts them) plus the
	// worker's errors, the sweep dead-letter queue and the backlog, all to the
	// topic.
	if alarms := resources(tpl, "AWS::CloudWatch::Alarm"); len(alarms) < 8 {
		t.Errorf("got %d alarms; want the single-account five or more plus three", len(alarms))
	}
	for _, prefix := range []string{"EnforcerSweepWorkerErrorsAlarm", "EnforcerSweepDeadLetterAlarm", "EnforcerSweepBacklogAlarm"} {
		a := withIDPrefix(t, tpl, "AWS::CloudWatch::Alarm", prefix)
		if got := refID(asList(dig(a, "Properties", "AlarmActions"))[0]); !strings.HasPrefix(got, "EnforcerAlarmTopic") {
			t.Errorf("%s action = %q; want the alarm topic", prefix, got)
		}
	}
	outputs, _ := tpl["Outputs"].(map[string]any)
	for _, o := range []string{"HubRoleArn", "HubEventBusArn"} {
		if _, ok := outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
}

// TestHubStackRules: the API-call and tag-change rules listen on the hub's
// bus with exactly the single-account stack's patterns; the schedule stays
// on the default bus (EventBridge schedules exist only there).
func TestHubStackRules(t *testing.T) {
	single, _ := enforcerStack(t, EnforcerProps{})
	tpl, _ := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: orgHub()}})
	busID, bus := only(t, tpl, "AWS::Events::EventBus")
	if got := dig(bus, "Properties", "Name"); got != HubEventBusName {
		t.Errorf("bus name = %v; want %s", got, HubEventBusName)
	}
	for _, tt := range []struct {
		prefix string
		onBus  bool
	}{{"EnforcerApiCallRule", true}, {"EnforcerTagChangeRule", true}, {"EnforcerSweepSchedule", false}} {
		got := withIDPrefix(t, tpl, "AWS::Events::Rule", tt.prefix)["Properties"].(map[string]any)
		want := withIDPrefix(t, single, "AWS::Events::Rule", tt.prefix)["Properties"].(map[string]any)
		if !reflect.DeepEqual(got["EventPattern"], want["EventPattern"]) || got["ScheduleExpression"] != want["ScheduleExpression"] {
			t.Errorf("%s: pattern/schedule %v/%v; want the single-account stack's %v/%v", tt.prefix, got["EventPattern"], got["ScheduleExpression"], want["EventPattern"], want["ScheduleExpression"])
		}
		switch b := refID(got["EventBusName"]); {
		case tt.onBus && b != busID:
			t.Errorf("%s: EventBusName refers to %q; want the hub bus %s", tt.prefix, b, busID)
		case !tt.onBus && got["EventBusName"] != nil:
			t.Errorf("%s: EventBusName = %v; want the default bus", tt.prefix, got["EventBusName"])
		}
	}
}

func TestHubStackAccountListAndRates(t *testing.T) {
	accounts := []string{"111111111111", "222222222222"}
	tpl, _ := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: &HubProps{Accounts: accounts, Regions: []string{"eu-central-1"},
		SpokeRoleName: "guard", SweepWorkers: 50, RateDescribe: 8, RateMutate: 0.5}}})
	env, _ := dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", sweepWorker), "Properties", "Environment", "Variables").(map[string]any)
	for k, v := range map[string]string{envAccounts: "111111111111,222222222222", envRoleName: "guard", envRegions: "eu-central-1",
		envRateDescribe: "8", envRateMutate: "0.5"} {
		if env[k] != v {
			t.Errorf("%s = %v; want %q", k, env[k], v)
		}
	}
	esm := workerEventSource(t, tpl)
	if got := dig(esm, "Properties", "ScalingConfig", "MaximumConcurrency"); got != float64(50) {
		t.Errorf("MaximumConcurrency = %v; want 50", got)
	}
	// Without an organization there is nothing to list, and each spoke
	// role is named by its account.
	var assume []string
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		for _, st := range asList(dig(p, "Properties", "PolicyDocument", "Statement")) {
			actions := asStrings(dig(st, "Action"))
			if slices.Contains(actions, "organizations:ListAccounts") {
				t.Errorf("statement %v grants ListAccounts; want none with an account list", st)
			}
			if slices.Contains(actions, "sts:AssumeRole") {
				assume = append(assume, asStrings(dig(st, "Resource"))...)
			}
		}
	}
	slices.Sort(assume)
	want := []string{"arn:<Ref:AWS::Partition>:iam::111111111111:role/guard", "arn:<Ref:AWS::Partition>:iam::222222222222:role/guard"}
	if !slices.Equal(assume, want) {
		t.Errorf("sts:AssumeRole resources = %q; want %q", assume, want)
	}
}

// TestHubStackSweepsStackSetUnits: with a StackSet the hub sweeps where it
// deploys (ELBGUARD_ORG_UNITS) plus the listed accounts, may list those
// units' accounts, and assumes the spoke role in any account of the
// organization (an account of the units is not in the list).
func TestHubStackSweepsStackSetUnits(t *testing.T) {
	hub := orgHub()
	hub.Accounts = []string{"111111111111"}
	tpl, _ := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: hub}, StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}}})
	env, _ := dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", sweepWorker), "Properties", "Environment", "Variables").(map[string]any)
	for k, v := range map[string]string{envAccounts: "111111111111", envOrgUnits: testOrgUnit} {
		if env[k] != v {
			t.Errorf("%s = %v; want %q", k, env[k], v)
		}
	}
	if len(hub.OrgUnits) != 0 {
		t.Errorf("the caller's HubProps changed: OrgUnits %v", hub.OrgUnits)
	}
	var assume, list []string
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		for _, st := range asList(dig(p, "Properties", "PolicyDocument", "Statement")) {
			actions := asStrings(dig(st, "Action"))
			if slices.Contains(actions, "sts:AssumeRole") {
				assume = append(assume, asStrings(dig(st, "Resource"))...)
			}
			for _, a := range actions {
				if strings.HasPrefix(a, "organizations:") {
					list = append(list, a)
				}
			}
		}
	}
	slices.Sort(list)
	if want := []string{"organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"}; !slices.Equal(list, want) {
		t.Errorf("organizations actions = %q; want %q", list, want)
	}
	if want := []string{"arn:<Ref:AWS::Partition>:iam::*:role/elbguard-spoke"}; !slices.Equal(assume, want) {
		t.Errorf("sts:AssumeRole resources = %q; want %q (any account of the organization)", assume, want)
	}
}

func TestNewHubStackRejectsBadProps(t *testing.T) {
	dir := assets(t).lambdaDir
	tests := []struct {
		name    string
		props   HubStackProps
		wantErr string
	}{
		{name: "no hub", props: HubStackProps{}, wantErr: "Enforcer.Hub is nil"},
		{name: "bad organization", props: HubStackProps{Enforcer: EnforcerProps{Hub: &HubProps{OrgID: "o-1", Regions: []string{"us-east-1"}}}}, wantErr: `Hub.OrgID "o-1"`},
		{name: "StackSet without organization", props: HubStackProps{Enforcer: EnforcerProps{Hub: &HubProps{Accounts: []string{"111111111111"}, Regions: []string{"us-east-1"}}},
			StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}}}, wantErr: "Hub.OrgID is empty: a service-managed StackSet"},
		{name: "bad unit", props: HubStackProps{Enforcer: EnforcerProps{Hub: orgHub()}, StackSet: &StackSetProps{OrgUnits: []string{"ou-1"}}}, wantErr: `StackSet.OrgUnits[0] "ou-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			tt.props.Enforcer.LambdaAssetDir = dir
			_, err := NewHubStack(app, HubStackName, nil, &tt.props)
			wantInvalid(t, err, tt.wantErr)
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("app has %d children after the error; want nothing created", n)
			}
		})
	}
}

// TestBuildOrg: the organization contexts add ElbGuardHub and ElbGuardSpoke
// and leave the default ElbGuard stack exactly as it is without them.
func TestBuildOrg(t *testing.T) {
	a := assets(t)
	base := Config{Enforcer: EnforcerProps{TagKey: "team:pp", LambdaAssetDir: a.lambdaDir}}
	single := awscdk.NewApp(nil)
	if err := Build(single, base); err != nil {
		t.Fatalf("Build: %v", err)
	}
	org := base
	org.Org = OrgConfig{Hub: orgHub(), StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}},
		Spoke: &SpokeProps{HubRoleArn: testHubRole, OrgID: testOrgID}}
	app := awscdk.NewApp(nil)
	if err := Build(app, org); err != nil {
		t.Fatalf("Build(org): %v", err)
	}
	if got, want := stackNames(app), []string{StackName, HubStackName, SpokeStackName}; !reflect.DeepEqual(got, want) {
		t.Errorf("stacks = %v; want %v", got, want)
	}
	template := func(app awscdk.App, name string) map[string]any {
		return synthChecked(t, app.Node().FindChild(jsii.String(name)).(awscdk.Stack))
	}
	if got, want := template(app, StackName), template(single, StackName); !reflect.DeepEqual(got, want) {
		t.Errorf("ElbGuard changed with the organization contexts:\n%s\nwant\n%s", flat(got), flat(want))
	}
	// The spoke follows the enforcement settings of the app.
	_, role := spokeRole(t, template(app, SpokeStackName))
	if !strings.Contains(flat(dig(role, "Properties", "Policies")), "aws:ResourceTag/team:pp") {
		t.Errorf("spoke role policy does not use the app's tag key team:pp")
	}

	bad := base
	bad.Org = OrgConfig{StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}}}
	if err := Build(awscdk.NewApp(nil), bad); !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), "hub=true") {
		t.Errorf("Build(orgUnits without hub) = %v; want ErrInvalidProps asking for hub=true", err)
	}
}

// workerEventSource is the one event source mapping that feeds the sweep
// worker (the enforcer has others, such as the verification queue).
func workerEventSource(t *testing.T, tpl map[string]any) map[string]any {
	t.Helper()
	fn := idOf(t, tpl, "AWS::Lambda::Function", sweepWorker)
	var found []map[string]any
	for _, r := range resources(tpl, "AWS::Lambda::EventSourceMapping") {
		if refID(dig(r, "Properties", "FunctionName")) == fn {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d event source mappings for the sweep worker; want 1", len(found))
	}
	return found[0]
}
