package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// HubStackName is the organization's hub stack, deployed once in a security
// or delegated administrator account.
const HubStackName = "ElbGuardHub"

// HubStackProps configures NewHubStack.
type HubStackProps struct {
	// Enforcer configures the hub's Enforcer; Enforcer.Hub is required.
	Enforcer EnforcerProps
	// StackSet, when set, deploys the spoke to organizational units with a
	// service-managed StackSet. Nil: deploy ElbGuardSpoke yourself.
	StackSet *StackSetProps
}

// HubStack is what NewHubStack returns.
type HubStack struct {
	Stack    awscdk.Stack
	Enforcer *Enforcer
	// StackSet is the spoke StackSet, or nil unless props.StackSet.
	StackSet awscloudformation.CfnStackSet
	// SpokeTemplate is the StackSet's inline template ("" without one).
	SpokeTemplate string
}

// NewHubStack is the ElbGuardHub stack: the Enforcer with hub settings (the
// central bus and its rules, the enforcer, sweeper and sweep workers, queues,
// alarms), outputs HubRoleArn and HubEventBusArn for spokes deployed by hand,
// and optionally the spoke StackSet. Nothing is created when props are
// invalid.
func NewHubStack(scope constructs.Construct, id string, stackProps *awscdk.StackProps, props *HubStackProps) (*HubStack, error) {
	var p HubStackProps
	if props != nil {
		p = *props
	}
	if p.Enforcer.Hub == nil {
		return nil, fmt.Errorf("build stack %s: %w: Enforcer.Hub is nil: want the organization's HubProps", id, ErrInvalidProps)
	}
	if err := p.StackSet.validate(); err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	if p.StackSet != nil && p.Enforcer.Hub.OrgID == "" {
		return nil, fmt.Errorf("build stack %s: %w: Hub.OrgID is empty: a service-managed StackSet deploys to organizational units and needs the organization id", id, ErrInvalidProps)
	}
	if p.StackSet != nil && len(p.Enforcer.Hub.OrgUnits) == 0 {
		// The hub sweeps where the StackSet deploys (a copy: props stay the caller's).
		h := *p.Enforcer.Hub
		h.OrgUnits = p.StackSet.OrgUnits
		p.Enforcer.Hub = &h
	}
	if err := p.Enforcer.Validate(); err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	var body string
	if p.StackSet != nil {
		// Rendered before anything is added to scope: a spoke that fails
		// its checks leaves no half-built hub behind.
		var err error
		if body, err = SpokeTemplateBody(spokePropsFor(p.Enforcer.withDefaults())); err != nil {
			return nil, fmt.Errorf("build stack %s: %w", id, err)
		}
	}

	var sp awscdk.StackProps
	if stackProps != nil {
		sp = *stackProps
	}
	if sp.Description == nil {
		sp.Description = jsii.String("elbguard hub: keeps tagged Classic ELBs and NLBs on proxy protocol in every account of an organization (central event bus, enforcer, sweeper and sweep worker Lambdas)")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	e, err := NewEnforcer(stack, jsii.String("Enforcer"), &p.Enforcer)
	if err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	out := &HubStack{Stack: stack, Enforcer: e, SpokeTemplate: body}
	awscdk.NewCfnOutput(stack, jsii.String("HubRoleArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The hub functions' role: -c hubRoleArn=... for ElbGuardSpoke"),
		Value:       e.Role.RoleArn(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("HubEventBusArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The bus the spokes forward ELB events to"),
		Value:       e.Hub.EventBus.EventBusArn(),
	})
	if p.StackSet != nil {
		out.StackSet = newSpokeStackSet(stack, e, p.StackSet.withDefaults(), body)
	}
	return out, nil
}
