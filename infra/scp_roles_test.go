//go:build integration

package infra

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cdkHash is the 8 hexadecimal digits the CDK appends to a logical id.
var cdkHash = regexp.MustCompile(`[0-9A-F]{8}$`)

// TestTagSCPNamesTheRoles synthesizes the stacks and collects every IAM role
// whose policies may write load balancer tags: the SCP's exceptions must be
// exactly those roles (a missing one blocks elbguard in every member
// account; an extra one lets someone else opt load balancers in).
func TestTagSCPNamesTheRoles(t *testing.T) {
	type synthed struct {
		name string
		tpl  map[string]any
	}
	single, _ := enforcerStack(t, EnforcerProps{})
	hub, _ := hubStack(t, HubStackProps{Enforcer: EnforcerProps{Hub: orgHub()}})
	spoke, _ := spokeStack(t, SpokeProps{HubRoleArn: "arn:aws:iam::111111111111:role/ElbGuardHub-EnforcerRole-ABC", OrgID: testOrgID})
	var got []string
	for _, s := range []synthed{{StackName, single}, {HubStackName, hub}, {SpokeStackName, spoke}} {
		roles := resources(s.tpl, "AWS::IAM::Role")
		for _, pol := range resources(s.tpl, "AWS::IAM::Policy") {
			if !strings.Contains(flat(pol), "elasticloadbalancing:AddTags") {
				continue
			}
			for _, r := range dig(pol, "Properties", "Roles").([]any) {
				id := refID(r)
				role, ok := roles[id]
				if !ok {
					t.Fatalf("%s: policy names role %v, not in the template", s.name, r)
				}
				if name, ok := dig(role, "Properties", "RoleName").(string); ok {
					got = append(got, "arn:aws:iam::*:role/"+name)
					continue
				}
				// CloudFormation names it STACK-LOGICALID-SUFFIX.
				got = append(got, fmt.Sprintf("arn:aws:iam::*:role/%s-%s*", s.name, cdkHash.ReplaceAllString(id, "")))
			}
		}
		for id, role := range roles { // inline policies too
			if strings.Contains(flat(dig(role, "Properties", "Policies")), "elasticloadbalancing:AddTags") {
				if name, ok := dig(role, "Properties", "RoleName").(string); ok {
					got = append(got, "arn:aws:iam::*:role/"+name)
				} else {
					got = append(got, fmt.Sprintf("arn:aws:iam::*:role/%s-%s*", s.name, cdkHash.ReplaceAllString(id, "")))
				}
			}
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := slices.Sorted(slices.Values(SCPProps{}.ElbguardWriterRoleARNs()))
	if !slices.Equal(got, want) {
		t.Errorf("roles that write load balancer tags: %v; the SCP names %v", got, want)
	}
}
