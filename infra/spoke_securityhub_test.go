//go:build integration

package infra

import (
	"encoding/json"
	"slices"
	"testing"
)

// spokeSecurityHubStatements returns the spoke role's Security Hub
// statements of a template.
func spokeSecurityHubStatements(t *testing.T, tpl map[string]any) []statement {
	t.Helper()
	_, role := spokeRole(t, tpl)
	var out []statement
	for _, p := range asList(dig(role, "Properties", "Policies")) {
		for _, st := range asList(dig(p, "PolicyDocument", "Statement")) {
			s := statement{actions: strs(dig(st, "Action")), resources: strs(dig(st, "Resource"))}
			s.sid, _ = dig(st, "Sid").(string)
			if slices.ContainsFunc(s.actions, func(a string) bool { return len(a) > 12 && a[:12] == "securityhub:" }) {
				out = append(out, s)
			}
		}
	}
	return out
}

// wantSpokeSecurityHubResource is the spoke's import grant: the account's own
// default product, every region (the hub imports each account's findings
// with its role: Security Hub takes a default-product finding only from the
// account it names).
const wantSpokeSecurityHubResource = "arn:<Ref:AWS::Partition>:securityhub:*:<Ref:AWS::AccountId>:product/<Ref:AWS::AccountId>/default"

func checkSpokeSecurityHub(t *testing.T, tpl map[string]any, want bool) {
	t.Helper()
	got := spokeSecurityHubStatements(t, tpl)
	if !want {
		if len(got) != 0 {
			t.Errorf("spoke role Security Hub statements %+v; want none", got)
		}
		return
	}
	if len(got) != 2 || got[0].sid != SidSecurityHubImport || !slices.Equal(got[0].actions, []string{"securityhub:BatchImportFindings"}) ||
		!slices.Equal(got[0].resources, []string{wantSpokeSecurityHubResource}) ||
		got[1].sid != SidSecurityHubRead || !slices.Equal(got[1].actions, []string{"securityhub:GetFindings"}) ||
		!slices.Equal(got[1].resources, []string{"arn:<Ref:AWS::Partition>:securityhub:*:<Ref:AWS::AccountId>:hub/default"}) {
		t.Errorf("spoke role Security Hub statements %+v; want %s: BatchImportFindings on %s and %s: GetFindings on the account's hubs",
			got, SidSecurityHubImport, wantSpokeSecurityHubResource, SidSecurityHubRead)
	}
}

func TestSpokeSecurityHubImport(t *testing.T) {
	for _, on := range []bool{false, true} {
		tpl, _ := spokeStack(t, SpokeProps{HubRoleArn: testHubRole, DefaultMode: "enforce", SecurityHub: on})
		checkSpokeSecurityHub(t, tpl, on)
		for _, b := range checkIAMPolicies(tpl, DefaultTagKey, modeAll) {
			t.Errorf("SecurityHub %v: %s", on, b)
		}
		checkSuppressionReasons(t, tpl)
	}
}

// TestHubStackSetSecurityHub: a hub that imports into Security Hub deploys
// spokes whose role may import their own account's findings.
func TestHubStackSetSecurityHub(t *testing.T) {
	for _, on := range []bool{false, true} {
		_, h := hubStack(t, HubStackProps{
			Enforcer: EnforcerProps{Hub: orgHub(), DefaultMode: "enforce", Compliance: ComplianceProps{SecurityHub: on}},
			StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}},
		})
		var spoke map[string]any
		if err := json.Unmarshal([]byte(h.SpokeTemplate), &spoke); err != nil {
			t.Fatalf("spoke template: %v", err)
		}
		checkSpokeSecurityHub(t, spoke, on)
		for _, b := range checkIAMPolicies(spoke, DefaultTagKey, modeAll) {
			t.Errorf("SecurityHub %v: %s", on, b)
		}
	}
}
