package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/elbguard/elbguard/engine"
)

// PlanShift plans moving percent (0-100) of the traffic of every Route 53
// alias record of the Classic load balancer name to its NLB, by weighted
// records. The NLB must be this migration's, complete, with every target
// healthy now; otherwise the shift is held.
func (m *Migrator) PlanShift(ctx context.Context, name string, percent int) (*Result, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("migrate: shift %d: want 0 to 100", percent)
	}
	state, err := m.Plan(ctx, name)
	if err != nil || state.Status == engine.StatusNotFound {
		if state != nil {
			state.Operation = OpShift
		}
		return state, err
	}
	res := state
	res.Operation = OpShift
	if res.Status != StatusMigrated {
		res.Calls = nil // the migration's own plan is not this run's
		if res.NLB.ARN == "" {
			res.hold(RuleNotMigrated, "%s has not been migrated; run `elbguard migrate %s` first", name, name)
		} else {
			res.hold(RuleNotMigrated, "the migration of %s is not complete and healthy (status %s); nothing is shifted", name, res.Status)
		}
	}
	if res.held {
		res.Status = engine.StatusHeld
		return res, nil
	}
	s, err := readSource(ctx, m.c.Classic, name)
	if err != nil {
		return nil, err
	}
	recs, err := m.findRecords(ctx, s, res.NLB.DNSName, &Result{})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		res.hold(RuleRecordNotShifted, "no Route 53 A alias record of this account points at %s; nothing to shift", name)
		res.Status = engine.StatusHeld
		return res, nil
	}
	p := int64(percent)
	res.Calls = recordCalls(recs, fmt.Sprintf("elbguard migrate --shift %d %s", percent, name), func(a *aliasRecord) []r53types.Change { return shiftChanges(a, name, res.NLB, p) })
	for i := range res.Records {
		res.Records[i].Weight = p
	}
	res.Status = StatusPlanned
	if len(res.Calls) == 0 {
		res.Status = StatusShifted // already there: a no-op
	}
	return res, nil
}

// PlanUndo plans removing the migration of the Classic load balancer name:
// the records back to the Classic load balancer alone, first; then the NLB
// and the target groups that carry elbguard:migrated-from=NAME under this
// migration's names. Nothing else is deleted.
func (m *Migrator) PlanUndo(ctx context.Context, name string) (*Result, error) {
	res := &Result{Operation: OpUndo, Classic: name, Status: StatusPlanned, NLB: NLB{Name: m.cfg.nlbName(name)}}
	s, err := readSource(ctx, m.c.Classic, name)
	switch {
	case errors.Is(err, ErrNotFound):
		res.hold(engine.RuleNotFound, "no Classic load balancer %s: undoing would leave its records and clients without a load balancer; delete the NLB yourself if that is meant", name)
		res.Status = engine.StatusHeld
		return res, nil
	case err != nil:
		return nil, err
	}
	st, err := m.readState(ctx, name, res.NLB.Name)
	if err != nil {
		return nil, err
	}
	if st.foreign {
		res.find(RuleNameTaken, "%s is not this migration's (no %s=%s); left alone", res.NLB.Name, TagMigratedFrom, name)
	}
	nlbDNS := ""
	if st.nlb != nil {
		m.setNLB(res, st.nlb)
		nlbDNS = res.NLB.DNSName
	}
	recs, err := m.findRecords(ctx, s, nlbDNS, res)
	if err != nil {
		return nil, err
	}
	for _, a := range recs {
		res.Records = append(res.Records, Record{Zone: a.zone, Name: a.name, Type: a.rrtype})
	}
	res.Calls = recordCalls(recs, "elbguard migrate --undo "+name, restoreChanges)
	if st.nlb != nil {
		res.Calls = append(res.Calls, newCall("elbv2:DeleteLoadBalancer", "", &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: st.nlb.LoadBalancerArn}))
	}
	for _, tg := range st.groups {
		other := false
		for _, lb := range tg.LoadBalancerArns {
			other = other || st.nlb == nil || lb != aws.ToString(st.nlb.LoadBalancerArn)
		}
		if other {
			res.find(RuleNameTaken, "target group %s serves another load balancer %v: left alone", aws.ToString(tg.TargetGroupName), tg.LoadBalancerArns)
			continue
		}
		res.TargetGroups = append(res.TargetGroups, TargetGroup{Name: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn), Port: aws.ToInt32(tg.Port)})
		res.Calls = append(res.Calls, newCall("elbv2:DeleteTargetGroup", "", &elbv2.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}))
	}
	if len(res.Calls) == 0 {
		res.Status = StatusUndone // nothing left: a no-op
	}
	return res, nil
}
