package infra

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Who may set elbguard:* tags. Anyone allowed to tag a load balancer can
// opt it in to what the readiness gate exists to prevent
// (elbguard:proxy-protocol=enforce with elbguard:readiness=skip), opt it out,
// or hold it; so in an organization these tags belong to named roles. TagSCP
// renders the example service control policy from the same constants the
// stacks use; `go test ./infra -run TestTagSCPDoc` keeps the copy in
// infra/README.md equal to it, and TestTagSCPNamesTheRoles (integration)
// checks that it names exactly the roles the stacks create that write
// elbguard tags.

// enforcerConstructID and roleConstructID make the enforcer role's logical
// id (Enforcer + Role + hash), which CloudFormation puts in the role's
// generated name: STACK-EnforcerRoleHASH-SUFFIX.
const (
	enforcerConstructID = "Enforcer"
	roleConstructID     = "Role"
)

// elbguardTagPattern matches every elbguard tag key, present and future.
const elbguardTagPattern = "elbguard:*"

// SCPProps are the inputs of TagSCP. The zero value describes the stacks as
// the CDK app deploys them with default names.
type SCPProps struct {
	// Partition of the ARNs. Empty: aws.
	Partition string
	// EnforcerStacks are the stacks (ElbGuard, ElbGuardHub) whose enforcer
	// role writes elbguard:restore:* and elbguard:health-dropped. Empty:
	// both default names.
	EnforcerStacks []string
	// SpokeRoleName is the role the hub assumes in every account (writes the
	// same tags there). Empty: DefaultSpokeRoleName.
	SpokeRoleName string
	// AdminRoleARNs are the people's roles that set the opt-in and scope
	// tags (ARN patterns; * allowed). Empty: none (then only elbguard's own
	// roles may touch elbguard:* tags).
	AdminRoleARNs []string
}

// ElbguardWriterRoleARNs are the ARN patterns of the roles the stacks create
// that write elbguard:* tags on load balancers, in order.
func (p SCPProps) ElbguardWriterRoleARNs() []string {
	part := p.Partition
	if part == "" {
		part = "aws"
	}
	stacks := p.EnforcerStacks
	if len(stacks) == 0 {
		stacks = []string{StackName, HubStackName}
	}
	spoke := p.SpokeRoleName
	if spoke == "" {
		spoke = DefaultSpokeRoleName
	}
	var out []string
	for _, s := range stacks {
		out = append(out, fmt.Sprintf("arn:%s:iam::*:role/%s-%s%s*", part, s, enforcerConstructID, roleConstructID))
	}
	return append(out, fmt.Sprintf("arn:%s:iam::*:role/%s", part, spoke))
}

// TagSCP renders the example SCP as indented JSON. Two statements:
//
//   - Load balancer and target group tags: AddTags, RemoveTags and the
//     create calls that take tags are denied when any key in the request
//     matches elbguard:*, unless the caller is one of elbguard's roles or
//     an admin role.
//   - Instance tags (elbguard:proxy-ready, the readiness gate's input): the
//     instances themselves write it (deploy/ssm/install.sh, the package's
//     scripts), with their instance profile, whose role names are the
//     fleet's, not elbguard's. So ec2:CreateTags/DeleteTags of elbguard:*
//     keys are denied unless the caller is an admin role or an instance's
//     own credentials (ec2:SourceInstanceARN present); the instance role's
//     identity policy (ProxyFleet's TagOwnInstanceReady) limits it to its
//     own instance and the one key. The trade-off: any instance role that
//     is granted ec2:CreateTags can mark its instance ready; a person's
//     role cannot mark a fleet ready without being an admin.
func TagSCP(p SCPProps) (string, error) {
	writers := p.ElbguardWriterRoleARNs()
	lbAllowed := slices.Concat(writers, p.AdminRoleARNs)
	policy := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{
				"Sid":    "OnlyElbguardAndAdminsSetElbguardLoadBalancerTags",
				"Effect": "Deny",
				"Action": []string{
					"elasticloadbalancing:AddTags",
					"elasticloadbalancing:RemoveTags",
					"elasticloadbalancing:CreateLoadBalancer",
					"elasticloadbalancing:CreateTargetGroup",
				},
				"Resource": "*",
				"Condition": map[string]any{
					"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": []string{elbguardTagPattern}},
					"ArnNotLike":             map[string]any{"aws:PrincipalArn": lbAllowed},
				},
			},
			map[string]any{
				"Sid":       "OnlyInstancesAndAdminsSetElbguardInstanceTags",
				"Effect":    "Deny",
				"Action":    []string{"ec2:CreateTags", "ec2:DeleteTags"},
				"Resource":  "*",
				"Condition": instanceCondition(p.AdminRoleARNs),
			},
		},
	}
	b, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		return "", fmt.Errorf("render the tag SCP: %w", err)
	}
	return string(b), nil
}

func instanceCondition(admins []string) map[string]any {
	c := map[string]any{
		"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": []string{elbguardTagPattern}},
		"Null":                   map[string]any{"ec2:SourceInstanceARN": "true"},
	}
	if len(admins) > 0 {
		c["ArnNotLike"] = map[string]any{"aws:PrincipalArn": admins}
	}
	return c
}
