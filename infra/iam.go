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

// RestoreTagActions write and remove the restore tag that keeps a Classic
// listener elbguard removed and could not put back (engine/restore.go). They
// are limited to tag keys matching RestoreTagKeys.
var RestoreTagActions = []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}

// RestoreTagKeys is the only tag key pattern the Lambdas may add or remove.
const RestoreTagKeys = "elbguard:restore:*"

// CertificateReadActions read a Classic HTTPS/SSL listener's certificate
// before the listener is deleted (engine/certs.go).
var CertificateReadActions = []string{"acm:DescribeCertificate", "iam:GetServerCertificate"}

// elbArn is an Elastic Load Balancing ARN pattern in the stack's partition
// and account and in region, e.g. resource "loadbalancer/*".
func elbArn(stack awscdk.Stack, region *string, resource string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("elasticloadbalancing"),
		Resource:     jsii.String(resource),
		ArnFormat:    awscdk.ArnFormat_NO_RESOURCE_NAME,
		Partition:    stack.Partition(),
		Region:       region,
		Account:      stack.Account(),
		ResourceName: nil,
	})
}

// elbStatements returns the policy statements the enforcer and the sweeper
// share, for the stack's region. See the package documentation for the
// scoping decisions.
func elbStatements(stack awscdk.Stack, p EnforcerProps) []awsiam.PolicyStatement {
	return elbStatementsIn(stack, stack.Region(), p)
}

// elbStatementsIn is elbStatements for the load balancers of region ("*":
// every region, for the spoke role, which IAM makes global).
func elbStatementsIn(stack awscdk.Stack, region *string, p EnforcerProps) []awsiam.PolicyStatement {
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
			Resources:  &[]*string{elbArn(stack, region, "loadbalancer/*")},
			Conditions: tagConditions(p),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeepRemovedListenersInTags"),
			Actions:    jsii.Strings(RestoreTagActions...),
			Resources:  &[]*string{elbArn(stack, region, "loadbalancer/*")},
			Conditions: restoreTagConditions(p),
		}),
		healthDroppedStatement(stack, region, p),
		healthDroppedGroupsStatement(stack, region),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadListenerCertificates"),
			Actions:   jsii.Strings(CertificateReadActions...),
			Resources: &[]*string{certificateArn(stack, region, "acm"), certificateArn(stack, region, "iam")},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RemediateTargetGroups"),
			Actions:   jsii.Strings(TargetGroupWriteActions...),
			Resources: &[]*string{elbArn(stack, region, "targetgroup/*")},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RemediateNetworkListeners"),
			Actions:   jsii.Strings(ListenerWriteActions...),
			Resources: &[]*string{elbArn(stack, region, "listener/net/*")},
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

// restoreTagConditions are the load balancer writes' tag conditions, plus:
// only keys matching RestoreTagKeys may be added or removed.
func restoreTagConditions(p EnforcerProps) *map[string]interface{} {
	c := map[string]interface{}{}
	for k, v := range *tagConditions(p) {
		c[k] = v
	}
	c["ForAllValues:StringLike"] = map[string]interface{}{"aws:TagKeys": RestoreTagKeys}
	return &c
}

// certificateArn is the ARN pattern of the stack account's certificates:
// IAM server certificates (global) or ACM certificates of the region.
func certificateArn(stack awscdk.Stack, region *string, service string) *string {
	c := &awscdk.ArnComponents{Service: jsii.String(service), Resource: jsii.String("certificate/*"), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME,
		Partition: stack.Partition(), Region: region, Account: stack.Account()}
	if service == "iam" {
		c.Resource, c.Region = jsii.String("server-certificate/*"), jsii.String("")
	}
	return stack.FormatArn(c)
}
