//go:build integration

package infra

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The organization's IAM promises, checked on synthesized templates:
//   - a role's trust admits only the expected principal: AWS services the
//     stack uses, and for the spoke role the hub role only (and only from
//     the organization, when one is given);
//   - the hub bus admits events:PutEvents only from the organization (or
//     the listed accounts), nothing else;
//   - the hub may assume only the spoke role, in the organization's (or the
//     listed) accounts.

// trustedServices may assume the roles of elbguard's stacks.
var trustedServices = []string{"lambda.amazonaws.com", "events.amazonaws.com"}

// checkTrustPolicies checks every role's trust policy: service principals
// from trustedServices, and AWS principals exactly hubPrincipal (as flat
// renders it) with aws:PrincipalOrgID = orgID when orgID is set.
func checkTrustPolicies(tpl map[string]any, hubPrincipal, orgID string) []string {
	var bad []string
	for id, r := range resources(tpl, "AWS::IAM::Role") {
		sts := dig(r, "Properties", "AssumeRolePolicyDocument", "Statement")
		if m, ok := sts.(map[string]any); ok {
			sts = []any{m}
		}
		for i, st := range asList(sts) {
			where := fmt.Sprintf("%s trust statement %d", id, i)
			if dig(st, "Effect") != "Allow" {
				continue
			}
			if a := asStrings(dig(st, "Action")); !slices.Equal(a, []string{"sts:AssumeRole"}) {
				bad = append(bad, fmt.Sprintf("%s: actions %q; want only sts:AssumeRole", where, a))
			}
			principal, ok := dig(st, "Principal").(map[string]any)
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: principal %s; want a service or the hub role", where, flat(dig(st, "Principal"))))
				continue
			}
			for kind, v := range principal {
				switch kind {
				case "Service":
					for _, s := range asStrings(v) {
						if !slices.Contains(trustedServices, s) {
							bad = append(bad, fmt.Sprintf("%s: service %q is not one elbguard uses", where, s))
						}
					}
				case "AWS":
					ps := asStrings(v)
					if len(ps) != 1 || ps[0] != hubPrincipal {
						bad = append(bad, fmt.Sprintf("%s: AWS principals %q; want only the hub role %s", where, ps, hubPrincipal))
					}
					if orgID != "" && !slices.Equal(asStrings(dig(st, "Condition", "StringEquals", "aws:PrincipalOrgID")), []string{orgID}) {
						bad = append(bad, fmt.Sprintf("%s: no aws:PrincipalOrgID = %s condition", where, orgID))
					}
				default:
					bad = append(bad, fmt.Sprintf("%s: %s principal %s; want a service or the hub role", where, kind, flat(v)))
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

var accountRoot = regexp.MustCompile(`^arn:<Ref:AWS::Partition>:iam::([0-9]{12}):root$`)

// checkBusPolicies checks every event bus policy: only events:PutEvents,
// only on the bus, only from the organization (principal "*" with
// aws:PrincipalOrgID = orgID) or from the listed accounts.
func checkBusPolicies(tpl map[string]any, orgID string, accounts []string) []string {
	var bad []string
	policies := resources(tpl, "AWS::Events::EventBusPolicy")
	if len(policies) == 0 {
		return []string{"no AWS::Events::EventBusPolicy: nothing was checked"}
	}
	for id, r := range policies {
		p := r["Properties"].(map[string]any)
		if p["Statement"] == nil {
			bad = append(bad, fmt.Sprintf("%s: no Statement (Action/Principal/Condition properties are not checked)", id))
			continue
		}
		st := p["Statement"]
		if dig(st, "Effect") != "Allow" {
			continue
		}
		if a := asStrings(dig(st, "Action")); !slices.Equal(a, []string{"events:PutEvents"}) {
			bad = append(bad, fmt.Sprintf("%s: actions %q; want only events:PutEvents", id, a))
		}
		if res, bus := refID(dig(st, "Resource")), refID(p["EventBusName"]); res == "" || res != bus {
			bad = append(bad, fmt.Sprintf("%s: resource %s; want the bus %s itself", id, flat(dig(st, "Resource")), bus))
		}
		orgCond := orgID != "" && slices.Equal(asStrings(dig(st, "Condition", "StringEquals", "aws:PrincipalOrgID")), []string{orgID})
		if orgID != "" && !orgCond {
			bad = append(bad, fmt.Sprintf("%s: no aws:PrincipalOrgID = %s condition", id, orgID))
		}
		var principals []string
		switch pr := dig(st, "Principal").(type) {
		case string:
			principals = []string{pr}
		case map[string]any:
			for kind, v := range pr {
				if kind != "AWS" {
					bad = append(bad, fmt.Sprintf("%s: %s principal %s", id, kind, flat(v)))
				}
				principals = append(principals, asStrings(v)...)
			}
		}
		for _, pr := range principals {
			switch m := accountRoot.FindStringSubmatch(pr); {
			case pr == "*" && !orgCond:
				bad = append(bad, fmt.Sprintf("%s: principal * without the organization condition admits every AWS account", id))
			case pr == "*":
			case m == nil || !slices.Contains(accounts, m[1]):
				bad = append(bad, fmt.Sprintf("%s: principal %s is not a listed account", id, pr))
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// checkAssumeStatements checks every sts:AssumeRole grant in identity
// policies: only the spoke role by name, in a listed account or (with the
// aws:ResourceOrgID condition) any account of the organization.
func checkAssumeStatements(tpl map[string]any, roleName, orgID string, accounts []string) []string {
	var bad []string
	roleArn := regexp.MustCompile(`^arn:<Ref:AWS::Partition>:iam::([0-9]{12}|\*):role/` + regexp.QuoteMeta(roleName) + `$`)
	for id, p := range resources(tpl, "AWS::IAM::Policy") {
		for _, st := range asList(dig(p, "Properties", "PolicyDocument", "Statement")) {
			if dig(st, "Effect") != "Allow" || !slices.ContainsFunc(asStrings(dig(st, "Action")), func(a string) bool {
				return a == "sts:AssumeRole" || strings.HasPrefix(a, "sts:*") || a == "*"
			}) {
				continue
			}
			orgCond := slices.Equal(asStrings(dig(st, "Condition", "StringEquals", "aws:ResourceOrgID")), []string{orgID})
			for _, r := range asStrings(dig(st, "Resource")) {
				m := roleArn.FindStringSubmatch(r)
				switch {
				case m == nil:
					bad = append(bad, fmt.Sprintf("%s: sts:AssumeRole on %s; want only role/%s", id, r, roleName))
				case m[1] == "*" && (orgID == "" || !orgCond):
					bad = append(bad, fmt.Sprintf("%s: sts:AssumeRole on %s in any account without aws:ResourceOrgID = %q", id, r, orgID))
				case m[1] != "*" && !slices.Contains(accounts, m[1]):
					bad = append(bad, fmt.Sprintf("%s: sts:AssumeRole in account %s, which is not listed", id, m[1]))
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

func TestOrgIAMCheckersCatchBadPolicies(t *testing.T) {
	role := func(principal any, cond map[string]any) map[string]any {
		st := map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}
		if cond != nil {
			st["Condition"] = cond
		}
		return map[string]any{"Resources": map[string]any{"R": map[string]any{"Type": "AWS::IAM::Role",
			"Properties": map[string]any{"AssumeRolePolicyDocument": map[string]any{"Statement": []any{st}}}}}}
	}
	hub := map[string]any{"Ref": "HubRoleArn"}
	org := map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": testOrgID}}
	trust := []struct {
		name string
		tpl  map[string]any
		want string // substring of the one finding; empty: clean
	}{
		{"hub role in the organization", role(map[string]any{"AWS": hub}, org), ""},
		{"lambda", role(map[string]any{"Service": "lambda.amazonaws.com"}, nil), ""},
		{"everyone", role("*", nil), "want a service or the hub role"},
		{"any AWS principal", role(map[string]any{"AWS": "*"}, org), "want only the hub role"},
		{"an account root", role(map[string]any{"AWS": "arn:aws:iam::222222222222:root"}, org), "want only the hub role"},
		{"hub and another", role(map[string]any{"AWS": []any{hub, "arn:aws:iam::2:role/x"}}, org), "want only the hub role"},
		{"without organization", role(map[string]any{"AWS": hub}, nil), "aws:PrincipalOrgID"},
		{"foreign service", role(map[string]any{"Service": "ec2.amazonaws.com"}, nil), "not one elbguard uses"},
		{"federated", role(map[string]any{"Federated": "cognito-identity.amazonaws.com"}, nil), "Federated principal"},
	}
	for _, tt := range trust {
		t.Run("trust/"+tt.name, func(t *testing.T) {
			checkOneFinding(t, checkTrustPolicies(tt.tpl, "<Ref:HubRoleArn>", testOrgID), tt.want)
		})
	}

	busPolicy := func(principal any, action any, cond map[string]any) map[string]any {
		st := map[string]any{"Effect": "Allow", "Action": action, "Principal": principal,
			"Resource": map[string]any{"Fn::GetAtt": []any{"Bus", "Arn"}}}
		if cond != nil {
			st["Condition"] = cond
		}
		return map[string]any{"Resources": map[string]any{"P": map[string]any{"Type": "AWS::Events::EventBusPolicy",
			"Properties": map[string]any{"EventBusName": map[string]any{"Ref": "Bus"}, "Statement": st}}}}
	}
	root := func(a string) any {
		return map[string]any{"AWS": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::" + a + ":root"}}}}
	}
	bus := []struct {
		name     string
		tpl      map[string]any
		orgID    string
		accounts []string
		want     string
	}{
		{"organization", busPolicy("*", "events:PutEvents", org), testOrgID, nil, ""},
		{"listed account", busPolicy(root("111111111111"), "events:PutEvents", nil), "", []string{"111111111111"}, ""},
		{"everyone", busPolicy("*", "events:PutEvents", nil), "", nil, "admits every AWS account"},
		{"everyone, organization expected", busPolicy(map[string]any{"AWS": "*"}, "events:PutEvents", nil), testOrgID, nil, "no aws:PrincipalOrgID"},
		{"another organization", busPolicy("*", "events:PutEvents", map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}), testOrgID, nil, "no aws:PrincipalOrgID"},
		{"unlisted account", busPolicy(root("222222222222"), "events:PutEvents", nil), "", []string{"111111111111"}, "not a listed account"},
		{"more than PutEvents", busPolicy("*", []any{"events:PutEvents", "events:PutRule"}, org), testOrgID, nil, "want only events:PutEvents"},
	}
	for _, tt := range bus {
		t.Run("bus/"+tt.name, func(t *testing.T) {
			checkOneFinding(t, checkBusPolicies(tt.tpl, tt.orgID, tt.accounts), tt.want)
		})
	}

	assume := func(resource string, cond map[string]any) map[string]any {
		st := map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, resource}}}}
		if cond != nil {
			st["Condition"] = cond
		}
		return map[string]any{"Resources": map[string]any{"P": map[string]any{"Type": "AWS::IAM::Policy",
			"Properties": map[string]any{"PolicyDocument": map[string]any{"Statement": []any{st}}}}}}
	}
	resOrg := map[string]any{"StringEquals": map[string]any{"aws:ResourceOrgID": testOrgID}}
	for _, tt := range []struct {
		name     string
		tpl      map[string]any
		orgID    string
		accounts []string
		want     string
	}{
		{"spoke role in the organization", assume(":iam::*:role/elbguard-spoke", resOrg), testOrgID, nil, ""},
		{"spoke role in a listed account", assume(":iam::111111111111:role/elbguard-spoke", nil), "", []string{"111111111111"}, ""},
		{"any role", assume(":iam::*:role/*", resOrg), testOrgID, nil, "want only role/elbguard-spoke"},
		{"any account, no condition", assume(":iam::*:role/elbguard-spoke", nil), testOrgID, nil, "without aws:ResourceOrgID"},
		{"unlisted account", assume(":iam::222222222222:role/elbguard-spoke", nil), "", []string{"111111111111"}, "not listed"},
	} {
		t.Run("assume/"+tt.name, func(t *testing.T) {
			checkOneFinding(t, checkAssumeStatements(tt.tpl, "elbguard-spoke", tt.orgID, tt.accounts), tt.want)
		})
	}
}

func checkOneFinding(t *testing.T, got []string, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Errorf("findings %q; want none", got)
		}
		return
	}
	if !slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, want) }) {
		t.Errorf("findings %q; want one containing %q", got, want)
	}
}

// hubOperationalWrites are the hub role's non-read actions that change no
// load balancer: consuming the sweep queue and assuming the spoke roles.
var hubOperationalWrites = []string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sts:AssumeRole"}

// spokeOperationalWrites: forwarding events to the hub changes no load
// balancer (a dry run forwards them too).
var spokeOperationalWrites = []string{"events:PutEvents"}

// withoutOperational drops the dry-run findings about operational actions.
func withoutOperational(findings, actions []string) []string {
	var out []string
	for _, f := range findings {
		if !slices.ContainsFunc(actions, func(a string) bool { return strings.Contains(f, `dry run grants mutating action "`+a+`"`) }) {
			out = append(out, f)
		}
	}
	return out
}

func TestIAMOrgStacksLeastPrivilege(t *testing.T) {
	accounts := []string{"111111111111", "222222222222"}
	for _, tt := range []struct {
		name   string
		props  EnforcerProps
		mode   policyMode
		tagKey string
	}{
		{"opt-in", EnforcerProps{}, modeOptIn, DefaultTagKey},
		{"all, custom tag key", EnforcerProps{DefaultMode: "enforce", TagKey: "team:pp"}, modeAll, "team:pp"},
		{"dry run", EnforcerProps{DefaultMode: "enforce", DryRun: true}, modeDryRun, DefaultTagKey},
	} {
		t.Run("hub organization "+tt.name, func(t *testing.T) {
			p := tt.props
			p.Hub = orgHub()
			tpl, _ := hubStack(t, HubStackProps{Enforcer: p, StackSet: &StackSetProps{OrgUnits: []string{testOrgUnit}}})
			for _, b := range withoutOperational(checkIAMPolicies(tpl, tt.tagKey, tt.mode), hubOperationalWrites) {
				t.Error(b)
			}
			for _, b := range checkTrustPolicies(tpl, "", testOrgID) {
				t.Error(b)
			}
			for _, b := range checkBusPolicies(tpl, testOrgID, nil) {
				t.Error(b)
			}
			for _, b := range checkAssumeStatements(tpl, DefaultSpokeRoleName, testOrgID, nil) {
				t.Error(b)
			}
		})
		t.Run("spoke "+tt.name, func(t *testing.T) {
			tpl, _ := spokeStack(t, SpokeProps{TagKey: tt.props.TagKey, DefaultMode: tt.props.DefaultMode, DryRun: tt.props.DryRun,
				OrgID: testOrgID, HubRoleArn: testHubRole})
			for _, b := range append(withoutOperational(checkIAMPolicies(tpl, tt.tagKey, tt.mode), spokeOperationalWrites),
				checkTrustPolicies(tpl, "<Ref:HubRoleArn>", testOrgID)...) {
				t.Error(b)
			}
			if got := len(checkAssumeStatements(tpl, DefaultSpokeRoleName, testOrgID, nil)); got != 0 {
				t.Errorf("spoke grants sts:AssumeRole")
			}
		})
	}
	t.Run("hub account list", func(t *testing.T) {
		tpl, _ := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: &HubProps{Accounts: accounts, Regions: []string{"us-east-1"}}}})
		for _, b := range append(append(checkBusPolicies(tpl, "", accounts), checkAssumeStatements(tpl, DefaultSpokeRoleName, "", accounts)...),
			checkIAMPolicies(tpl, DefaultTagKey, modeOptIn)...) {
			t.Error(b)
		}
	})
	t.Run("spoke without organization", func(t *testing.T) {
		tpl, _ := spokeStack(t, SpokeProps{HubRoleArn: testHubRole})
		for _, b := range checkTrustPolicies(tpl, "<Ref:HubRoleArn>", "") {
			t.Error(b)
		}
		// The trust is the hub role, nothing wider.
		_, role := spokeRole(t, tpl)
		if got := flat(dig(role, "Properties", "AssumeRolePolicyDocument", "Statement")); got != `[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"AWS":{"Ref":"HubRoleArn"}}}]` {
			t.Errorf("trust = %s; want the hub role parameter only", got)
		}
	})
}
