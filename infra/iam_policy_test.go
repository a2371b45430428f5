//go:build integration

package infra

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/engine"
)

// The IAM least-privilege checker reads identity policies out of a
// synthesized template (AWS::IAM::Policy, AWS::IAM::ManagedPolicy and the
// inline Policies of AWS::IAM::Role) and reports every grant that breaks
// the stack's promises. TestIAMPoliciesLeastPrivilege runs it on the real
// synth; TestIAMPolicyCheckerCatchesBadStatements proves it catches bad
// statements.

// policyMode is what the stack was synthesized for.
type policyMode int

const (
	modeOptIn  policyMode = iota // default mode off/audit: writes only on tagged load balancers
	modeAll                      // default mode enforce: writes everywhere but off/audit-tagged
	modeDryRun                   // no writes to load balancers at all
)

// operationalWrites are the writes every Lambda needs to run (its log
// stream, its on-failure queue). They must still be scoped to resources.
var operationalWrites = []string{"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}

// readOnly reports whether an IAM action (possibly with wildcards) can only
// match reads: its verb starts with Describe, Get or List before any wildcard.
func readOnly(action string) bool {
	svc, verb, ok := strings.Cut(action, ":")
	if !ok || svc == "" || strings.ContainsAny(svc, "*?") {
		return false
	}
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(verb, p) {
			return true
		}
	}
	return false
}

// asStrings reads a string or list of strings; other values render as text
// (e.g. an Fn::Join resource) through flat.
func asStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, flat(e))
			}
		}
		return out
	default:
		return []string{flat(x)}
	}
}

// tagCondition reports whether cond limits a statement to load balancers
// whose tag key satisfies the mode: equal to enforce (opt-in), or not off
// nor audit (all).
func tagCondition(cond any, tagKey string, mode policyMode) bool {
	key := "aws:ResourceTag/" + tagKey
	switch mode {
	case modeOptIn:
		for _, op := range []string{"StringEquals", "StringEqualsIgnoreCase"} {
			if v := asStrings(dig(cond, op, key)); len(v) > 0 && !slices.ContainsFunc(v, func(s string) bool { return !strings.EqualFold(s, "enforce") }) {
				return true
			}
		}
	case modeAll:
		v := asStrings(dig(cond, "StringNotEqualsIgnoreCase", key))
		return slices.Contains(v, "off") && slices.Contains(v, "audit")
	}
	return false
}

// checkStatement returns what is wrong with one policy statement.
func checkStatement(st any, tagKey string, mode policyMode) []string {
	var bad []string
	if dig(st, "Effect") != "Allow" {
		return nil // a Deny only narrows
	}
	if dig(st, "NotAction") != nil || dig(st, "NotResource") != nil {
		bad = append(bad, "Allow with NotAction/NotResource grants everything not listed")
	}
	actions, res := asStrings(dig(st, "Action")), asStrings(dig(st, "Resource"))
	var lbWrites []string
	for _, a := range actions {
		if readOnly(a) {
			continue
		}
		if strings.ContainsAny(a, "*?") {
			bad = append(bad, fmt.Sprintf("wildcard action %q can grant mutation", a))
		}
		if slices.Contains(res, "*") {
			bad = append(bad, fmt.Sprintf("mutating action %q on Resource \"*\"", a))
		}
		if mode == modeDryRun && !slices.Contains(operationalWrites, a) {
			bad = append(bad, fmt.Sprintf("dry run grants mutating action %q", a))
		}
		if slices.Contains(RestoreTagActions, a) && !restoreKeysOnly(dig(st, "Condition")) {
			bad = append(bad, fmt.Sprintf("tag write %q not limited to aws:TagKeys %s or %s", a, RestoreTagKeys, engine.TagHealthDropped))
		}
		lbAction := slices.Contains(LoadBalancerWriteActions, a) || slices.Contains(RestoreTagActions, a) || strings.HasPrefix(a, "elasticloadbalancing:") && strings.ContainsAny(a, "*?")
		lbResource := slices.ContainsFunc(res, func(r string) bool { return r == "*" || strings.Contains(r, ":loadbalancer/") })
		if lbAction && lbResource {
			lbWrites = append(lbWrites, a)
		}
	}
	if len(lbWrites) > 0 && (mode == modeOptIn || mode == modeAll) && !tagCondition(dig(st, "Condition"), tagKey, mode) {
		bad = append(bad, fmt.Sprintf("load balancer writes %v without the aws:ResourceTag/%s condition of the mode", lbWrites, tagKey))
	}
	return bad
}

// restoreKeysOnly reports whether cond lets a tag write touch only the
// restore tag keys.
func restoreKeysOnly(cond any) bool {
	if v := asStrings(dig(cond, "ForAllValues:StringEquals", "aws:TagKeys")); len(v) > 0 {
		// The verification's mark (verify.go) is the one exact key allowed.
		return !slices.ContainsFunc(v, func(s string) bool { return s != engine.TagHealthDropped })
	}
	v := asStrings(dig(cond, "ForAllValues:StringLike", "aws:TagKeys"))
	return len(v) > 0 && !slices.ContainsFunc(v, func(s string) bool { return s != RestoreTagKeys })
}

// checkIAMPolicies checks every identity policy statement of a template.
func checkIAMPolicies(tpl map[string]any, tagKey string, mode policyMode) []string {
	var bad []string
	check := func(where string, doc any) {
		sts := dig(doc, "Statement")
		if m, ok := sts.(map[string]any); ok {
			sts = []any{m}
		}
		for i, st := range asList(sts) {
			for _, b := range checkStatement(st, tagKey, mode) {
				sid, _ := dig(st, "Sid").(string)
				bad = append(bad, fmt.Sprintf("%s statement %d %q: %s", where, i, sid, b))
			}
		}
	}
	for id, p := range resources(tpl, "AWS::IAM::Policy") {
		check(id, dig(p, "Properties", "PolicyDocument"))
	}
	for id, p := range resources(tpl, "AWS::IAM::ManagedPolicy") {
		check(id, dig(p, "Properties", "PolicyDocument"))
	}
	for id, r := range resources(tpl, "AWS::IAM::Role") {
		for _, p := range asList(dig(r, "Properties", "Policies")) {
			name, _ := dig(p, "PolicyName").(string)
			check(id+" inline "+name, dig(p, "PolicyDocument"))
		}
	}
	slices.Sort(bad)
	return bad
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestIAMPolicyCheckerCatchesBadStatements(t *testing.T) {
	lb := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/*"
	optIn := map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/elbguard:proxy-protocol": "enforce"}}
	stmt := func(action, resource any, cond map[string]any) map[string]any {
		s := map[string]any{"Effect": "Allow", "Action": action, "Resource": resource}
		if cond != nil {
			s["Condition"] = cond
		}
		return s
	}
	tests := []struct {
		name string
		st   map[string]any
		mode policyMode
		want []string // substrings of the findings, sorted; nil: clean
	}{
		{"reads on *", stmt([]any{"elasticloadbalancing:DescribeTags", "ec2:Get*", "s3:List*"}, "*", nil), modeOptIn, nil},
		{"scoped tagged write", stmt("elasticloadbalancing:CreateLoadBalancerPolicy", lb, optIn), modeOptIn, nil},
		{"write on *", stmt("elasticloadbalancing:ModifyTargetGroupAttributes", "*", nil), modeAll,
			[]string{`mutating action "elasticloadbalancing:ModifyTargetGroupAttributes" on Resource "*"`}},
		{"service wildcard", stmt("elasticloadbalancing:*", "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/*", nil), modeAll,
			[]string{`wildcard action "elasticloadbalancing:*"`}},
		{"verb wildcard on *", stmt([]any{"*:Modify*"}, "*", nil), modeAll,
			[]string{`mutating action "*:Modify*" on Resource "*"`, `wildcard action "*:Modify*"`}},
		{"everything", stmt("*", "*", nil), modeAll, []string{`mutating action "*" on Resource "*"`, `wildcard action "*"`}},
		{"lookalike read wildcard", stmt("elasticloadbalancing:Desc*", "*", nil), modeAll,
			[]string{"load balancer writes [elasticloadbalancing:Desc*] without", `on Resource "*"`, `wildcard action "elasticloadbalancing:Desc*"`}},
		{"opt-in write without condition", stmt("elasticloadbalancing:SetLoadBalancerPoliciesOfListener", lb, nil), modeOptIn,
			[]string{"without the aws:ResourceTag/elbguard:proxy-protocol condition"}},
		{"opt-in write with another tag key", stmt("elasticloadbalancing:SetLoadBalancerPoliciesOfListener", lb,
			map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/other": "enforce"}}), modeOptIn,
			[]string{"without the aws:ResourceTag/elbguard:proxy-protocol condition"}},
		{"opt-in write with the all-mode condition", stmt("elasticloadbalancing:DeleteLoadBalancerListeners", lb,
			map[string]any{"StringNotEqualsIgnoreCase": map[string]any{"aws:ResourceTag/elbguard:proxy-protocol": []any{"off", "audit"}}}), modeOptIn,
			[]string{"without the aws:ResourceTag"}},
		{"tag write without key limit", stmt("elasticloadbalancing:AddTags", lb, optIn), modeOptIn,
			[]string{"not limited to aws:TagKeys"}},
		{"tag write with key limit", stmt("elasticloadbalancing:RemoveTags", lb, map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/elbguard:proxy-protocol": "enforce"},
			"ForAllValues:StringLike": map[string]any{"aws:TagKeys": RestoreTagKeys}}), modeOptIn, nil},
		{"tag write with key limit but no mode condition", stmt("elasticloadbalancing:AddTags", lb, map[string]any{
			"ForAllValues:StringLike": map[string]any{"aws:TagKeys": RestoreTagKeys}}), modeOptIn, []string{"without the aws:ResourceTag"}},
		{"dry run write", stmt("elasticloadbalancing:ModifyListenerAttributes", "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/*", nil), modeDryRun,
			[]string{`dry run grants mutating action "elasticloadbalancing:ModifyListenerAttributes"`}},
		{"NotAction", map[string]any{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, modeAll, []string{"NotAction/NotResource"}},
		{"deny is fine", map[string]any{"Effect": "Deny", "Action": "*", "Resource": "*"}, modeDryRun, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := map[string]any{"Resources": map[string]any{"Bad": map[string]any{"Type": "AWS::IAM::Policy",
				"Properties": map[string]any{"PolicyDocument": map[string]any{"Statement": []any{tt.st}}}}}}
			got := checkIAMPolicies(tpl, "elbguard:proxy-protocol", tt.mode)
			if len(got) != len(tt.want) {
				t.Fatalf("got findings %q; want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d = %q; want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	t.Run("inline role policy", func(t *testing.T) {
		tpl := map[string]any{"Resources": map[string]any{"Role": map[string]any{"Type": "AWS::IAM::Role",
			"Properties": map[string]any{"Policies": []any{map[string]any{"PolicyName": "p", "PolicyDocument": map[string]any{
				"Statement": map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}}}}}}}}
		if got := checkIAMPolicies(tpl, "k", modeAll); len(got) != 1 || !strings.Contains(got[0], "Role inline p") {
			t.Errorf("got %q; want one finding on the role's inline policy", got)
		}
	})
}

func TestIAMPoliciesLeastPrivilege(t *testing.T) {
	tests := []struct {
		name   string
		props  EnforcerProps
		mode   policyMode
		tagKey string
	}{
		{"opt-in", EnforcerProps{}, modeOptIn, "elbguard:proxy-protocol"},
		{"opt-in audit, custom tag key", EnforcerProps{DefaultMode: "audit", TagKey: "team:pp"}, modeOptIn, "team:pp"},
		{"all", EnforcerProps{DefaultMode: "enforce"}, modeAll, "elbguard:proxy-protocol"},
		{"dry run", EnforcerProps{DefaultMode: "enforce", DryRun: true}, modeDryRun, "elbguard:proxy-protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, _ := enforcerStack(t, tt.props)
			n := len(resources(tpl, "AWS::IAM::Policy")) + len(resources(tpl, "AWS::IAM::ManagedPolicy")) + len(resources(tpl, "AWS::IAM::Role"))
			if n == 0 {
				t.Fatalf("no IAM policy or role in the template: nothing was checked")
			}
			for _, b := range checkIAMPolicies(tpl, tt.tagKey, tt.mode) {
				t.Error(b)
			}
			// The condition check above is not vacuous: the writes are there
			// (and absent in a dry run).
			lbWrites := 0
			for _, p := range resources(tpl, "AWS::IAM::Policy") {
				for _, st := range asList(dig(p, "Properties", "PolicyDocument", "Statement")) {
					for _, a := range asStrings(dig(st, "Action")) {
						if slices.Contains(LoadBalancerWriteActions, a) {
							lbWrites++
						}
					}
				}
			}
			switch {
			case tt.mode == modeDryRun && lbWrites != 0:
				t.Errorf("dry run grants %d load balancer write actions; want 0", lbWrites)
			case tt.mode != modeDryRun && lbWrites < len(LoadBalancerWriteActions):
				t.Errorf("found %d load balancer write actions; want at least %d (the checker had nothing to check)", lbWrites, len(LoadBalancerWriteActions))
			}
			// Managed policies attached by ARN cannot be read here: there must be none.
			for id, r := range resources(tpl, "AWS::IAM::Role") {
				if arns := dig(r, "Properties", "ManagedPolicyArns"); arns != nil {
					t.Errorf("role %s attaches managed policies %v; want only inline or AWS::IAM::Policy grants, which this test reads", id, flat(arns))
				}
			}
		})
	}
}
