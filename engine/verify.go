package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Verify after the change, roll back on harm. An NLB's health checks carry
// the PROXY v2 header once proxy_protocol_v2.enabled is on (AWS documents
// this), so targets whose server cannot read it turn unhealthy within a few
// health-check intervals. The run that turns proxy protocol on records which
// targets were healthy before and queues a Verification; after the
// verification window, Verify reads target health again and, for every
// target group where a target healthy before is now unhealthy, turns proxy
// protocol back off. No invocation waits for the window.

// TagHealthDropped is set on a load balancer, to the time of the roll back,
// when Verify turned proxy protocol back off: while it is present elbguard
// changes nothing on that load balancer (status non_compliant, finding
// health_dropped), so that the next run does not turn it on again. Remove it
// once the back ends read the PROXY header.
const TagHealthDropped = "elbguard:health-dropped"

// maxVerifyDelaySeconds is the longest a queued verification can wait: SQS's
// largest message delay.
const maxVerifyDelaySeconds = 900

// Verification is a delayed check of one load balancer's target groups
// after proxy protocol was turned on for them.
type Verification struct {
	Account         string        `json:"account,omitempty"`
	Region          string        `json:"region,omitempty"`
	LoadBalancerArn string        `json:"load_balancer_arn"`
	Name            string        `json:"name"`
	EnabledAt       time.Time     `json:"enabled_at"`
	TargetGroups    []VerifyGroup `json:"target_groups"`
	// MinDelaySeconds is how long the slowest target group's health checks
	// need to mark a target unhealthy (interval x (unhealthy threshold + 1));
	// a scheduler waits at least this long, or the check would read the
	// targets still healthy and let a harmful change stand. 0: unknown.
	MinDelaySeconds int32 `json:"min_delay_seconds,omitempty"`
}

// VerifyGroup is one target group and the targets ("id:port") that were
// healthy before proxy protocol was turned on for it.
type VerifyGroup struct {
	ARN     string   `json:"arn"`
	Healthy []string `json:"healthy"`
}

// Scheduler queues a Verification to run after the verification window (an
// SQS message with a delay in the Lambdas; see handler.SQSScheduler).
type Scheduler interface {
	Schedule(ctx context.Context, v Verification) error
}

// WithVerifier makes the engine queue a Verification through s after it
// turns proxy protocol on for an NLB's target groups that had healthy
// targets. Without it, no verification follows a change.
func WithVerifier(s Scheduler) Option {
	return func(e *Engine) { e.verifier = s }
}

// healthDropped reports a load balancer on which a verification rolled
// proxy protocol back; done is true when it is (nothing is changed).
func (e *Engine) healthDropped(r *Report, tags map[string]string) (done bool) {
	v, ok := tags[TagHealthDropped]
	if !ok {
		return false
	}
	r.Status = StatusNonCompliant
	r.find(RuleHealthDropped, "proxy protocol was turned back off (%s=%s) after targets turned unhealthy with it; nothing changed until the back ends read the PROXY v2 header (health checks included) and the tag is removed", TagHealthDropped, v)
	return true
}

// targetKey names a target as "id:port".
func targetKey(t *v2types.TargetDescription) string {
	return fmt.Sprintf("%s:%d", aws.ToString(t.Id), aws.ToInt32(t.Port))
}

// scheduleVerify queues the verification of the target groups this run
// turned proxy protocol on for, with the targets healthy before. Target
// groups without a healthy target have nothing to lose and are left out.
func (e *Engine) scheduleVerify(ctx context.Context, r *Report, lb *v2types.LoadBalancer, enabled []string, health map[string][]v2types.TargetHealthDescription, tgs []*targetGroup) {
	if e.verifier == nil || len(enabled) == 0 {
		return
	}
	v := Verification{Account: e.loc.account, Region: e.loc.region, LoadBalancerArn: aws.ToString(lb.LoadBalancerArn), Name: r.Name, EnabledAt: time.Now().UTC()}
	for _, tg := range enabled {
		g := VerifyGroup{ARN: tg}
		for _, d := range health[tg] {
			if d.Target != nil && d.TargetHealth != nil && d.TargetHealth.State == v2types.TargetHealthStateEnumHealthy {
				g.Healthy = append(g.Healthy, targetKey(d.Target))
			}
		}
		if len(g.Healthy) > 0 {
			slices.Sort(g.Healthy)
			v.TargetGroups = append(v.TargetGroups, g)
			for _, t := range tgs {
				if t.arn == tg {
					v.MinDelaySeconds = max(v.MinDelaySeconds, t.unhealthyAfter)
				}
			}
		}
	}
	if len(v.TargetGroups) == 0 {
		return
	}
	if err := e.verifier.Schedule(ctx, v); err != nil {
		r.Status = StatusError
		r.find(RuleVerifyNotScheduled, "proxy protocol was turned on for %d target groups but their health check could not be queued: %v; watch their health", len(v.TargetGroups), err)
		if r.err == nil {
			r.err = fmt.Errorf("schedule verification of %s: %w", r.Name, err)
		}
		return
	}
	if v.MinDelaySeconds > maxVerifyDelaySeconds {
		r.find(RuleVerifyBlind, "the health checks need %d s to mark a target unhealthy, longer than the %d s a verification can wait (SQS's largest delay): harm may go unseen. Shorten the health check interval or unhealthy threshold",
			v.MinDelaySeconds, maxVerifyDelaySeconds)
	}
	e.log.InfoContext(ctx, "verification scheduled", "name", r.Name, "target_groups", len(v.TargetGroups))
}

// Verify runs a Verification: for every target group where a target healthy
// before is now unhealthy, it marks the load balancer TagHealthDropped (so no
// run turns proxy protocol on again) and turns proxy protocol back off.
// Status rolled_back with finding health_dropped; compliant when no target
// dropped; error when a read, the mark or the roll back failed.
//
// A roll back that cannot mark itself must not flap (turned off now, on
// again by the next run, every hour). So:
//   - The mark is written first, on the load balancer; when that fails
//     (denied, throttled), on the dropped target groups themselves, which
//     the engine reads before it turns a target group on (holdDropped).
//   - Proxy protocol is turned off whatever the mark's outcome: the harm is
//     live, and off is the safe side.
//   - When no mark could be written, the report is error with the
//     verification's error kept: the Lambda fails the SQS message, which is
//     delivered again; that run finds the target groups this verification
//     turned on already off (a roll back without its mark, or a person's),
//     and writes the mark without turning anything on. Until a mark exists,
//     the error and the failed message (then its dead-letter queue) alarm.
func (e *Engine) Verify(ctx context.Context, v Verification) Report {
	r := Report{Account: v.Account, Region: v.Region, Name: v.Name, ARN: v.LoadBalancerArn, Type: TypeNetwork, Mode: ModeEnforce,
		Findings: []Finding{}, Actions: []Action{}}
	type drop struct {
		tg      string
		targets []string
		off     bool // already off: rolled back earlier without its mark (or by a person)
	}
	var drops []drop
	for _, g := range v.TargetGroups {
		out, err := e.v2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(g.ARN)})
		var nf *v2types.TargetGroupNotFoundException
		switch {
		case errors.As(err, &nf):
			continue // deleted since: nothing left to harm
		case err != nil:
			r.fail(fmt.Errorf("verify: describe target health of %s: %w", nameFromARN(g.ARN), err))
			continue
		}
		var down []string
		for _, d := range out.TargetHealthDescriptions {
			if d.Target == nil || d.TargetHealth == nil || d.TargetHealth.State != v2types.TargetHealthStateEnumUnhealthy {
				continue
			}
			if k := targetKey(d.Target); slices.Contains(g.Healthy, k) {
				down = append(down, k)
			}
		}
		if len(down) > 0 {
			slices.Sort(down)
			drops = append(drops, drop{tg: g.ARN, targets: down})
			continue
		}
		// No target down: proxy protocol still on (the change stands), or
		// already off again (an earlier delivery of this verification
		// rolled it back and could not mark it).
		on, err := e.proxyOn(ctx, g.ARN)
		switch {
		case errors.As(err, &nf):
		case err != nil:
			r.fail(fmt.Errorf("verify: describe attributes of %s: %w", nameFromARN(g.ARN), err))
		case !on:
			drops = append(drops, drop{tg: g.ARN, off: true})
		}
	}
	if len(drops) == 0 {
		if r.Status != StatusError {
			r.Status = StatusCompliant
		}
		return r
	}
	at := time.Now().UTC().Format(time.RFC3339)
	groups := make([]string, len(drops))
	for i, d := range drops {
		groups[i] = d.tg
	}
	marked := e.markDropped(ctx, &r, v.LoadBalancerArn, groups, at)
	failed := false
	for _, d := range drops {
		if d.off {
			r.find(RuleHealthDropped, "target group %s: proxy protocol, turned on at %s, is off again (rolled back without its mark, or turned off by a person); left off and marked",
				nameFromARN(d.tg), v.EnabledAt.Format(time.RFC3339))
			continue
		}
		r.find(RuleHealthDropped, "target group %s: targets healthy before proxy protocol was turned on at %s are unhealthy %s later: %s; proxy protocol turned back off",
			nameFromARN(d.tg), v.EnabledAt.Format(time.RFC3339), time.Since(v.EnabledAt).Round(time.Second), strings.Join(d.targets, ", "))
		_, err := e.v2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
			TargetGroupArn: aws.String(d.tg),
			Attributes:     []v2types.TargetGroupAttribute{{Key: aws.String(attrProxyProtocolV2), Value: aws.String("false")}},
		})
		if err != nil {
			failed = true
			r.Actions = append(r.Actions, Action{API: "ModifyTargetGroupAttributes", Target: d.tg, Status: ActionFailed, Error: "roll back: " + err.Error()})
			r.find(RuleAPIError, "target group %s: proxy protocol could not be turned back off: %v", nameFromARN(d.tg), err)
			if r.err == nil {
				r.err = fmt.Errorf("roll back proxy protocol on %s: %w", d.tg, err)
			}
			continue
		}
		r.Actions = append(r.Actions, Action{API: "ModifyTargetGroupAttributes", Target: d.tg, Status: ActionRolledBack})
	}
	r.Status = StatusRolledBack
	if !marked {
		r.find(RuleHealthDropped, "the roll back could not be marked (%s on the load balancer or its target groups): proxy protocol is left off, and this verification is retried until the mark is written. "+
			"Until then a sweep could turn it on again: tag the load balancer %s=%s by hand, or set %s=off", TagHealthDropped, TagHealthDropped, at, e.cfg.TagKey)
	}
	if failed || !marked || r.err != nil {
		r.Status = StatusError
	}
	e.log.WarnContext(ctx, "health dropped after proxy protocol was turned on", "name", r.Name, "target_groups", len(drops), "marked", marked, "status", r.Status)
	return r
}

// proxyOn reads whether proxy protocol v2 is on for target group tg.
func (e *Engine) proxyOn(ctx context.Context, tg string) (bool, error) {
	out, err := e.v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return false, err
	}
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrProxyProtocolV2 {
			return strings.EqualFold(aws.ToString(a.Value), "true"), nil
		}
	}
	return false, nil
}

// markDropped writes TagHealthDropped on the load balancer, else on the
// target groups; false when neither could be written (the error is kept).
func (e *Engine) markDropped(ctx context.Context, r *Report, lb string, groups []string, at string) bool {
	tag := []v2types.Tag{{Key: aws.String(TagHealthDropped), Value: aws.String(at)}}
	_, err := e.v2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{lb}, Tags: tag})
	if err == nil {
		r.Actions = append(r.Actions, Action{API: "AddTags", Target: lb + "/" + TagHealthDropped, Status: ActionApplied})
		return true
	}
	// Reported, not kept as the report's error: the target groups' mark
	// holds as well.
	r.Actions = append(r.Actions, Action{API: "AddTags", Target: lb + "/" + TagHealthDropped, Status: ActionFailed, Error: err.Error()})
	r.find(RuleHealthDropped, "the load balancer could not be marked %s (%v); marking the target groups instead", TagHealthDropped, err)
	for batch := range slices.Chunk(groups, tagBatch) {
		_, gerr := e.v2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: batch, Tags: tag})
		if !r.record("AddTags", strings.Join(batch, ",")+"/"+TagHealthDropped, gerr) {
			return false
		}
	}
	return true
}

// holdDropped leaves out the target groups a verification marked (their
// own TagHealthDropped: the load balancer could not be marked): proxy
// protocol stays off there, with a finding, until a person removes the tag.
func (e *Engine) holdDropped(ctx context.Context, r *Report, tgs []*targetGroup) (held map[string]bool) {
	var arns []string
	for _, tg := range tgs {
		if tg.changes {
			arns = append(arns, tg.arn)
		}
	}
	for batch := range slices.Chunk(arns, tagBatch) {
		out, err := e.v2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			// Unknown: hold them all rather than risk turning a rolled-back
			// group on again.
			r.fail(fmt.Errorf("read tag %s of target groups: %w", TagHealthDropped, err))
			for _, a := range batch {
				held = mapSet(held, a)
			}
			continue
		}
		for _, d := range out.TagDescriptions {
			for _, t := range d.Tags {
				if aws.ToString(t.Key) == TagHealthDropped {
					a := aws.ToString(d.ResourceArn)
					held = mapSet(held, a)
					r.findOpen(RuleHealthDropped, "target group %s: proxy protocol was turned back off (%s=%s on the target group) after targets turned unhealthy with it; left off until the back ends read the PROXY v2 header and the tag is removed",
						nameFromARN(a), TagHealthDropped, aws.ToString(t.Value))
				}
			}
		}
	}
	return held
}

func mapSet(m map[string]bool, k string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[k] = true
	return m
}
