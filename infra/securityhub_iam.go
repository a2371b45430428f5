package infra

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// SidSecurityHubImport is the statement that lets a role import its own
// account's findings into Security Hub.
const SidSecurityHubImport = "SecurityHubImportOwnFindings"

// securityHubImportStatement allows securityhub:BatchImportFindings on the
// stack account's default product in region (nil: the stack's region; "*":
// every region, for the global spoke role). With the default product,
// Security Hub accepts only findings of the account that imports them.
func securityHubImportStatement(stack awscdk.Stack, region *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String(SidSecurityHubImport),
		Actions: jsii.Strings("securityhub:BatchImportFindings"),
		Resources: jsii.Strings(*stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("securityhub"), Region: region, Resource: jsii.String("product"),
			ResourceName: jsii.String(*stack.Account() + "/default"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})),
	})
}

// SidSecurityHubRead is the statement that lets a role read its own
// account's findings: the sink keeps a finding's first CreatedAt and
// archives only findings that exist.
const SidSecurityHubRead = "SecurityHubReadOwnFindings"

// securityHubReadStatement allows securityhub:GetFindings on the stack
// account's hub in region (nil: the stack's region; "*": every region).
func securityHubReadStatement(stack awscdk.Stack, region *string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String(SidSecurityHubRead),
		Actions: jsii.Strings("securityhub:GetFindings"),
		Resources: jsii.Strings(*stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("securityhub"), Region: region, Resource: jsii.String("hub"),
			ResourceName: jsii.String("default"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})),
	})
}

// withSecurityHubIAM5 extends the spoke role's AwsSolutions-IAM5
// suppression to its Security Hub statement, whose region is a wildcard.
func withSecurityHubIAM5(s suppression) suppression {
	s.reason += " Security Hub: the hub imports the account's findings in every region it covers with this (global) role; " +
		"the statement is scoped to the account's own default Security Hub product, the only one it may import into."
	s.appliesTo = append(slices.Clone(s.appliesTo), "Resource::arn:<AWS::Partition>:securityhub:*:<AWS::AccountId>:product/<AWS::AccountId>/default",
		"Resource::arn:<AWS::Partition>:securityhub:*:<AWS::AccountId>:hub/default")
	return s
}
