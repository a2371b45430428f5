package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/elbguard/elbguard/engine"
)

// tagBatch is how many ARNs one elbv2:DescribeTags call takes.
const tagBatch = 20

// state is what exists of a migration: the NLB (nil: none), and the target
// groups that carry elbguard:migrated-from=NAME under this migration's names.
type state struct {
	nlb       *v2types.LoadBalancer
	foreign   bool // a load balancer of that name exists and is not ours
	listeners []v2types.Listener
	groups    []v2types.TargetGroup
}

// readState reads the NLB named nlbName and the target groups that belong
// to the migration of classic. A name that is taken by a load balancer
// without our tag is foreign: never touched.
func (m *Migrator) readState(ctx context.Context, classic, nlbName string) (*state, error) {
	st := &state{}
	out, err := m.c.V2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{nlbName}})
	var nf *v2types.LoadBalancerNotFoundException
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return nil, fmt.Errorf("describe load balancer %s: %w", nlbName, err)
	case len(out.LoadBalancers) > 0:
		lb := out.LoadBalancers[0]
		tags, err := m.tags(ctx, []string{aws.ToString(lb.LoadBalancerArn)})
		if err != nil {
			return nil, err
		}
		if tags[aws.ToString(lb.LoadBalancerArn)][TagMigratedFrom] != classic || lb.Type != v2types.LoadBalancerTypeEnumNetwork {
			st.foreign = true
			return st, nil
		}
		st.nlb = &lb
		p := elbv2.NewDescribeListenersPaginator(m.c.V2, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe listeners of %s: %w", nlbName, err)
			}
			st.listeners = append(st.listeners, page.Listeners...)
		}
	}
	// Every target group in the region, kept when both its name and its
	// tag say it is this migration's: a tag alone (anyone may write one)
	// does not make a target group ours to delete.
	var all []v2types.TargetGroup
	p := elbv2.NewDescribeTargetGroupsPaginator(m.c.V2, &elbv2.DescribeTargetGroupsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe target groups: %w", err)
		}
		for _, tg := range page.TargetGroups {
			if aws.ToString(tg.TargetGroupName) == targetGroupName(nlbName, aws.ToInt32(tg.Port)) {
				all = append(all, tg)
			}
		}
	}
	var arns []string
	for _, tg := range all {
		arns = append(arns, aws.ToString(tg.TargetGroupArn))
	}
	tags, err := m.tags(ctx, arns)
	if err != nil {
		return nil, err
	}
	for _, tg := range all {
		if tags[aws.ToString(tg.TargetGroupArn)][TagMigratedFrom] == classic {
			st.groups = append(st.groups, tg)
		}
	}
	return st, nil
}

// tags reads the tags of ELBv2 resources, tagBatch at a time.
func (m *Migrator) tags(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for batch := range slices.Chunk(arns, tagBatch) {
		got, err := m.c.V2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			return nil, fmt.Errorf("describe tags of %v: %w", batch, err)
		}
		for _, d := range got.TagDescriptions {
			t := map[string]string{}
			for _, tag := range d.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(d.ResourceArn)] = t
		}
	}
	return out, nil
}

// rerun turns a plan into the report of an existing migration: the NLB's
// listeners and target groups read back, their health, and the records;
// no calls. What the plan has and the NLB lacks makes it incomplete.
func (m *Migrator) rerun(ctx context.Context, s *Source, st *state, res *Result) (*Result, error) {
	res.Calls = nil
	res.held = false
	res.Findings = slices.DeleteFunc(res.Findings, func(f engine.Finding) bool { return f.Rule == RuleSSLPolicy })
	m.setNLB(res, st.nlb)
	res.Status = StatusMigrated
	for i := range res.TargetGroups {
		tg := &res.TargetGroups[i]
		j := slices.IndexFunc(st.groups, func(g v2types.TargetGroup) bool { return aws.ToString(g.TargetGroupName) == tg.Name })
		if j < 0 {
			res.find(RuleIncomplete, "target group %s is missing; run `elbguard migrate --undo %s`, then migrate again", tg.Name, res.Classic)
			res.Status = engine.StatusError
			continue
		}
		tg.ARN = aws.ToString(st.groups[j].TargetGroupArn)
	}
	for i := range res.Listeners {
		l := &res.Listeners[i]
		j := slices.IndexFunc(st.listeners, func(x v2types.Listener) bool { return aws.ToInt32(x.Port) == l.Port })
		if j < 0 {
			res.find(RuleIncomplete, "listener %d is missing; run `elbguard migrate --undo %s`, then migrate again", l.Port, res.Classic)
			res.Status = engine.StatusError
			continue
		}
		l.ARN = aws.ToString(st.listeners[j].ListenerArn)
		if p := aws.ToString(st.listeners[j].SslPolicy); p != "" {
			l.SSLPolicy = p
		}
	}
	bad, err := m.readHealth(ctx, res)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		res.find(RuleTargetsUnhealthy, "not every target is healthy: %v", bad)
		res.Status = engine.StatusError
	}
	if err := m.nameRecords(ctx, s, res); err != nil {
		return nil, err
	}
	return res, nil
}

// setNLB copies the NLB's identity into the result.
func (m *Migrator) setNLB(res *Result, lb *v2types.LoadBalancer) {
	res.NLB = NLB{Name: aws.ToString(lb.LoadBalancerName), ARN: aws.ToString(lb.LoadBalancerArn),
		DNSName: aws.ToString(lb.DNSName), ZoneID: aws.ToString(lb.CanonicalHostedZoneId)}
}
