package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// ReadActions are the Elastic Load Balancing reads the Lambdas make (Classic
// and ELBv2 share the IAM action names DescribeLoadBalancers,
// DescribeLoadBalancerAttributes and DescribeTags), and ec2:DescribeTags, the
// readiness gate's read of the instances' elbguard:proxy-ready tag. None of
// them supports resource-level permissions, so they are granted on "*".
var ReadActions = []string{
	"ec2:DescribeTags",
	"elasticloadbalancing:DescribeListenerAttributes",
	"elasticloadbalancing:DescribeListeners",
	"elasticloadbalancing:DescribeLoadBalancerAttributes",
	"elasticloadbalancing:DescribeLoadBalancerPolicies",
	"elasticloadbalancing:DescribeLoadBalancers",
	"elasticloadbalancing:DescribeRules",
	"elasticloadbalancing:DescribeTags",
	"elasticloadbalancing:DescribeTargetGroupAttributes",
	"elasticloadbalancing:DescribeTargetGroups",
	"elasticloadbalancing:DescribeTargetHealth",
}

// LoadBalancerWriteActions change a load balancer itself (Classic ELB
// listeners and policies; ModifyLoadBalancerAttributes is shared with ELBv2).
// All of them authorize against the loadbalancer resource, which supports the
// aws:ResourceTag condition key.
var LoadBalancerWriteActions = []string{
	"elasticloadbalancing:CreateLoadBalancerListeners",
	"elasticloadbalancing:CreateLoadBalancerPolicy",
	"elasticloadbalancing:DeleteLoadBalancerListeners",
	"elasticloadbalancing:ModifyLoadBalancerAttributes",
	"elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
	"elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
}

// TargetGroupWriteActions turn on proxy protocol v2 on NLB target groups.
var TargetGroupWriteActions = []string{"elasticloadbalancing:ModifyTargetGroupAttributes"}

// ListenerWriteActions set the TCP idle timeout on NLB listeners.
var ListenerWriteActions = []string{"elasticloadbalancing:ModifyListenerAttributes"}

// elbArn is an Elastic Load Balancing ARN pattern in the stack's partition,
// account and region, e.g. resource "loadbalancer/*".
func elbArn(stack awscdk.Stack, resource string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("elasticloadbalancing"),
		Resource:     jsii.String(resource),
		ArnFormat:    awscdk.ArnFormat_NO_RESOURCE_NAME,
		Partition:    stack.Partition(),
		Region:       stack.Region(),
		Account:      stack.Account(),
		ResourceName: nil,
	})
}

// elbStatements returns the policy statements the enforcer and the sweeper
// share. See the package documentation for the scoping decisions.
func elbStatements(stack awscdk.Stack, p EnforcerProps) []awsiam.PolicyStatement {
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadLoadBalancers"),
		Actions:   jsii.Strings(ReadActions...),
		Resources: jsii.Strings("*"),
	})}
	if p.DryRun {
		// A dry run makes zero mutating calls: grant none.
		return out
	}
	out = append(out,
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("RemediateLoadBalancers"),
			Actions:    jsii.Strings(LoadBalancerWriteActions...),
			Resources:  &[]*string{elbArn(stack, "loadbalancer/*")},
			Conditions: tagConditions(p),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RemediateTargetGroups"),
			Actions:   jsii.Strings(TargetGroupWriteActions...),
			Resources: &[]*string{elbArn(stack, "targetgroup/*")},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RemediateNetworkListeners"),
			Actions:   jsii.Strings(ListenerWriteActions...),
			Resources: &[]*string{elbArn(stack, "listener/net/*")},
		}),
	)
	return out
}

// tagConditions limits load balancer writes by the enforcement tag:
//   - default mode off or audit (opt-in): only load balancers tagged
//     TagKey=enforce (any case);
//   - default mode enforce: every load balancer except those tagged off or
//     audit (an absent tag satisfies StringNotEqualsIgnoreCase).
func tagConditions(p EnforcerProps) *map[string]interface{} {
	key := "aws:ResourceTag/" + p.TagKey
	if p.DefaultMode == "enforce" {
		return &map[string]interface{}{
			"StringNotEqualsIgnoreCase": map[string]interface{}{key: []string{"off", "audit"}},
		}
	}
	return &map[string]interface{}{
		"StringEqualsIgnoreCase": map[string]interface{}{key: "enforce"},
	}
}
