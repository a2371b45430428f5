package infra

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// readmeSCPAdmin is the admin role the README's example names.
const readmeSCPAdmin = "arn:aws:iam::*:role/PlatformLoadBalancerAdmin"

// TestTagSCPDoc: the SCP in infra/README.md is TagSCP's, byte for byte.
func TestTagSCPDoc(t *testing.T) {
	want, err := TagSCP(SCPProps{AdminRoleARNs: []string{readmeSCPAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## Who may set `elbguard:*` tags")
	if !ok {
		t.Fatal("README.md has no section \"Who may set `elbguard:*` tags\"")
	}
	_, block, ok := strings.Cut(after, "```json\n")
	if !ok {
		t.Fatal("the section has no ```json block")
	}
	got, _, _ := strings.Cut(block, "\n```")
	if got != want {
		t.Errorf("infra/README.md's SCP is not TagSCP's; replace the block with:\n%s", want)
	}
}

// TestTagSCP: every elbguard tag key is covered, for the writers the props
// name, and a renamed spoke role or stack is what the SCP names.
func TestTagSCP(t *testing.T) {
	tests := []struct {
		name  string
		props SCPProps
		want  []string
	}{
		{"defaults", SCPProps{}, []string{"arn:aws:iam::*:role/ElbGuard-EnforcerRole*", "arn:aws:iam::*:role/ElbGuardHub-EnforcerRole*", "arn:aws:iam::*:role/elbguard-spoke"}},
		{"renamed spoke role, own stack, GovCloud", SCPProps{Partition: "aws-us-gov", EnforcerStacks: []string{"Guard"}, SpokeRoleName: "lb-guard"},
			[]string{"arn:aws-us-gov:iam::*:role/Guard-EnforcerRole*", "arn:aws-us-gov:iam::*:role/lb-guard"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := TagSCP(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Statement []struct {
					Action    []string
					Condition map[string]map[string]any
				}
			}
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, doc)
			}
			lb := p.Statement[0]
			if got := scpStrings(lb.Condition["ArnNotLike"]["aws:PrincipalArn"]); !slices.Equal(got, tt.want) {
				t.Errorf("principals %v; want %v", got, tt.want)
			}
			for _, st := range p.Statement {
				if got := scpStrings(st.Condition["ForAnyValue:StringLike"]["aws:TagKeys"]); !slices.Equal(got, []string{"elbguard:*"}) {
					t.Errorf("%v: tag keys %v; want every elbguard:* key", st.Action, got)
				}
			}
			for _, a := range []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"} {
				if !slices.Contains(lb.Action, a) {
					t.Errorf("actions %v; want %s", lb.Action, a)
				}
			}
			if ec2 := p.Statement[1]; !slices.Equal(ec2.Action, []string{"ec2:CreateTags", "ec2:DeleteTags"}) || ec2.Condition["Null"]["ec2:SourceInstanceARN"] != "true" {
				t.Errorf("instance statement %+v; want CreateTags/DeleteTags denied to all but instance credentials", ec2)
			}
		})
	}
}

func scpStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		out = append(out, s.(string))
	}
	return out
}
