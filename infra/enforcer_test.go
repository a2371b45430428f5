//go:build integration

package infra

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/fleet"
)

const (
	enforcerFn = "EnforcerEnforcerFunction"
	sweeperFn  = "EnforcerSweeperFunction"
)

// idOf returns the logical id of the single resource of typ whose id starts
// with prefix.
func idOf(t *testing.T, tpl map[string]any, typ, prefix string) string {
	t.Helper()
	for id := range resources(tpl, typ) {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	t.Fatalf("no %s with id prefix %s", typ, prefix)
	return ""
}

func TestEnforcerFunctions(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{})
	if n := len(resources(tpl, "AWS::Lambda::Function")); n != 2 {
		t.Fatalf("got %d functions; want 2 (enforcer, sweeper)", n)
	}
	tests := []struct {
		prefix       string
		timeout      float64
		reserved     any
		retries      float64
		wantMaxAgeS  float64
		wantLogGroup string
		wantEnv      func(*testing.T, map[string]any) map[string]any
	}{
		{prefix: enforcerFn, timeout: 60, reserved: float64(2), retries: 2, wantMaxAgeS: 3600, wantLogGroup: "EnforcerEnforcerLogGroup",
			wantEnv: func(t *testing.T, tpl map[string]any) map[string]any {
				env := defaultEnv(t, tpl)
				env[fleet.EnvSelfRoleARN] = map[string]any{"Fn::GetAtt": []any{idOf(t, tpl, "AWS::IAM::Role", "EnforcerRole"), "Arn"}}
				env[fleet.EnvRecheckQueueURL] = map[string]any{"Ref": idOf(t, tpl, "AWS::SQS::Queue", "EnforcerRecheckQueue")}
				return env
			}},
		{prefix: sweeperFn, timeout: 900, reserved: nil, retries: 0, wantMaxAgeS: 3600, wantLogGroup: "EnforcerSweeperLogGroup",
			wantEnv: defaultEnv},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			fn := withIDPrefix(t, tpl, "AWS::Lambda::Function", tt.prefix)
			p := fn["Properties"].(map[string]any)
			checks := []struct {
				what string
				got  any
				want any
			}{
				{"Runtime", p["Runtime"], "provided.al2023"},
				{"Architectures", flat(p["Architectures"]), "[arm64]"},
				{"Handler", p["Handler"], "bootstrap"},
				{"Timeout", p["Timeout"], tt.timeout},
				{"ReservedConcurrentExecutions", p["ReservedConcurrentExecutions"], tt.reserved},
				{"LoggingConfig.LogFormat", dig(p, "LoggingConfig", "LogFormat"), "JSON"},
				{"Environment", dig(p, "Environment", "Variables"), tt.wantEnv(t, tpl)},
			}
			for _, c := range checks {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %v; want %v", c.what, c.got, c.want)
				}
			}
			lg := refID(dig(p, "LoggingConfig", "LogGroup"))
			if !strings.HasPrefix(lg, tt.wantLogGroup) {
				t.Fatalf("LoggingConfig.LogGroup = %q; want the function's own log group %s*", lg, tt.wantLogGroup)
			}
			if got := dig(resources(tpl, "AWS::Logs::LogGroup")[lg], "Properties", "RetentionInDays"); got != float64(30) {
				t.Errorf("log group retention = %v; want 30 days", got)
			}
			role := refID(p["Role"])
			if got := dig(resources(tpl, "AWS::IAM::Role")[role], "Properties", "ManagedPolicyArns"); got != nil {
				t.Errorf("role %s has managed policies %v; want none", role, got)
			}

			// Asynchronous invocation: retries, then the failure queue.
			var cfg map[string]any
			for _, r := range resources(tpl, "AWS::Lambda::EventInvokeConfig") {
				if refID(dig(r, "Properties", "FunctionName")) == idOf(t, tpl, "AWS::Lambda::Function", tt.prefix) {
					cfg = r["Properties"].(map[string]any)
				}
			}
			if cfg == nil {
				t.Fatal("no EventInvokeConfig; want an on-failure destination")
			}
			if got := refID(dig(cfg, "DestinationConfig", "OnFailure", "Destination")); !strings.HasPrefix(got, "EnforcerFailureQueue") {
				t.Errorf("on-failure destination = %q; want EnforcerFailureQueue", got)
			}
			if cfg["MaximumRetryAttempts"] != tt.retries || cfg["MaximumEventAgeInSeconds"] != tt.wantMaxAgeS {
				t.Errorf("retries/max age = %v/%v; want %v/%v", cfg["MaximumRetryAttempts"], cfg["MaximumEventAgeInSeconds"], tt.retries, tt.wantMaxAgeS)
			}
		})
	}
}

func defaultEnv(t *testing.T, tpl map[string]any) map[string]any {
	return map[string]any{
		fleet.EnvTagKey: "elbguard:proxy-protocol", fleet.EnvDefaultMode: "off",
		fleet.EnvDryRun: "false", fleet.EnvConcurrency: "8", fleet.EnvMaxChanges: "10", fleet.EnvMaxErrors: "3",
		fleet.EnvVerifyQueueURL:   map[string]any{"Ref": idOf(t, tpl, "AWS::SQS::Queue", "EnforcerVerifyQueue")},
		fleet.EnvVerifyWindow:     "90s",
		fleet.EnvRestoreKeySecret: map[string]any{"Ref": idOf(t, tpl, "AWS::SecretsManager::Secret", "EnforcerRestoreKey")},
	}
}

func TestEnforcerRules(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{})
	rules := resources(tpl, "AWS::Events::Rule")
	if len(rules) != 3 {
		t.Fatalf("got %d rules; want 3 (API calls, tag changes, schedule)", len(rules))
	}
	wantNames := slices.Clone(events.HandledEventNames)
	sort.Strings(wantNames)
	tests := []struct {
		prefix      string
		wantPattern map[string]any
		wantSched   any
		wantTarget  string
	}{
		{
			prefix: "EnforcerApiCallRule",
			wantPattern: map[string]any{
				"source":      []any{"aws.elasticloadbalancing"},
				"detail-type": []any{"AWS API Call via CloudTrail"},
				"detail": map[string]any{
					"eventSource": []any{"elasticloadbalancing.amazonaws.com"},
					"eventName":   toAny(wantNames),
					"errorCode":   []any{map[string]any{"exists": false}},
				},
			},
			wantTarget: enforcerFn,
		},
		{
			prefix: "EnforcerTagChangeRule",
			wantPattern: map[string]any{
				"source":      []any{"aws.tag"},
				"detail-type": []any{"Tag Change on Resource"},
				"detail":      map[string]any{"service": []any{"elasticloadbalancing"}},
			},
			wantTarget: enforcerFn,
		},
		{prefix: "EnforcerSweepSchedule", wantSched: "rate(1 hour)", wantTarget: sweeperFn},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			p := withIDPrefix(t, tpl, "AWS::Events::Rule", tt.prefix)["Properties"].(map[string]any)
			if tt.wantPattern != nil && !reflect.DeepEqual(p["EventPattern"], tt.wantPattern) {
				t.Errorf("EventPattern = %v; want %v", p["EventPattern"], tt.wantPattern)
			}
			if tt.wantSched != nil && p["ScheduleExpression"] != tt.wantSched {
				t.Errorf("ScheduleExpression = %v; want %v", p["ScheduleExpression"], tt.wantSched)
			}
			targets, _ := p["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("got %d targets; want 1", len(targets))
			}
			target := targets[0]
			if got := refID(dig(target, "Arn")); !strings.HasPrefix(got, tt.wantTarget) {
				t.Errorf("target = %s; want %s", got, tt.wantTarget)
			}
			if got := refID(dig(target, "DeadLetterConfig", "Arn")); !strings.HasPrefix(got, "EnforcerEventDeadLetterQueue") {
				t.Errorf("target dead-letter queue = %q; want EnforcerEventDeadLetterQueue", got)
			}
			if got := dig(target, "RetryPolicy"); !reflect.DeepEqual(got, map[string]any{"MaximumRetryAttempts": float64(8), "MaximumEventAgeInSeconds": float64(7200)}) {
				t.Errorf("RetryPolicy = %v; want 8 attempts within 2 hours", got)
			}
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestEnforcerQueuesAndTopic(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{})
	queues := resources(tpl, "AWS::SQS::Queue")
	if len(queues) != 5 {
		t.Fatalf("got %d queues; want 5 (event dead-letter queue, failure queue, verification queue, recheck queue and its dead-letter queue)", len(queues))
	}
	for id, q := range queues {
		if got := dig(q, "Properties", "SqsManagedSseEnabled"); got != true {
			t.Errorf("%s: SqsManagedSseEnabled = %v; want true", id, got)
		}
		if !denyInsecureTransport(tpl, "AWS::SQS::QueuePolicy", "Queues", id) {
			t.Errorf("%s: no queue policy denying aws:SecureTransport=false", id)
		}
	}
	topicID, topic := only(t, tpl, "AWS::SNS::Topic")
	if got := refID(dig(topic, "Properties", "KmsMasterKeyId")); !strings.HasPrefix(got, "EnforcerAlarmKey") {
		t.Errorf("topic KmsMasterKeyId = %q; want the stack's AlarmKey", got)
	}
	if !denyInsecureTransport(tpl, "AWS::SNS::TopicPolicy", "Topics", topicID) {
		t.Errorf("no topic policy denying aws:SecureTransport=false")
	}
	_, key := only(t, tpl, "AWS::KMS::Key")
	if dig(key, "Properties", "EnableKeyRotation") != true {
		t.Errorf("alarm key rotation disabled; want enabled")
	}
	if !strings.Contains(flat(dig(key, "Properties", "KeyPolicy")), "cloudwatch.amazonaws.com") {
		t.Errorf("alarm key policy does not let CloudWatch alarms use it")
	}
	if n := len(resources(tpl, "AWS::SNS::Subscription")); n != 0 {
		t.Errorf("got %d subscriptions without AlarmEmail; want 0", n)
	}

	tpl, _ = enforcerStack(t, EnforcerProps{AlarmEmail: "ops@example.com"})
	_, sub := only(t, tpl, "AWS::SNS::Subscription")
	if p := sub["Properties"].(map[string]any); p["Protocol"] != "email" || p["Endpoint"] != "ops@example.com" {
		t.Errorf("subscription = %v; want email to ops@example.com", p)
	}
}

// denyInsecureTransport reports whether a policy resource of typ attached
// (through list property prop) to logical id denies non-TLS requests.
func denyInsecureTransport(tpl map[string]any, typ, prop, id string) bool {
	for _, pol := range resources(tpl, typ) {
		attached := false
		for _, ref := range dig(pol, "Properties", prop).([]any) {
			attached = attached || refID(ref) == id
		}
		if !attached {
			continue
		}
		for _, st := range dig(pol, "Properties", "PolicyDocument", "Statement").([]any) {
			if dig(st, "Effect") == "Deny" && dig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
				return true
			}
		}
	}
	return false
}

func TestEnforcerAlarms(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{})
	topicID, _ := only(t, tpl, "AWS::SNS::Topic")
	alarms := resources(tpl, "AWS::CloudWatch::Alarm")
	want := map[string]string{ // alarm id prefix -> what it watches
		"EnforcerEventDeadLetterAlarm": "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=<GetAtt:EnforcerEventDeadLetterQueue",
		"EnforcerFailureQueueAlarm":    "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=<GetAtt:EnforcerFailureQueue",
		"EnforcerEnforcerErrorsAlarm":  "AWS/Lambda Errors FunctionName=<Ref:" + enforcerFn,
		"EnforcerSweeperErrorsAlarm":   "AWS/Lambda Errors FunctionName=<Ref:" + sweeperFn,
		"EnforcerSweepErrorAlarm":      fleet.MetricNamespace + " Error " + fleet.DimensionFunction + "=" + fleet.FunctionSweeper,
		"EnforcerEnforceErrorAlarm":    fleet.MetricNamespace + " Error " + fleet.DimensionFunction + "=" + fleet.FunctionEnforcer,
		"EnforcerNonCompliantAlarm":    fleet.MetricNamespace + " " + fleet.MetricNonCompliant + " " + fleet.DimensionFunction + "=" + fleet.FunctionSweeper,
		"EnforcerRolledBackAlarm":      fleet.MetricNamespace + " RolledBack " + fleet.DimensionFunction + "=" + fleet.FunctionEnforcer,
		"EnforcerDeferredAlarm":        fleet.MetricNamespace + " " + fleet.MetricDeferred + " " + fleet.DimensionFunction + "=" + fleet.FunctionSweeper,
	}
	if len(alarms) != len(want) {
		t.Errorf("got %d alarms; want %d", len(alarms), len(want))
	}
	for prefix, watch := range want {
		p := withIDPrefix(t, tpl, "AWS::CloudWatch::Alarm", prefix)["Properties"].(map[string]any)
		var dims []string
		for _, d := range p["Dimensions"].([]any) {
			dims = append(dims, flat(dig(d, "Name"))+"="+flat(dig(d, "Value")))
		}
		got := flat(p["Namespace"]) + " " + flat(p["MetricName"]) + " " + strings.Join(dims, ",")
		if !strings.HasPrefix(got, watch) {
			t.Errorf("%s watches %q; want %q", prefix, got, watch)
		}
		if p["Threshold"] != float64(0) || p["ComparisonOperator"] != "GreaterThanThreshold" || p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: threshold %v %v, missing data %v; want > 0, notBreaching", prefix, p["ComparisonOperator"], p["Threshold"], p["TreatMissingData"])
		}
		if actions := p["AlarmActions"].([]any); len(actions) != 1 || refID(actions[0]) != topicID {
			t.Errorf("%s: AlarmActions = %v; want the alarm topic", prefix, actions)
		}
	}
}

// statement is an IAM policy statement of the template.
type statement struct {
	sid       string
	actions   []string
	resources []string
	condition any
}

// roleStatements returns the statements of every AWS::IAM::Policy attached
// to the role of the function with id prefix fnPrefix, failing the test on a
// wildcard action or a Deny.
func roleStatements(t *testing.T, tpl map[string]any, fnPrefix string) []statement {
	t.Helper()
	role := refID(dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", fnPrefix), "Properties", "Role"))
	var out []statement
	for id, pol := range resources(tpl, "AWS::IAM::Policy") {
		attached := false
		for _, r := range dig(pol, "Properties", "Roles").([]any) {
			attached = attached || refID(r) == role
		}
		if !attached {
			continue
		}
		for _, st := range dig(pol, "Properties", "PolicyDocument", "Statement").([]any) {
			sid, _ := dig(st, "Sid").(string)
			s := statement{sid: sid, actions: strs(dig(st, "Action")), resources: strs(dig(st, "Resource")), condition: dig(st, "Condition")}
			for _, a := range s.actions {
				if strings.Contains(a, "*") {
					t.Errorf("policy %s grants wildcard action %q", id, a)
				}
			}
			if dig(st, "Effect") != "Allow" || dig(st, "NotAction") != nil || dig(st, "NotResource") != nil {
				t.Errorf("policy %s: statement %v; want plain Allow statements", id, st)
			}
			out = append(out, s)
		}
	}
	return out
}

func elbArnPattern(resource string) string {
	return "arn:<Ref:AWS::Partition>:elasticloadbalancing:<Ref:AWS::Region>:<Ref:AWS::AccountId>:" + resource
}

func TestEnforcerIAM(t *testing.T) {
	optIn := map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/elbguard:proxy-protocol": "enforce"}}
	tests := []struct {
		name        string
		props       EnforcerProps
		wantWrites  bool
		wantLBCond  any
		wantTagKeys string
	}{
		{name: "opt-in (default mode off)", props: EnforcerProps{}, wantWrites: true, wantLBCond: optIn},
		{name: "default mode audit", props: EnforcerProps{DefaultMode: "audit"}, wantWrites: true, wantLBCond: optIn},
		{name: "default mode enforce", props: EnforcerProps{DefaultMode: "enforce"}, wantWrites: true,
			wantLBCond: map[string]any{"StringNotEqualsIgnoreCase": map[string]any{"aws:ResourceTag/elbguard:proxy-protocol": []any{"off", "audit"}}}},
		{name: "custom tag key", props: EnforcerProps{TagKey: "team:pp"}, wantWrites: true,
			wantLBCond: map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/team:pp": "enforce"}}},
		{name: "dry run", props: EnforcerProps{DryRun: true, DefaultMode: "enforce"}, wantWrites: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, _ := enforcerStack(t, tt.props)
			if n := len(resources(tpl, "AWS::IAM::Role")); n != 1 {
				t.Errorf("got %d roles; want 1 shared by both functions", n)
			}
			for _, fn := range []string{enforcerFn, sweeperFn} {
				got := map[string]statement{}
				for _, s := range roleStatements(t, tpl, fn) {
					key := s.sid
					if key == "" {
						key = strings.Join(append(slices.Clone(s.actions), s.resources...), ",")
					}
					got[key] = s
				}
				logs := func(fn string) (string, statement) {
					r := "<GetAtt:" + idOf(t, tpl, "AWS::Logs::LogGroup", strings.Replace(fn, "Function", "LogGroup", 1)) + ".Arn>"
					return "logs:CreateLogStream,logs:PutLogEvents," + r, statement{actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, resources: []string{r}}
				}
				queue := "<GetAtt:" + idOf(t, tpl, "AWS::SQS::Queue", "EnforcerFailureQueue") + ".Arn>"
				want := map[string]statement{
					"ReadLoadBalancers": {sid: "ReadLoadBalancers", actions: sortedCopy(ReadActions), resources: []string{"*"}},
					// The on-failure destination.
					"sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage," + queue: {
						actions: []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}, resources: []string{queue}},
				}
				for _, f := range []string{enforcerFn, sweeperFn} {
					k, v := logs(f)
					want[k] = v
				}
				// The restore key (restorekey.go): read at start-up, also in a dry run.
				secret := "<Ref:" + idOf(t, tpl, "AWS::SecretsManager::Secret", "EnforcerRestoreKey") + ">"
				want["secretsmanager:DescribeSecret,secretsmanager:GetSecretValue,"+secret] = statement{
					actions: []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}, resources: []string{secret}}
				if tt.wantWrites {
					// The registration debounce (recheck.go): send and consume.
					recheck := "<GetAtt:" + idOf(t, tpl, "AWS::SQS::Queue", "EnforcerRecheckQueue") + ".Arn>"
					want["sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage,"+recheck] = statement{
						actions: []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}, resources: []string{recheck}}
					consumeRecheck := []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
					want[strings.Join(consumeRecheck, ",")+","+recheck] = statement{actions: consumeRecheck, resources: []string{recheck}}
					want["RemediateLoadBalancers"] = statement{sid: "RemediateLoadBalancers", actions: sortedCopy(LoadBalancerWriteActions),
						resources: []string{elbArnPattern("loadbalancer/*")}, condition: tt.wantLBCond}
					tagCond := map[string]any{"ForAllValues:StringLike": map[string]any{"aws:TagKeys": RestoreTagKeys}}
					for k, v := range tt.wantLBCond.(map[string]any) {
						tagCond[k] = v
					}
					want["KeepRemovedListenersInTags"] = statement{sid: "KeepRemovedListenersInTags", actions: RestoreTagActions,
						resources: []string{elbArnPattern("loadbalancer/*")}, condition: tagCond}
					want["ReadListenerCertificates"] = statement{sid: "ReadListenerCertificates", actions: CertificateReadActions,
						resources: []string{"arn:<Ref:AWS::Partition>:acm:<Ref:AWS::Region>:<Ref:AWS::AccountId>:certificate/*",
							"arn:<Ref:AWS::Partition>:iam::<Ref:AWS::AccountId>:server-certificate/*"}}
					want["RemediateTargetGroups"] = statement{sid: "RemediateTargetGroups", actions: TargetGroupWriteActions,
						resources: []string{elbArnPattern("targetgroup/*")}}
					want["RemediateNetworkListeners"] = statement{sid: "RemediateNetworkListeners", actions: ListenerWriteActions,
						resources: []string{elbArnPattern("listener/net/*")}}
					// The verification (verify.go): tag the load balancer
					// it rolled back, with that one key; send and consume
					// the delayed checks.
					cond := map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{engine.TagHealthDropped}}}
					for k, v := range tt.wantLBCond.(map[string]any) {
						cond[k] = v
					}
					want["MarkHealthDropped"] = statement{sid: "MarkHealthDropped", actions: HealthDroppedTagActions,
						resources: []string{elbArnPattern("loadbalancer/*")}, condition: cond}
					want["MarkHealthDroppedTargetGroups"] = statement{sid: "MarkHealthDroppedTargetGroups", actions: HealthDroppedTagActions,
						resources: []string{elbArnPattern("targetgroup/*")}, condition: map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{engine.TagHealthDropped}}}}
					verify := "<GetAtt:" + idOf(t, tpl, "AWS::SQS::Queue", "EnforcerVerifyQueue") + ".Arn>"
					want["sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage,"+verify] = statement{
						actions: []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}, resources: []string{verify}}
					consume := []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
					want[strings.Join(consume, ",")+","+verify] = statement{actions: consume, resources: []string{verify}}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s role statements:\n got %+v\nwant %+v", fn, got, want)
				}
			}
		})
	}
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

// TestEnforcerWriteActionsMatchEngine pins the granted mutating actions to
// the list: every one the engine calls, and no other.
func TestEnforcerWriteActionsMatchEngine(t *testing.T) {
	var got []string
	for _, l := range [][]string{LoadBalancerWriteActions, TargetGroupWriteActions, ListenerWriteActions, RestoreTagActions} {
		got = append(got, l...)
	}
	sort.Strings(got)
	want := []string{
		"elasticloadbalancing:AddTags",
		"elasticloadbalancing:CreateLoadBalancerListeners",
		"elasticloadbalancing:CreateLoadBalancerPolicy",
		"elasticloadbalancing:DeleteLoadBalancerListeners",
		"elasticloadbalancing:ModifyListenerAttributes",
		"elasticloadbalancing:ModifyLoadBalancerAttributes",
		"elasticloadbalancing:ModifyTargetGroupAttributes",
		"elasticloadbalancing:RemoveTags",
		"elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
		"elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mutating actions = %v; want %v", got, want)
	}
}

func TestEnforcerCustomProps(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{TagKey: "team:pp", DefaultMode: "Enforce", DryRun: true,
		SweepSchedule: "cron(0/30 * * * ? *)", Concurrency: 16, ReservedConcurrency: -1, MaxChanges: 50, MaxErrors: 1,
		IaCTags: []string{"ManagedBy=terraform", "crossplane.io/claim-name"}})
	p := withIDPrefix(t, tpl, "AWS::Lambda::Function", enforcerFn)["Properties"].(map[string]any)
	wantEnv := map[string]any{fleet.EnvTagKey: "team:pp", fleet.EnvDefaultMode: "enforce", fleet.EnvDryRun: "true", fleet.EnvConcurrency: "16",
		fleet.EnvMaxChanges: "50", fleet.EnvMaxErrors: "1", fleet.EnvIaCTags: "ManagedBy=terraform,crossplane.io/claim-name"}
	got := dig(p, "Environment", "Variables").(map[string]any)
	delete(got, fleet.EnvSelfRoleARN)
	delete(got, fleet.EnvRestoreKeySecret)
	if !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("environment = %v; want %v", got, wantEnv)
	}
	if got, ok := p["ReservedConcurrentExecutions"]; ok {
		t.Errorf("ReservedConcurrentExecutions = %v; want none with ReservedConcurrency -1", got)
	}
	if got := dig(withIDPrefix(t, tpl, "AWS::Events::Rule", "EnforcerSweepSchedule"), "Properties", "ScheduleExpression"); got != "cron(0/30 * * * ? *)" {
		t.Errorf("ScheduleExpression = %v; want cron(0/30 * * * ? *)", got)
	}
	if n := len(resources(tpl, "AWS::CloudTrail::Trail")); n != 0 {
		t.Errorf("got %d trails without CreateTrail; want 0", n)
	}
}

func TestEnforcerTrail(t *testing.T) {
	tpl, e := enforcerStack(t, EnforcerProps{CreateTrail: true})
	if e.Trail == nil || e.TrailBucket == nil {
		t.Fatal("Enforcer.Trail/TrailBucket nil with CreateTrail; want set")
	}
	_, trail := only(t, tpl, "AWS::CloudTrail::Trail")
	p := trail["Properties"].(map[string]any)
	want := map[string]any{"IsMultiRegionTrail": false, "IncludeGlobalServiceEvents": false, "EnableLogFileValidation": true, "IsLogging": true}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("trail %s = %v; want %v", k, p[k], v)
		}
	}
	if got := flat(p["EventSelectors"]); got != `[{"IncludeManagementEvents":true,"ReadWriteType":"WriteOnly"}]` {
		t.Errorf("EventSelectors = %s; want write-only management events", got)
	}
	_, bucket := only(t, tpl, "AWS::S3::Bucket")
	if got := flat(dig(bucket, "Properties", "PublicAccessBlockConfiguration")); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
		t.Errorf("trail bucket public access block = %s; want all blocked", got)
	}
}

func TestNewEnforcerInvalidPropsCreatesNothing(t *testing.T) {
	dir := assets(t).lambdaDir
	tests := []struct {
		name  string
		props EnforcerProps
		want  string
	}{
		{name: "bad mode", props: EnforcerProps{DefaultMode: "on", LambdaAssetDir: dir}, want: "DefaultMode"},
		{name: "missing assets", props: EnforcerProps{LambdaAssetDir: t.TempDir()}, want: "enforcer/bootstrap missing (run make build-lambda)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			stack := awscdk.NewStack(app, jsii.String("S"), nil)
			e, err := NewEnforcer(stack, jsii.String("Enforcer"), &tt.props)
			if e != nil || !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewEnforcer() = %v, %v; want nil and an ErrInvalidProps error containing %q", e, err, tt.want)
			}
			if n := len(*stack.Node().Children()); n != 0 {
				t.Errorf("stack has %d children after a failed NewEnforcer; want 0", n)
			}
		})
	}
}
