// Package infra is what deploys elbguard: the reusable CDK construct
// NewEnforcer (the enforcer and sweeper Lambdas, their EventBridge rules,
// dead-letter queues, alarms and least-privilege IAM), the ElbGuard stack
// built from it, and the ElbGuardEdgeDemo stack whose instances run
// elbguard-proxy behind a Classic ELB or an NLB.
//
// For an AWS Organization, NewHubStack deploys the same Enforcer with
// HubProps (a central event bus that admits only the organization, a sweep
// fanned out over SQS to workers, cross-account role assumption), and
// NewSpokeStack the per-account part: the role only the hub may assume,
// with the single-account role's statements, and the rules forwarding ELB
// events to the hub. The hub deploys the spoke to organizational units as a
// service-managed StackSet from SpokeTemplateBody.
//
// Users import it into their own CDK app:
//
//	enforcer, err := infra.NewEnforcer(stack, jsii.String("ElbGuard"), &infra.EnforcerProps{DefaultMode: "off"})
//
// Every function validates its props before creating anything and returns an
// error wrapping ErrInvalidProps that names the bad field and the allowed
// values. The app in infra/app reads the same props from CDK context
// (cdk deploy -c tagKey=... -c defaultMode=enforce ...), see ConfigFromContext.
//
// IAM scoping (see README.md in this folder for the reasoning): reads are
// Describe* calls on "*" because Elastic Load Balancing allows nothing
// narrower for them; every mutating call is limited to load balancer, target
// group and NLB listener ARNs of the stack's account and region; calls on load
// balancers additionally carry an aws:ResourceTag condition on the
// enforcement tag; ModifyTargetGroupAttributes and ModifyListenerAttributes
// cannot, because target groups and listeners do not carry their load
// balancer's tags.
package infra
