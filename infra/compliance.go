package infra

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsconfig"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/compliance/configrule"
	"github.com/elbguard/elbguard/fleet"
)

// configRuleTimeoutSeconds: a periodic evaluation reads every load balancer
// in the region, like a sweep.
const configRuleTimeoutSeconds = 900

// ComplianceProps puts elbguard's results where people already look. The
// zero value adds nothing.
type ComplianceProps struct {
	// SecurityHub makes the Lambdas import findings into Security Hub
	// (ELBGUARD_SECURITY_HUB=true); their role gets
	// securityhub:BatchImportFindings on the account's default product and
	// nothing more of Security Hub. Security Hub must be enabled.
	SecurityHub bool
	// Notify creates NotifyTopic, which gets one message per remediation,
	// rollback, failed remediation and readiness block.
	Notify bool
	// NotifyEmail, when set, is subscribed to NotifyTopic (and implies Notify).
	NotifyEmail string
	// ConfigRule adds the AWS Config custom rule elbguard-proxy-protocol
	// and its read-only Lambda. Off by default: Config must be recording
	// load balancers, which costs money.
	ConfigRule bool
}

// Compliance is what addCompliance created; fields are nil when off.
type Compliance struct {
	// NotifyTopic receives the notifications; subscribe your own endpoints.
	NotifyTopic awssns.Topic
	// ConfigRuleFunction evaluates load balancers for ConfigRule.
	ConfigRuleFunction awslambda.Function
	// ConfigRule is the Config custom rule.
	ConfigRule awsconfig.CustomRule
}

func (c ComplianceProps) validate() error {
	if c.NotifyEmail != "" {
		if err := validateEmail(c.NotifyEmail); err != nil {
			return fmt.Errorf("%w: Compliance.NotifyEmail %q: %w", ErrInvalidProps, c.NotifyEmail, err)
		}
	}
	return nil
}

// checkComplianceAssets fails when ConfigRule is on and its bootstrap is
// missing, before anything is created.
func checkComplianceAssets(p EnforcerProps) error {
	if !p.Compliance.ConfigRule {
		return nil
	}
	if _, err := os.Stat(filepath.Join(p.LambdaAssetDir, "configrule", "bootstrap")); err != nil {
		return fmt.Errorf("%w: LambdaAssetDir %q: configrule/bootstrap missing (run make build-lambda): %w", ErrInvalidProps, p.LambdaAssetDir, err)
	}
	return nil
}

// addCompliance adds what e.Props.Compliance asks for.
func addCompliance(e *Enforcer) {
	c := e.Props.Compliance
	stack := awscdk.Stack_Of(e.Construct)
	fns := []awslambda.Function{e.EnforcerFunction, e.SweeperFunction}
	if e.Hub != nil { // a hub's sweep units run (and publish) in its worker
		fns = append(fns, e.Hub.SweepWorkerFunction)
	}
	var anySink bool
	if c.SecurityHub {
		anySink = true
		e.Role.AddToPrincipalPolicy(securityHubImportStatement(stack, nil))
		e.Role.AddToPrincipalPolicy(securityHubReadStatement(stack, nil))
		for _, fn := range fns {
			fn.AddEnvironment(jsii.String(fleet.EnvSecurityHub), jsii.String("true"), nil)
		}
	}
	if c.Notify || c.NotifyEmail != "" {
		anySink = true
		e.Compliance.NotifyTopic = awssns.NewTopic(e.Construct, jsii.String("NotifyTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("elbguard notifications"),
			MasterKey:   e.AlarmKey,
			EnforceSSL:  jsii.Bool(true),
		})
		if c.NotifyEmail != "" {
			e.Compliance.NotifyTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(c.NotifyEmail), nil))
		}
		// Not GrantPublish: it grants kms:GenerateDataKey*, a wildcard.
		e.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("PublishNotifications"), Actions: jsii.Strings("sns:Publish"),
			Resources: jsii.Strings(*e.Compliance.NotifyTopic.TopicArn()),
		}))
		e.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("EncryptNotifications"), Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources: jsii.Strings(*e.AlarmKey.KeyArn()),
		}))
		for _, fn := range fns {
			fn.AddEnvironment(jsii.String(fleet.EnvNotifyTopicARN), e.Compliance.NotifyTopic.TopicArn(), nil)
		}
	}
	if anySink {
		a := awscloudwatch.NewAlarm(e.Construct, jsii.String("PublishFailuresAlarm"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String("elbguard: findings or notifications could not be published (Security Hub or SNS unavailable, throttled or denied); enforcement is unaffected, see the functions' logs"),
			Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:  jsii.String(fleet.MetricNamespace),
				MetricName: jsii.String(fleet.MetricPublishFailures),
				Statistic:  jsii.String("Sum"),
				Period:     awscdk.Duration_Minutes(jsii.Number(15)),
			}),
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(e.AlarmTopic))
	}
	if c.ConfigRule {
		addConfigRule(e, stack)
	}
}

// addConfigRule creates the read-only rule function with its own role and
// the Config custom rule, triggered by changes of Classic and ELBv2 load
// balancers and every 24 hours.
func addConfigRule(e *Enforcer, stack awscdk.Stack) {
	p := e.Props
	dir := filepath.Join(p.LambdaAssetDir, "configrule")
	role := awsiam.NewRole(e.Construct, jsii.String("ConfigRuleRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("elbguard Config rule: ELB reads and config:PutEvaluations only"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ElbRead"), Actions: jsii.Strings(ReadActions...), Resources: jsii.Strings("*"),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ConfigEvaluations"), Actions: jsii.Strings("config:PutEvaluations"), Resources: jsii.Strings("*"),
	}))
	logGroup := awslogs.NewLogGroup(e.Construct, jsii.String("ConfigRuleLogGroup"), &awslogs.LogGroupProps{
		Retention:     logRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logGroup.GrantWrite(role)
	fn := awslambda.NewFunction(e.Construct, jsii.String("ConfigRuleFunction"), &awslambda.FunctionProps{
		Description:   jsii.String("elbguard Config rule " + configrule.RuleName + ": evaluates Classic ELBs and NLBs read-only"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(dir), nil),
		MemorySize:    jsii.Number(functionMemoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(configRuleTimeoutSeconds)),
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment: &map[string]*string{
			fleet.EnvTagKey:      jsii.String(p.TagKey),
			fleet.EnvDefaultMode: jsii.String(p.DefaultMode),
			fleet.EnvDryRun:      jsii.String("true"),
			fleet.EnvConcurrency: jsii.String(fmt.Sprint(p.Concurrency)),
		},
	})
	e.Compliance.ConfigRuleFunction = fn
	e.Compliance.ConfigRule = awsconfig.NewCustomRule(e.Construct, jsii.String("ConfigRule"), &awsconfig.CustomRuleProps{
		ConfigRuleName:            jsii.String(configrule.RuleName),
		Description:               jsii.String("elbguard: Classic ELBs and NLBs send the PROXY protocol on TCP/SSL listeners (NOT_APPLICABLE: ALB, GWLB, out of scope, exempt)"),
		LambdaFunction:            fn,
		ConfigurationChanges:      jsii.Bool(true),
		Periodic:                  jsii.Bool(true),
		MaximumExecutionFrequency: awsconfig.MaximumExecutionFrequency_TWENTY_FOUR_HOURS,
		RuleScope: awsconfig.RuleScope_FromResources(&[]awsconfig.ResourceType{
			awsconfig.ResourceType_ELB_LOAD_BALANCER(), awsconfig.ResourceType_ELBV2_LOAD_BALANCER()}),
	})
	suppress(role, true, suppression{
		id: "AwsSolutions-IAM4",
		reason: "awsconfig.CustomRule attaches AWSConfigRulesExecutionRole, which lets the function read oversized " +
			"configuration items from the Config bucket and put evaluations; it grants no load balancer write.",
		appliesTo: []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSConfigRulesExecutionRole"},
	}, suppression{
		id: "AwsSolutions-IAM5",
		reason: "Elastic Load Balancing Describe* calls and config:PutEvaluations support no resource-level permissions " +
			"(Resource \"*\" is the only option); the role has no write permission on any load balancer.",
		appliesTo: []string{"Resource::*"},
	})
}
