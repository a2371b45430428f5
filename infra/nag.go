package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// AddNagChecks applies cdk-nag's AwsSolutions rules to scope (usually the
// App): every finding becomes an error annotation, which fails `cdk synth`,
// unless it is suppressed with a reason by the construct that caused it.
func AddNagChecks(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(true),
	}), nil)
}

// suppression is one cdk-nag rule suppressed on a construct, with its reason
// and, for rules with granular findings, exactly which findings.
type suppression struct {
	id        string
	reason    string
	appliesTo []string
}

func suppress(c constructs.IConstruct, children bool, ss ...suppression) {
	out := make([]*cdknag.NagPackSuppression, 0, len(ss))
	for _, s := range ss {
		ns := &cdknag.NagPackSuppression{Id: jsii.String(s.id), Reason: jsii.String(s.reason)}
		if len(s.appliesTo) > 0 {
			applies := make([]interface{}, len(s.appliesTo))
			for i, a := range s.appliesTo {
				applies[i] = a
			}
			ns.AppliesTo = &applies
		}
		out = append(out, ns)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &out, jsii.Bool(children))
}

// suppressEnforcerFindings records why the enforcer's remaining cdk-nag
// findings are accepted.
func suppressEnforcerFindings(e *Enforcer) {
	suppress(e.Role, true, elbIAM5("<AWS::Region>"))
	sqs3 := suppression{
		id:     "AwsSolutions-SQS3",
		reason: "This queue is itself a dead-letter queue (EventBridge target DLQ / Lambda on-failure destination); a DLQ of a DLQ would only move the messages its alarm already reports.",
	}
	suppress(e.EventDeadLetterQueue, false, sqs3)
	suppress(e.FailureQueue, false, sqs3)
}

// elbIAM5 suppresses AwsSolutions-IAM5 for exactly the resource strings of
// elbStatementsIn with region as cdk-nag renders it ("<AWS::Region>" for the
// stack's region, "*" for the spoke role).
func elbIAM5(region string) suppression {
	return suppression{
		id: "AwsSolutions-IAM5",
		reason: "Elastic Load Balancing Describe* calls support no resource-level permissions (Resource \"*\" is the only option); " +
			"mutating calls are scoped to load balancer / target group / NLB listener ARNs of this account and region, " +
			"and on load balancers further by an aws:ResourceTag condition on the enforcement tag (tag writes also by aws:TagKeys to elbguard:restore:*); " +
			"certificate reads (before a listener is replaced) are scoped to the account's IAM server certificates and the region's ACM certificates. The Lambdas act on load " +
			"balancers created after deployment, so no narrower ARN can be known at synth time.",
		appliesTo: []string{
			"Resource::*",
			"Resource::arn:<AWS::Partition>:elasticloadbalancing:" + region + ":<AWS::AccountId>:loadbalancer/*",
			"Resource::arn:<AWS::Partition>:elasticloadbalancing:" + region + ":<AWS::AccountId>:targetgroup/*",
			"Resource::arn:<AWS::Partition>:elasticloadbalancing:" + region + ":<AWS::AccountId>:listener/net/*",
			"Resource::arn:<AWS::Partition>:acm:" + region + ":<AWS::AccountId>:certificate/*",
			"Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:server-certificate/*",
		},
	}
}
