package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// inUseRetry bounds the retries of DeleteTargetGroup while the load
// balancer just deleted still holds the target group (ResourceInUse).
const inUseRetry = 30 * time.Second

// exec makes one call, its ${REF}s resolved from refs, and records what it
// returns: ARNs into refs and res.
func (m *Migrator) exec(ctx context.Context, c *Call, refs map[string]string, res *Result) error {
	in, err := c.resolved(refs)
	if err != nil {
		return err
	}
	switch in := in.(type) {
	case *elbv2.CreateLoadBalancerInput:
		out, err := m.c.V2.CreateLoadBalancer(ctx, in)
		if err != nil {
			return err
		}
		if len(out.LoadBalancers) != 1 {
			return fmt.Errorf("got %d load balancers; want 1", len(out.LoadBalancers))
		}
		m.setNLB(res, &out.LoadBalancers[0])
		c.Result = res.NLB.ARN
	case *elbv2.ModifyLoadBalancerAttributesInput:
		_, err = m.c.V2.ModifyLoadBalancerAttributes(ctx, in)
	case *elbv2.CreateTargetGroupInput:
		out, err := m.c.V2.CreateTargetGroup(ctx, in)
		if err != nil {
			return err
		}
		if len(out.TargetGroups) != 1 {
			return fmt.Errorf("got %d target groups; want 1", len(out.TargetGroups))
		}
		c.Result = aws.ToString(out.TargetGroups[0].TargetGroupArn)
		for i := range res.TargetGroups {
			if res.TargetGroups[i].Name == aws.ToString(in.Name) {
				res.TargetGroups[i].ARN = c.Result
			}
		}
	case *elbv2.ModifyTargetGroupAttributesInput:
		_, err = m.c.V2.ModifyTargetGroupAttributes(ctx, in)
	case *elbv2.RegisterTargetsInput:
		_, err = m.c.V2.RegisterTargets(ctx, in)
	case *elbv2.CreateListenerInput:
		out, err := m.c.V2.CreateListener(ctx, in)
		if err != nil {
			return err
		}
		if len(out.Listeners) != 1 {
			return fmt.Errorf("got %d listeners; want 1", len(out.Listeners))
		}
		c.Result = aws.ToString(out.Listeners[0].ListenerArn)
		for i := range res.Listeners {
			if res.Listeners[i].Port == aws.ToInt32(in.Port) {
				res.Listeners[i].ARN = c.Result
			}
		}
	case *elbv2.ModifyListenerAttributesInput:
		_, err = m.c.V2.ModifyListenerAttributes(ctx, in)
	case *elbv2.DeleteLoadBalancerInput:
		_, err = m.c.V2.DeleteLoadBalancer(ctx, in)
	case *elbv2.DeleteTargetGroupInput:
		err = m.deleteTargetGroup(ctx, in)
	case *route53.ChangeResourceRecordSetsInput:
		if m.c.Route53 == nil {
			return errors.New("no Route 53 client")
		}
		out, err := m.c.Route53.ChangeResourceRecordSets(ctx, in)
		if err != nil {
			return err
		}
		if out.ChangeInfo != nil {
			c.Result = aws.ToString(out.ChangeInfo.Id)
		}
	default:
		return fmt.Errorf("%s: no executor for %T", c.API, in)
	}
	if err != nil {
		return err
	}
	if c.Ref != "" {
		if c.Result == "" {
			return fmt.Errorf("%s returned no ARN for %s", c.API, c.Ref)
		}
		refs[c.Ref] = c.Result
	}
	return nil
}

// deleteTargetGroup deletes a target group, retrying while the load
// balancer deleted just before still holds it.
func (m *Migrator) deleteTargetGroup(ctx context.Context, in *elbv2.DeleteTargetGroupInput) error {
	deadline := time.Now().Add(inUseRetry)
	for {
		_, err := m.c.V2.DeleteTargetGroup(ctx, in)
		var inUse *v2types.ResourceInUseException
		if !errors.As(err, &inUse) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete target group %s: %w", aws.ToString(in.TargetGroupArn), ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
