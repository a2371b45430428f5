//go:build integration

package infra

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/fleet"
)

func TestComplianceOffByDefault(t *testing.T) {
	tpl, _ := enforcerStack(t, EnforcerProps{})
	if n := len(resources(tpl, "AWS::Config::ConfigRule")); n != 0 {
		t.Errorf("got %d Config rules; want none by default (Config recording costs money)", n)
	}
	for _, st := range roleStatements(t, tpl, enforcerFn) {
		for _, a := range st.actions {
			if strings.HasPrefix(a, "securityhub:") || strings.HasPrefix(a, "sns:") {
				t.Errorf("got %s by default; want no Security Hub or SNS permission", a)
			}
		}
	}
}

func TestComplianceAll(t *testing.T) {
	tpl, e := enforcerStack(t, EnforcerProps{Compliance: ComplianceProps{SecurityHub: true, NotifyEmail: "oncall@example.com", ConfigRule: true}})

	// Security Hub: BatchImportFindings on the default product and
	// GetFindings (the first CreatedAt, archives of existing findings only)
	// on the account's own hub.
	var hub []statement
	for _, st := range roleStatements(t, tpl, enforcerFn) {
		for _, a := range st.actions {
			if strings.HasPrefix(a, "securityhub:") {
				hub = append(hub, st)
			}
		}
	}
	if len(hub) != 2 || !slices.Equal(hub[0].actions, []string{"securityhub:BatchImportFindings"}) ||
		len(hub[0].resources) != 1 || !strings.HasSuffix(hub[0].resources[0], ":product/<Ref:AWS::AccountId>/default") ||
		!slices.Equal(hub[1].actions, []string{"securityhub:GetFindings"}) ||
		len(hub[1].resources) != 1 || !strings.HasSuffix(hub[1].resources[0], ":<Ref:AWS::AccountId>:hub/default") {
		t.Errorf("got Security Hub statements %+v; want BatchImportFindings on the default product and GetFindings on the account's hub only", hub)
	}
	for _, fn := range []string{enforcerFn, sweeperFn} {
		env := dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", fn), "Properties", "Environment", "Variables").(map[string]any)
		if env[fleet.EnvSecurityHub] != "true" || env[fleet.EnvNotifyTopicARN] == nil {
			t.Errorf("%s: environment %v; want %s and %s", fn, env, fleet.EnvSecurityHub, fleet.EnvNotifyTopicARN)
		}
	}

	// Notifications: an encrypted topic with the e-mail subscription.
	if e.Compliance.NotifyTopic == nil {
		t.Fatal("no NotifyTopic")
	}
	topic := withIDPrefix(t, tpl, "AWS::SNS::Topic", "EnforcerNotifyTopic")
	if dig(topic, "Properties", "KmsMasterKeyId") == nil {
		t.Errorf("notify topic %v; want encrypted", topic)
	}
	var email bool
	for _, sub := range resources(tpl, "AWS::SNS::Subscription") {
		email = email || dig(sub, "Properties", "Endpoint") == "oncall@example.com"
	}
	if !email {
		t.Error("no e-mail subscription for notifyEmail")
	}

	// Publish failures are alarmed.
	alarm := withIDPrefix(t, tpl, "AWS::CloudWatch::Alarm", "EnforcerPublishFailuresAlarm")
	if dig(alarm, "Properties", "MetricName") != fleet.MetricPublishFailures {
		t.Errorf("alarm %v; want on %s", alarm, fleet.MetricPublishFailures)
	}

	// The Config rule: both load balancer types, changes and periodic, a
	// read-only role.
	_, rule := only(t, tpl, "AWS::Config::ConfigRule")
	scope := strs(dig(rule, "Properties", "Scope", "ComplianceResourceTypes"))
	slices.Sort(scope)
	if !slices.Equal(scope, []string{"AWS::ElasticLoadBalancing::LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer"}) {
		t.Errorf("rule scope %v; want Classic and ELBv2 load balancers", scope)
	}
	if dig(rule, "Properties", "ConfigRuleName") != "elbguard-proxy-protocol" || !strings.Contains(flat(rule), "ScheduledNotification") ||
		!strings.Contains(flat(rule), "ConfigurationItemChangeNotification") {
		t.Errorf("rule %s; want elbguard-proxy-protocol on changes and on a schedule", flat(rule))
	}
	for _, st := range roleStatements(t, tpl, "EnforcerConfigRuleFunction") {
		for _, a := range st.actions {
			if a != "config:PutEvaluations" && !slices.Contains(ReadActions, a) && !strings.HasPrefix(a, "logs:") {
				t.Errorf("Config rule role grants %s; want ELB reads and config:PutEvaluations only", a)
			}
		}
	}
	env := dig(withIDPrefix(t, tpl, "AWS::Lambda::Function", "EnforcerConfigRuleFunction"), "Properties", "Environment", "Variables").(map[string]any)
	if env[fleet.EnvDryRun] != "true" {
		t.Errorf("Config rule environment %v; want dry run", env)
	}
}

func TestComplianceProps(t *testing.T) {
	err := EnforcerProps{Compliance: ComplianceProps{NotifyEmail: "Ops <ops@example.com>"}}.Validate()
	if !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), "NotifyEmail") {
		t.Errorf("got %v; want an error naming NotifyEmail", err)
	}
	cfg, err := ConfigFromContext(func(k string) any {
		return map[string]any{CtxSecurityHub: "true", CtxNotifyEmail: "a@example.com", CtxConfigRule: true}[k]
	})
	if err != nil || cfg.Enforcer.Compliance != (ComplianceProps{SecurityHub: true, NotifyEmail: "a@example.com", ConfigRule: true}) {
		t.Errorf("got %+v, %v; want the compliance context read", cfg.Enforcer.Compliance, err)
	}
}
