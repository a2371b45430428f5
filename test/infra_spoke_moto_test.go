//go:build integration

package test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/test/harness"
)

// spokeDeployment is what a spoke template must create in one account.
type spokeDeployment struct {
	account string
	regions []string
	params  map[string]string // CloudFormation parameters; nil: the template's defaults
	// roleRegion is where the spoke role must be created (once per account).
	roleRegion string
	// hubBus is the bus ARN the forwarding rules must target, per region.
	hubBus    func(region string) string
	hubRole   string
	orgID     string
	stackName string
}

// accountConfig returns an SDK configuration acting in account: moto makes
// the account of an assumed role's ARN the caller's account.
func accountConfig(t *testing.T, base aws.Config, account string) aws.Config {
	t.Helper()
	out, err := sts.NewFromConfig(base).AssumeRole(harness.Context(t, 10*time.Second), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + account + ":role/AWSCloudFormationStackSetExecutionRole"),
		RoleSessionName: aws.String("stackset"),
	})
	if err != nil {
		t.Fatalf("assume a role in %s: %v", account, err)
	}
	cfg := base.Copy()
	c := out.Credentials
	cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
	return cfg
}

// deploySpoke creates the spoke template as a stack in every region of d
// (what the StackSet does in each account), then checks the account's spoke
// role and each region's forwarding rules.
func deploySpoke(t *testing.T, base aws.Config, body string, d spokeDeployment) {
	t.Helper()
	cfg := accountConfig(t, base, d.account)
	var params []cfntypes.Parameter
	for k, v := range d.params {
		params = append(params, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	for _, region := range d.regions {
		ctx := harness.Context(t, 30*time.Second)
		cfn := cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.Region = region })
		if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String(d.stackName), TemplateBody: aws.String(body), Parameters: params,
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam},
		}); err != nil {
			t.Fatalf("%s %s: CreateStack: %v", d.account, region, err)
		}
		st, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(d.stackName)})
		if err != nil || len(st.Stacks) != 1 {
			t.Fatalf("%s %s: DescribeStacks: %v", d.account, region, err)
		}
		if s := st.Stacks[0]; s.StackStatus != cfntypes.StackStatusCreateComplete {
			t.Fatalf("%s %s: stack %s (%s); want CREATE_COMPLETE", d.account, region, s.StackStatus, aws.ToString(s.StackStatusReason))
		}
		res, err := cfn.ListStackResources(ctx, &cloudformation.ListStackResourcesInput{StackName: aws.String(d.stackName)})
		if err != nil {
			t.Fatal(err)
		}
		hasRole := slices.ContainsFunc(res.StackResourceSummaries, func(r cfntypes.StackResourceSummary) bool {
			return aws.ToString(r.ResourceType) == "AWS::IAM::Role" && aws.ToString(r.PhysicalResourceId) == "elbguard-spoke"
		})
		if want := region == d.roleRegion; hasRole != want {
			t.Errorf("%s %s: stack created the spoke role = %v; want %v (one role per account, in %s)", d.account, region, hasRole, want, d.roleRegion)
		}

		eb := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.Region = region })
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rules.Rules) != 2 {
			t.Errorf("%s %s: %d rules; want 2 (API calls, tag changes)", d.account, region, len(rules.Rules))
		}
		var sources []string
		for _, r := range rules.Rules {
			var pattern struct {
				Source []string `json:"source"`
				Detail struct {
					EventName []string `json:"eventName"`
				} `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(r.EventPattern)), &pattern); err != nil {
				t.Fatalf("rule %s pattern: %v", aws.ToString(r.Name), err)
			}
			sources = append(sources, pattern.Source...)
			if slices.Contains(pattern.Source, events.SourceELB) {
				want := slices.Clone(events.HandledEventNames)
				slices.Sort(want)
				if got := slices.Sorted(slices.Values(pattern.Detail.EventName)); !slices.Equal(got, want) {
					t.Errorf("%s %s: API call rule matches %v; want events.HandledEventNames %v", d.account, region, got, want)
				}
			}
			tg, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
			if err != nil || len(tg.Targets) != 1 {
				t.Fatalf("%s %s: targets of %s: %v %v", d.account, region, aws.ToString(r.Name), tg, err)
			}
			if got, want := aws.ToString(tg.Targets[0].Arn), d.hubBus(region); got != want {
				t.Errorf("%s %s: rule %s forwards to %s; want %s", d.account, region, aws.ToString(r.Name), got, want)
			}
			if rr := aws.ToString(tg.Targets[0].RoleArn); !strings.HasPrefix(rr, "arn:aws:iam::"+d.account+":role/") {
				t.Errorf("%s %s: forwarding role %q; want a role of the spoke account", d.account, region, rr)
			}
		}
		slices.Sort(sources)
		if !slices.Equal(sources, []string{events.SourceELB, events.SourceTag}) {
			t.Errorf("%s %s: rule sources %v; want %s and %s", d.account, region, sources, events.SourceELB, events.SourceTag)
		}
	}

	// The spoke role (IAM is global): trusted by the hub role only, with the
	// ELB statements for this account in every region.
	ctx := harness.Context(t, 10*time.Second)
	ic := iam.NewFromConfig(cfg)
	role, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("elbguard-spoke")})
	if err != nil {
		t.Fatalf("%s: GetRole elbguard-spoke: %v", d.account, err)
	}
	if arn := aws.ToString(role.Role.Arn); arn != "arn:aws:iam::"+d.account+":role/elbguard-spoke" {
		t.Errorf("spoke role ARN %s; want it in account %s", arn, d.account)
	}
	trust := decodePolicy(t, aws.ToString(role.Role.AssumeRolePolicyDocument))
	wantTrust := `{"Statement":[{"Action":"sts:AssumeRole",` + orgCondition(d.orgID) + `"Effect":"Allow","Principal":{"AWS":"` + d.hubRole + `"}}],"Version":"2012-10-17"}`
	if trust != wantTrust {
		t.Errorf("%s: spoke trust %s; want %s", d.account, trust, wantTrust)
	}
	pol, err := ic.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("elbguard-spoke"), PolicyName: aws.String("elbguard")})
	if err != nil {
		t.Fatalf("%s: GetRolePolicy: %v", d.account, err)
	}
	doc := decodePolicy(t, aws.ToString(pol.PolicyDocument))
	for _, want := range []string{
		`"arn:aws:elasticloadbalancing:*:` + d.account + `:loadbalancer/*"`,
		`"aws:ResourceTag/elbguard:proxy-protocol"`,
		`"elasticloadbalancing:DescribeLoadBalancers"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("%s: spoke role policy lacks %s:\n%s", d.account, want, doc)
		}
	}
}

func orgCondition(orgID string) string {
	if orgID == "" {
		return ""
	}
	return `"Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"}},`
}

// decodePolicy returns a policy document (URL-encoded by IAM) as compact
// JSON with sorted keys.
func decodePolicy(t *testing.T, s string) string {
	t.Helper()
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		// Emulator gap: moto stores the inline policies of a role created by
		// CloudFormation as a Python repr ({'Statement': [...]}). Elbguard's
		// policies hold no quote characters, so swapping quotes restores
		// the JSON.
		if !strings.HasPrefix(s, "{'") {
			t.Fatalf("policy %q: %v", s, err)
		}
		if err := json.Unmarshal([]byte(strings.ReplaceAll(s, "'", `"`)), &v); err != nil {
			t.Fatalf("policy %q (Python repr): %v", s, err)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// checkSpokesDeployInMoto deploys what TestInfraSynthOrg synthesized into
// out with moto's CloudFormation: the StackSet's inline body in two
// accounts × two regions with the parameters the StackSet passes, and
// ElbGuardSpoke's template (its context defaults) in a third account.
func checkSpokesDeployInMoto(t *testing.T, out, hubRole string) {
	t.Helper()
	m := harness.StartMoto(t)
	base := m.Config(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const hubAccount, hubRegion = "111111111111", "eu-west-1"
	regions := []string{"us-east-1", "eu-west-1"}
	body := read("ElbGuardHub.SpokeStackSet.stackset.json")
	for _, account := range []string{"222222222222", "333333333333"} {
		deploySpoke(t, base, body, spokeDeployment{
			account: account, regions: regions, roleRegion: regions[0], stackName: "StackSet-elbguard-spoke",
			params: map[string]string{"HubRoleArn": hubRole, "HubAccount": hubAccount, "HubRegion": hubRegion, "RoleRegion": regions[0]},
			hubBus: func(string) string {
				return "arn:aws:events:" + hubRegion + ":" + hubAccount + ":event-bus/elbguard-hub"
			},
			hubRole: hubRole, orgID: "o-a1b2c3d4e5",
		})
	}
	// By hand, in one region: the defaults from context (hub bus in the
	// spoke's own region).
	deploySpoke(t, base, read("ElbGuardSpoke.template.json"), spokeDeployment{
		account: "444444444444", regions: []string{"us-west-2"}, roleRegion: "us-west-2", stackName: "ElbGuardSpoke",
		hubBus:  func(r string) string { return "arn:aws:events:" + r + ":" + hubAccount + ":event-bus/elbguard-hub" },
		hubRole: hubRole, orgID: "o-a1b2c3d4e5",
	})
}
