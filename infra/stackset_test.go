//go:build integration

package infra

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestHubStackSet(t *testing.T) {
	tpl, h := hubStack(t, HubStackProps{
		Enforcer: EnforcerProps{Hub: orgHub(), DefaultMode: "enforce"},
		StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit, "ou-ab12-99999999"}},
	})
	_, ss := only(t, tpl, "AWS::CloudFormation::StackSet")
	p := ss["Properties"].(map[string]any)
	roleID := idOf(t, tpl, "AWS::IAM::Role", "EnforcerRole")
	checks := []struct {
		what      string
		got, want any
	}{
		{"StackSetName", p["StackSetName"], SpokeStackSetName},
		{"PermissionModel", p["PermissionModel"], "SERVICE_MANAGED"},
		{"CallAs", p["CallAs"], "DELEGATED_ADMIN"},
		{"AutoDeployment", p["AutoDeployment"], map[string]any{"Enabled": true, "RetainStacksOnAccountRemoval": false}},
		{"Capabilities", flat(p["Capabilities"]), "[CAPABILITY_NAMED_IAM]"},
		{"ManagedExecution", p["ManagedExecution"], map[string]any{"Active": true}},
		{"OperationPreferences", p["OperationPreferences"], map[string]any{"FailureTolerancePercentage": float64(10),
			"MaxConcurrentPercentage": float64(25), "RegionConcurrencyType": "PARALLEL"}},
		{"StackInstancesGroup", flat(p["StackInstancesGroup"]), `[{"DeploymentTargets":{"OrganizationalUnitIds":["ou-ab12-cdef3456","ou-ab12-99999999"]},"Regions":["us-east-1","eu-west-1"]}]`},
		{"TemplateURL", p["TemplateURL"], nil},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.what, c.got, c.want)
		}
	}
	params := map[string]string{}
	for _, kv := range asList(p["Parameters"]) {
		params[flat(dig(kv, "ParameterKey"))] = flat(dig(kv, "ParameterValue"))
	}
	wantParams := map[string]string{
		ParamHubRoleArn: "<GetAtt:" + roleID + ".Arn>", ParamHubAccount: "<Ref:AWS::AccountId>",
		ParamHubRegion: "<Ref:AWS::Region>", ParamRoleRegion: "us-east-1",
	}
	if !reflect.DeepEqual(params, wantParams) {
		t.Errorf("Parameters = %v; want %v", params, wantParams)
	}

	// The inline body: within CloudFormation's limit, the spoke's code with
	// the hub's settings, and every parameter it declares supplied.
	body, _ := p["TemplateBody"].(string)
	if body != h.SpokeTemplate {
		t.Errorf("TemplateBody differs from HubStack.SpokeTemplate")
	}
	t.Logf("spoke template body: %d bytes (limit %d)", len(body), MaxTemplateBodyBytes)
	if len(body) == 0 || len(body) > MaxTemplateBodyBytes {
		t.Fatalf("TemplateBody is %d bytes; want 1-%d", len(body), MaxTemplateBodyBytes)
	}
	var spoke map[string]any
	if err := json.Unmarshal([]byte(body), &spoke); err != nil {
		t.Fatalf("TemplateBody is not JSON: %v", err)
	}
	declared, _ := spoke["Parameters"].(map[string]any)
	for name := range declared {
		if _, ok := params[name]; !ok {
			t.Errorf("spoke parameter %s is not supplied by the StackSet", name)
		}
		if d := dig(declared, name, "Default"); name != ParamHubRegion && name != ParamRoleRegion && d != nil {
			t.Errorf("spoke parameter %s has default %v in the StackSet body; want none (the hub supplies it)", name, d)
		}
	}
	checkSuppressionReasons(t, spoke)
	_, role := spokeRole(t, spoke)
	if got := flat(dig(role, "Properties", "AssumeRolePolicyDocument", "Statement")); got != `[{"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+testOrgID+`"}},"Effect":"Allow","Principal":{"AWS":{"Ref":"HubRoleArn"}}}]` {
		t.Errorf("spoke trust = %s; want the hub role within the organization", got)
	}
	for _, b := range checkIAMPolicies(spoke, DefaultTagKey, modeAll) {
		t.Errorf("spoke in the StackSet: %s", b)
	}

	// Same code as ElbGuardSpoke: the resources are those of the stack
	// deployed by hand with the same settings.
	manual, _ := spokeStack(t, SpokeProps{DefaultMode: "enforce", OrgID: testOrgID, HubRoleArn: testHubRole})
	if got, want := withoutPaths(spoke["Resources"]), withoutPaths(manual["Resources"]); !reflect.DeepEqual(got, want) {
		t.Errorf("StackSet body resources differ from ElbGuardSpoke's:\n%s\nwant\n%s", flat(got), flat(want))
	}
}

// withoutPaths drops the aws:cdk:path metadata, which depends on the app.
func withoutPaths(v any) any {
	b, _ := json.Marshal(v)
	var rs map[string]map[string]any
	_ = json.Unmarshal(b, &rs)
	for _, r := range rs {
		if md, ok := r["Metadata"].(map[string]any); ok {
			delete(md, "aws:cdk:path")
			if len(md) == 0 {
				delete(r, "Metadata")
			}
		}
	}
	return rs
}
