package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Stack names of the app.
const (
	StackName     = "ElbGuard"
	EdgeDemoStack = "ElbGuardEdgeDemo"
)

// NewElbGuardStack is the ElbGuard stack: one Enforcer with props. The stack
// is environment-agnostic unless stackProps sets Env; synthesis needs no AWS
// credentials and makes no context lookups.
func NewElbGuardStack(scope constructs.Construct, id string, stackProps *awscdk.StackProps, props *EnforcerProps) (awscdk.Stack, *Enforcer, error) {
	var sp awscdk.StackProps
	if stackProps != nil {
		sp = *stackProps
	}
	if sp.Description == nil {
		sp.Description = jsii.String("elbguard: keeps tagged Classic ELBs and NLBs on TCP/SSL with proxy protocol (enforcer and sweeper Lambdas)")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	e, err := NewEnforcer(stack, jsii.String("Enforcer"), props)
	if err != nil {
		return nil, nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	return stack, e, nil
}

// Config is everything the app reads from CDK context.
type Config struct {
	// Enforcer configures the ElbGuard stack.
	Enforcer EnforcerProps
	// Demo adds the ElbGuardEdgeDemo stack (context demo=true).
	Demo bool
	// Edge configures the demo stack; its TagKey follows Enforcer.TagKey.
	Edge EdgeDemoProps
	// Org adds the organization stacks ElbGuardHub and ElbGuardSpoke.
	Org OrgConfig
	// ProxyFleet adds ElbGuardProxyFleet (context proxyFleet=true).
	ProxyFleet ProxyFleetConfig
}

// Build adds the app's stacks to app: ElbGuard always, ElbGuardEdgeDemo when
// cfg.Demo, ElbGuardHub and ElbGuardSpoke when cfg.Org asks for them, and
// the cdk-nag AwsSolutions checks on everything.
func Build(app awscdk.App, cfg Config) error {
	stack, _, err := NewElbGuardStack(app, StackName, nil, &cfg.Enforcer)
	if err != nil {
		return err
	}
	if cfg.Demo {
		edge := cfg.Edge
		if edge.TagKey == "" {
			edge.TagKey = cfg.Enforcer.TagKey
		}
		d, err := NewEdgeDemoStack(app, EdgeDemoStack, nil, &edge)
		if err != nil {
			return err
		}
		// The enforcer's rules must exist when the demo's load balancer is
		// created, so that its CreateLoadBalancer event is handled at once.
		d.Stack.AddStackDependency(stack, jsii.String("the enforcer brings the demo load balancer to proxy protocol"))
	}
	if err := buildOrg(app, cfg); err != nil {
		return err
	}
	if err := buildProxyFleet(app, cfg); err != nil {
		return err
	}
	AddNagChecks(app)
	return nil
}
