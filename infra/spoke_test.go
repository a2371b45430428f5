//go:build integration

package infra

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

const testHubRole = "arn:aws:iam::111111111111:role/ElbGuardHub-EnforcerRole61B23341-AbCdEf"

// spokeStack synthesizes an ElbGuardSpoke stack under the cdk-nag checks.
// It needs no assets.
func spokeStack(t *testing.T, props SpokeProps) (map[string]any, *Spoke) {
	t.Helper()
	assets(t) // node check
	app := awscdk.NewApp(nil)
	s, err := NewSpokeStack(app, SpokeStackName, nil, &props)
	if err != nil {
		t.Fatalf("NewSpokeStack: %v", err)
	}
	AddNagChecks(app)
	return synthChecked(t, s.Stack), s
}

// spokeRole returns the template's one role with a RoleName (the spoke role).
func spokeRole(t *testing.T, tpl map[string]any) (string, map[string]any) {
	t.Helper()
	var id string
	var role map[string]any
	for k, r := range resources(tpl, "AWS::IAM::Role") {
		if dig(r, "Properties", "RoleName") != nil {
			if role != nil {
				t.Fatalf("two named roles %s and %s; want one", id, k)
			}
			id, role = k, r
		}
	}
	if role == nil {
		t.Fatal("no named role in the template")
	}
	return id, role
}

// elbPolicyOf renders a list of statements as text with the region part
// replaced by "*", for comparison across stacks.
func elbPolicyOf(statements []any) []string {
	var out []string
	for _, st := range statements {
		sid, _ := dig(st, "Sid").(string)
		if !strings.HasPrefix(sid, "ReadLoadBalancers") && !strings.HasPrefix(sid, "Remediate") {
			continue
		}
		out = append(out, strings.ReplaceAll(flat(st), `":elasticloadbalancing:",{"Ref":"AWS::Region"},":",`, `":elasticloadbalancing:*:",`))
	}
	slices.Sort(out)
	return out
}

// TestSpokeRolePolicyIsTheSingleAccountPolicy: the spoke role's statements
// are the single-account role's, for every region, in each mode.
func TestSpokeRolePolicyIsTheSingleAccountPolicy(t *testing.T) {
	for _, tt := range []struct {
		name  string
		props EnforcerProps
	}{
		{"opt-in", EnforcerProps{}},
		{"enforce, custom tag key", EnforcerProps{DefaultMode: "enforce", TagKey: "team:pp"}},
		{"dry run", EnforcerProps{DryRun: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			single, _ := enforcerStack(t, tt.props)
			var want []string
			for _, p := range resources(single, "AWS::IAM::Policy") {
				want = append(want, elbPolicyOf(asList(dig(p, "Properties", "PolicyDocument", "Statement")))...)
			}
			slices.Sort(want)
			tpl, _ := spokeStack(t, SpokeProps{TagKey: tt.props.TagKey, DefaultMode: tt.props.DefaultMode, DryRun: tt.props.DryRun, HubRoleArn: testHubRole})
			_, role := spokeRole(t, tpl)
			var got []string
			for _, p := range asList(dig(role, "Properties", "Policies")) {
				got = append(got, elbPolicyOf(asList(dig(p, "PolicyDocument", "Statement")))...)
			}
			slices.Sort(got)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("spoke role statements:\n%s\nwant the single-account role's (region *):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if strings.Contains(strings.Join(got, ""), "AWS::Region") {
				t.Errorf("spoke role statements name the stack's region; want every region")
			}
		})
	}
}

func TestSpokeStack(t *testing.T) {
	tpl, s := spokeStack(t, SpokeProps{HubRoleArn: testHubRole, OrgID: testOrgID, HubRegion: "eu-west-1", RoleRegion: "us-east-1"})
	if s.Props.HubAccount != "111111111111" || s.Props.RoleName != DefaultSpokeRoleName {
		t.Errorf("Props = %+v; want the hub account from the role ARN and the default role name", s.Props)
	}
	for _, typ := range []string{"AWS::Lambda::Function", "AWS::S3::Bucket", "AWS::SQS::Queue"} {
		if n := len(resources(tpl, typ)); n != 0 {
			t.Errorf("spoke has %d %s; want none", n, typ)
		}
	}
	if strings.Contains(flat(tpl), "BootstrapVersion") || strings.Contains(flat(tpl), "cdk-hnb659fds") {
		t.Errorf("spoke template refers to the CDK bootstrap; want it deployable without one")
	}
	params, _ := tpl["Parameters"].(map[string]any)
	for name, def := range map[string]string{ParamHubRoleArn: testHubRole, ParamHubAccount: "111111111111", ParamHubRegion: "eu-west-1", ParamRoleRegion: "us-east-1"} {
		if got := dig(params, name, "Default"); got != def {
			t.Errorf("parameter %s default = %v; want %q", name, got, def)
		}
	}

	id, role := spokeRole(t, tpl)
	if got := dig(role, "Properties", "RoleName"); got != DefaultSpokeRoleName {
		t.Errorf("RoleName = %v; want %s", got, DefaultSpokeRoleName)
	}
	if got := role["Condition"]; got != "CreateSpokeRole" {
		t.Errorf("role %s Condition = %v; want CreateSpokeRole (one role per account)", id, got)
	}
	cond := flat(dig(tpl, "Conditions", "CreateSpokeRole"))
	if !strings.Contains(cond, `"Ref":"RoleRegion"`) || !strings.Contains(cond, `"Ref":"AWS::Region"`) {
		t.Errorf("CreateSpokeRole = %s; want RoleRegion compared with AWS::Region", cond)
	}

	// Forwarding: the enforcer's patterns, to the hub bus, through a role
	// that may only put events there.
	single, _ := enforcerStack(t, EnforcerProps{})
	wantBus := "arn:<Ref:AWS::Partition>:events:" + `{"Fn::If":["HubInThisRegion",{"Ref":"AWS::Region"},{"Ref":"HubRegion"}]}` + ":<Ref:HubAccount>:event-bus/" + HubEventBusName
	fwdRole := ""
	for _, tt := range []struct{ spoke, hub string }{{"ForwardApiCalls", "EnforcerApiCallRule"}, {"ForwardTagChanges", "EnforcerTagChangeRule"}} {
		got := withIDPrefix(t, tpl, "AWS::Events::Rule", tt.spoke)["Properties"].(map[string]any)
		want := withIDPrefix(t, single, "AWS::Events::Rule", tt.hub)["Properties"].(map[string]any)
		if !reflect.DeepEqual(got["EventPattern"], want["EventPattern"]) {
			t.Errorf("%s pattern = %v; want the enforcer's %v", tt.spoke, got["EventPattern"], want["EventPattern"])
		}
		if got["EventBusName"] != nil {
			t.Errorf("%s listens on %v; want the default bus", tt.spoke, got["EventBusName"])
		}
		targets := asList(got["Targets"])
		if len(targets) != 1 {
			t.Fatalf("%s has %d targets; want 1", tt.spoke, len(targets))
		}
		if a := flat(dig(targets[0], "Arn")); a != wantBus {
			t.Errorf("%s target = %s; want %s", tt.spoke, a, wantBus)
		}
		fwdRole = refID(dig(targets[0], "RoleArn"))
	}
	if !strings.HasPrefix(fwdRole, "ForwarderRole") {
		t.Fatalf("forwarding role = %q; want ForwarderRole", fwdRole)
	}
	// Trusted by EventBridge for this account's rules only: a rule of
	// another account cannot use the role (confused deputy).
	trust := asList(dig(resources(tpl, "AWS::IAM::Role")[fwdRole], "Properties", "AssumeRolePolicyDocument", "Statement"))
	if len(trust) != 1 {
		t.Fatalf("forwarding role trust = %v; want one statement", trust)
	}
	for _, c := range []struct{ what, got, want string }{
		{"principal", flat(dig(trust[0], "Principal", "Service")), "events.amazonaws.com"},
		{"aws:SourceAccount", flat(dig(trust[0], "Condition", "StringEquals", "aws:SourceAccount")), "<Ref:AWS::AccountId>"},
		{"aws:SourceArn", flat(dig(trust[0], "Condition", "ArnLike", "aws:SourceArn")),
			"arn:<Ref:AWS::Partition>:events:<Ref:AWS::Region>:<Ref:AWS::AccountId>:rule/*"},
	} {
		if c.got != c.want {
			t.Errorf("forwarding role trust %s: got %s; want %s", c.what, c.got, c.want)
		}
	}
	var puts []string
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if !slices.Contains(strs(dig(p, "Properties", "Roles")), "<Ref:"+fwdRole+">") {
			continue
		}
		for _, st := range asList(dig(p, "Properties", "PolicyDocument", "Statement")) {
			puts = append(puts, flat(dig(st, "Action"))+" on "+flat(dig(st, "Resource")))
		}
	}
	if want := []string{"events:PutEvents on " + wantBus}; !slices.Equal(puts, want) {
		t.Errorf("forwarding role grants %q; want %q", puts, want)
	}
}

func TestNewSpokeStackRejectsBadProps(t *testing.T) {
	assets(t)
	for _, tt := range []struct {
		name    string
		props   SpokeProps
		wantErr string
	}{
		{"no hub role", SpokeProps{HubAccount: "111111111111"}, `HubRoleArn ""`},
		{"account mismatch", SpokeProps{HubRoleArn: testHubRole, HubAccount: "222222222222"}, "HubAccount"},
		{"bad region", SpokeProps{HubRoleArn: testHubRole, HubRegion: "eu-west"}, "HubRegion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			_, err := NewSpokeStack(app, SpokeStackName, nil, &tt.props)
			wantInvalid(t, err, tt.wantErr)
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("app has %d children after the error; want nothing created", n)
			}
		})
	}
}
