package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// SpokeStackName is the stack that makes an account a spoke of the hub.
const SpokeStackName = "ElbGuardSpoke"

// Parameters of the spoke template. The StackSet supplies them from the hub
// stack; `cdk deploy ElbGuardSpoke` takes their defaults from context.
const (
	ParamHubRoleArn = "HubRoleArn"
	ParamHubAccount = "HubAccount"
	ParamHubRegion  = "HubRegion"
	ParamRoleRegion = "RoleRegion"
)

// SpokeProps configures NewSpokeStack. A spoke holds no Lambda code and no
// assets, so the same template deploys as a StackSet or account by account.
type SpokeProps struct {
	// TagKey, DefaultMode and DryRun mean what they mean in EnforcerProps
	// and must match the hub's: the spoke role's permissions are built by
	// the same code as the single-account role's (tag conditions included).
	TagKey      string
	DefaultMode string
	DryRun      bool
	// RoleName is the spoke role's name (HubProps.SpokeRoleName of the hub).
	// Empty: DefaultSpokeRoleName.
	RoleName string
	// OrgID, when set, adds aws:PrincipalOrgID = OrgID to the spoke role's
	// trust policy, next to the hub role's ARN.
	OrgID string
	// HubRoleArn is the hub functions' role (output HubRoleArn of
	// ElbGuardHub), the only principal the spoke role trusts. Required by
	// NewSpokeStack; it becomes the default of the HubRoleArn parameter.
	HubRoleArn string
	// HubAccount is the hub's account id. Empty: the account of HubRoleArn.
	HubAccount string
	// HubRegion is the region of the hub's event bus. Empty: the region the
	// spoke is deployed in.
	HubRegion string
	// RoleRegion is the region whose stack creates the spoke role: IAM roles
	// are global, so an account deployed in several regions must create it
	// once. Empty: every region creates it (deploy in one region only).
	RoleRegion string
	// SecurityHub grants the spoke role securityhub:BatchImportFindings on
	// the account's own default product in every region: the hub imports
	// each account's findings with that account's role, since Security Hub
	// takes a default-product finding only from the account it names. Set
	// it when the hub's Compliance.SecurityHub is. Default false.
	SecurityHub bool
}

// withDefaults returns a copy of s with zero values replaced by defaults.
func (s SpokeProps) withDefaults() SpokeProps {
	if s.RoleName == "" {
		s.RoleName = DefaultSpokeRoleName
	}
	if s.HubAccount == "" {
		if m := roleArnPattern.FindStringSubmatch(s.HubRoleArn); m != nil {
			s.HubAccount = m[1]
		}
	}
	return s
}

// enforcement is the EnforcerProps subset the spoke role's policy follows.
func (s SpokeProps) enforcement() EnforcerProps {
	return EnforcerProps{TagKey: s.TagKey, DefaultMode: s.DefaultMode, DryRun: s.DryRun}.withDefaults()
}

// Validate reports the first invalid field of s (after defaults), naming the
// field and the allowed values. The error wraps ErrInvalidProps.
func (s SpokeProps) Validate() error {
	return s.validate(true)
}

// validate is Validate; with requireHub false the hub's role and account may
// be empty (the StackSet supplies them as parameters).
func (s SpokeProps) validate(requireHub bool) error {
	s = s.withDefaults()
	if err := s.enforcement().Validate(); err != nil {
		return err
	}
	if err := checkID("RoleName", s.RoleName, roleNamePattern, wantRoleName); err != nil {
		return err
	}
	if s.OrgID != "" {
		if err := checkID("OrgID", s.OrgID, orgIDPattern, wantOrgID); err != nil {
			return err
		}
	}
	if s.HubRoleArn != "" || requireHub {
		if err := checkID("HubRoleArn", s.HubRoleArn, roleArnPattern, wantRoleArn+" (output HubRoleArn of "+HubStackName+")"); err != nil {
			return err
		}
	}
	if s.HubAccount != "" || requireHub {
		if err := checkID("HubAccount", s.HubAccount, accountIDPattern, wantAccountID); err != nil {
			return err
		}
	}
	if m := roleArnPattern.FindStringSubmatch(s.HubRoleArn); m != nil && m[1] != s.HubAccount {
		return fmt.Errorf("%w: HubAccount %q: the hub role %s is in account %s; want the same account", ErrInvalidProps, s.HubAccount, s.HubRoleArn, m[1])
	}
	for _, r := range []struct{ field, v string }{{"HubRegion", s.HubRegion}, {"RoleRegion", s.RoleRegion}} {
		if r.v != "" {
			if err := checkID(r.field, r.v, regionPattern, wantRegion); err != nil {
				return err
			}
		}
	}
	return nil
}

// Spoke is what NewSpokeStack returns.
type Spoke struct {
	Stack awscdk.Stack
	// Props are the validated props with defaults applied.
	Props SpokeProps
	// Role is the spoke role the hub assumes (created only where the
	// RoleRegion condition holds).
	Role awsiam.Role
	// ForwarderRole lets EventBridge put events on the hub's bus.
	ForwarderRole awsiam.Role
	// Rules forward ELB API calls and tag changes to the hub's bus.
	Rules []awsevents.Rule
}

// NewSpokeStack is the ElbGuardSpoke stack: the role the hub assumes and the
// rules that forward the account's ELB events to the hub's bus. It uses the
// BootstraplessSynthesizer unless stackProps names a synthesizer: it has no
// assets, so the account needs no `cdk bootstrap`.
func NewSpokeStack(scope constructs.Construct, id string, stackProps *awscdk.StackProps, props *SpokeProps) (*Spoke, error) {
	return newSpokeStack(scope, id, stackProps, props, true)
}

func newSpokeStack(scope constructs.Construct, id string, stackProps *awscdk.StackProps, props *SpokeProps, requireHub bool) (*Spoke, error) {
	var s SpokeProps
	if props != nil {
		s = *props
	}
	if err := s.validate(requireHub); err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	s = s.withDefaults()
	var sp awscdk.StackProps
	if stackProps != nil {
		sp = *stackProps
	}
	if sp.Description == nil {
		sp.Description = jsii.String("elbguard spoke: the role the elbguard hub assumes to keep this account's Classic ELBs and NLBs on proxy protocol, and the rules forwarding ELB events to the hub")
	}
	if sp.Synthesizer == nil {
		sp.Synthesizer = awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{})
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	out := &Spoke{Stack: stack, Props: s}

	param := func(name, description, pattern, def string) awscdk.CfnParameter {
		p := &awscdk.CfnParameterProps{
			Type:           jsii.String("String"),
			Description:    jsii.String(description),
			AllowedPattern: jsii.String(pattern),
		}
		if def != "" || pattern[0:3] == "^$|" {
			p.Default = jsii.String(def)
		}
		return awscdk.NewCfnParameter(stack, jsii.String(name), p)
	}
	hubRoleArn := param(ParamHubRoleArn, "ARN of the elbguard hub functions' role (output HubRoleArn of the ElbGuardHub stack)",
		`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`, s.HubRoleArn)
	hubAccount := param(ParamHubAccount, "Account id of the elbguard hub", `^[0-9]{12}$`, s.HubAccount)
	hubRegion := param(ParamHubRegion, "Region of the elbguard hub's event bus; empty: this region", `^$|^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$`, s.HubRegion)
	roleRegion := param(ParamRoleRegion, "The one region whose stack creates the account's (global) spoke role; empty: this region",
		`^$|^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$`, s.RoleRegion)

	hubInThisRegion := awscdk.NewCfnCondition(stack, jsii.String("HubInThisRegion"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(hubRegion.ValueAsString(), jsii.String("")),
	})
	createRole := awscdk.NewCfnCondition(stack, jsii.String("CreateSpokeRole"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionOr(
			awscdk.Fn_ConditionEquals(roleRegion.ValueAsString(), jsii.String("")),
			awscdk.Fn_ConditionEquals(roleRegion.ValueAsString(), stack.Region()),
		),
	})

	// The role the hub assumes: trusted by the hub role's ARN only (and the
	// organization, when known), with the single-account role's statements
	// for load balancers in every region (the role is global).
	var trust awsiam.IPrincipal = awsiam.NewArnPrincipal(hubRoleArn.ValueAsString())
	if s.OrgID != "" {
		trust = awsiam.NewPrincipalWithConditions(trust, &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": s.OrgID},
		})
	}
	out.Role = awsiam.NewRole(stack, jsii.String("SpokeRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(s.RoleName),
		AssumedBy:   trust,
		Description: jsii.String("elbguard spoke: assumed by the elbguard hub for ELB reads and tag-scoped remediation"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"elbguard": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
				Statements: ptrs(spokeStatements(stack, s)),
			}),
		},
	})
	out.Role.Node().DefaultChild().(awscdk.CfnResource).CfnOptions().SetCondition(createRole)

	// Forward the account's ELB events to the hub's bus, with the same
	// patterns as the enforcer's rules.
	busRegion := awscdk.Token_AsString(awscdk.Fn_ConditionIf(hubInThisRegion.LogicalId(), stack.Region(), hubRegion.ValueAsString()), nil)
	busArn := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), stack.Partition(), jsii.String(":events:"), busRegion, jsii.String(":"),
		hubAccount.ValueAsString(), jsii.String(":event-bus/" + HubEventBusName),
	})
	bus := awsevents.EventBus_FromEventBusArn(stack, jsii.String("HubEventBus"), busArn)
	out.ForwarderRole = awsiam.NewRole(stack, jsii.String("ForwarderRole"), &awsiam.RoleProps{
		AssumedBy:   forwarderPrincipal(stack),
		Description: jsii.String("elbguard spoke: lets EventBridge put this account's ELB events on the hub's bus"),
	})
	target := awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{Role: out.ForwarderRole})
	for _, r := range []struct {
		id, description string
		pattern         *awsevents.EventPattern
	}{
		{"ForwardApiCalls", "elbguard spoke: ELB API calls (recorded by CloudTrail) to the elbguard hub", apiCallPattern()},
		{"ForwardTagChanges", "elbguard spoke: tag changes on Elastic Load Balancing resources to the elbguard hub", tagChangePattern()},
	} {
		out.Rules = append(out.Rules, awsevents.NewRule(stack, jsii.String(r.id), &awsevents.RuleProps{
			Description:  jsii.String(r.description),
			EventPattern: r.pattern,
			Targets:      &[]awsevents.IRuleTarget{target},
		}))
	}

	iam5 := elbIAM5("*")
	iam5.reason += " The spoke role is global (IAM) and the hub uses it in every region of the account, so the region part is a wildcard."
	if s.SecurityHub {
		iam5 = withSecurityHubIAM5(iam5)
	}
	suppress(out.Role, true, iam5)
	return out, nil
}

// forwarderPrincipal is EventBridge acting for this account's rules only
// (AWS's cross-service confused-deputy guidance): aws:SourceAccount is the
// rule's account, aws:SourceArn the rule's ARN, here any rule of the
// default bus in this account and region. The rules' own ARNs would be
// exact, but the rules name the role as their target: a cycle.
func forwarderPrincipal(stack awscdk.Stack) awsiam.IPrincipal {
	rules := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), stack.Partition(), jsii.String(":events:"), stack.Region(), jsii.String(":"), stack.Account(), jsii.String(":rule/*"),
	})
	return awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
			"ArnLike":      map[string]interface{}{"aws:SourceArn": rules},
		},
	})
}

// spokeStatements are the spoke role's: the single-account role's for load
// balancers in every region, and the Security Hub import when asked for.
func spokeStatements(stack awscdk.Stack, s SpokeProps) []awsiam.PolicyStatement {
	sts := elbStatementsIn(stack, jsii.String("*"), s.enforcement())
	if s.SecurityHub {
		sts = append(sts, securityHubImportStatement(stack, jsii.String("*")), securityHubReadStatement(stack, jsii.String("*")))
	}
	return sts
}

func ptrs[T any](in []T) *[]T { return &in }
