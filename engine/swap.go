package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// A Classic listener's protocol cannot be changed in place: it is deleted and
// recreated, and the port serves nothing in between. Several runs may swap the
// same listener at once (concurrent enforcer invocations for the burst of
// events one change causes, the sweeper), so the swap converges instead of
// assuming it is alone: it re-reads the listener before deleting it, treats
// a replacement someone else already made as done, and never deletes or
// restores over a listener it did not read.
const (
	// swapTries bounds how often a swap re-reads a port that concurrent runs
	// keep changing.
	swapTries = 4
	// swapMaxAttempts and swapMaxBackoff are the retries of each call made
	// while this run has a listener deleted: more than the client's default,
	// with a bounded backoff and no client-side retry quota, because a port
	// left without its listener is an outage, and a drained quota (after a
	// burst of throttling) would otherwise leave the restore a single try.
	swapMaxAttempts = 6
	swapMaxBackoff  = 4 * time.Second
)

// swapRetryer gives one call the swap's retries.
func swapRetryer(o *elb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = swapMaxAttempts
		so.MaxBackoff = swapMaxBackoff
		so.RateLimiter = ratelimit.None
	})
}

// replaceListener brings the listener on orig's port to want with the kept
// policies. Before each delete it writes the deleted listener's restore
// record (write-ahead), and removes it once the port serves again. If the
// change fails after this run deleted a listener, the deleted listener is
// recreated exactly, policies included (rolled_back). It runs detached from
// ctx cancellation so that a listener is never left deleted.
func (e *Engine) replaceListener(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription, want elbtypes.Listener, keep []string) bool {
	name := aws.ToString(lb.LoadBalancerName)
	deadline, hasDeadline := ctx.Deadline()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenerSwapTimeout)
	defer cancel()
	port := orig.Listener.LoadBalancerPort
	target := fmt.Sprintf("%s:%d", name, port)
	var removed *elbtypes.ListenerDescription // what this run deleted, restored on failure
	var darkSince time.Time                   // when this run's delete succeeded: the port serves nothing from then
	read := func() (*elbtypes.ListenerDescription, bool) {
		if r.planning != "" { // a plan is made from the description read already
			return &orig, true
		}
		cur, err := e.listenerOn(ctx, name, port)
		switch {
		case err == nil:
			return cur, true
		case isGone(err):
			r.Status = StatusGone
		default:
			r.fail(fmt.Errorf("re-read listener %s: %w", target, err))
		}
		return nil, false
	}
	// Re-read first: a concurrent run may have replaced it since the description.
	cur, ok := read()
	if !ok {
		return false
	}
	for range swapTries {
		switch {
		case cur != nil && sameListener(*cur.Listener, want):
			// Replaced (by this run or a concurrent one): attach the policies.
			if slices.Equal(nonNil(cur.PolicyNames), nonNil(keep)) {
				if removed == nil {
					r.find(RuleConcurrentChange, "listener %d was already replaced by a concurrent run", port)
				} else {
					e.dropRecord(ctx, r, name, port)
				}
				return true
			}
			in := &elb.SetLoadBalancerPoliciesOfListenerInput{
				LoadBalancerName: aws.String(name), LoadBalancerPort: port, PolicyNames: nonNil(keep),
			}
			var err error
			if r.planning == "" {
				_, err = e.classic.SetLoadBalancerPoliciesOfListener(ctx, in, swapRetryer)
				var nf *elbtypes.ListenerNotFoundException
				if errors.As(err, &nf) {
					if cur, ok = read(); !ok { // deleted under us by a concurrent swap: look again
						return false
					}
					continue
				}
			}
			if r.call("SetLoadBalancerPoliciesOfListener", target, in, func() error { return err }) {
				if removed != nil {
					e.dropRecord(ctx, r, name, port)
				}
				return true
			}
			if removed != nil {
				e.rollback(ctx, r, lb, *removed)
			}
			return false
		case cur != nil:
			if !sameListener(*cur.Listener, *orig.Listener) || !slices.Equal(nonNil(cur.PolicyNames), nonNil(orig.PolicyNames)) {
				r.fail(fmt.Errorf("listener %s changed since it was read; left alone for the run its change triggers", target))
				return false
			}
			if left := time.Until(deadline); removed == nil && hasDeadline && left < listenerSwapTimeout && r.planning == "" {
				// A Lambda killed mid-swap would leave the port without a
				// listener until the next run: start only with the swap's
				// whole budget left. DeadlineExceeded makes it retryable.
				r.fail(fmt.Errorf("listener %s not replaced: %s left before the invocation deadline, a swap is given %s: %w",
					target, left.Round(time.Millisecond), listenerSwapTimeout, context.DeadlineExceeded))
				return false
			}
			// Write-ahead, before every delete (a concurrent run may have
			// restored the listener and removed the record since the last).
			if !e.writeAhead(ctx, r, lb, *cur) {
				return false // nothing deleted: the port serves cur
			}
			var opts []func(*elb.Options)
			if removed != nil { // a concurrent run restored it after this run deleted it
				opts = append(opts, swapRetryer)
			}
			in := &elb.DeleteLoadBalancerListenersInput{LoadBalancerName: aws.String(name), LoadBalancerPorts: []int32{port}}
			if !r.call("DeleteLoadBalancerListeners", target, in, func() error {
				_, err := e.classic.DeleteLoadBalancerListeners(ctx, in, opts...)
				return err
			}) {
				// An error does not say the listener is still there (a 500
				// after the delete took effect): the record written ahead
				// stays unless the port is seen serving.
				if now, rerr := e.listenerOn(ctx, name, port); rerr == nil && now != nil {
					e.dropRecord(ctx, r, name, port)
				}
				return false
			}
			removed, darkSince = cur, time.Now()
			fallthrough
		default: // the port is empty: create the replacement
			in := &elb.CreateLoadBalancerListenersInput{LoadBalancerName: aws.String(name), Listeners: []elbtypes.Listener{want}}
			var err error
			if r.planning == "" {
				_, err = e.classic.CreateLoadBalancerListeners(ctx, in, swapRetryer)
				var dup *elbtypes.DuplicateListenerException
				if errors.As(err, &dup) {
					if cur, ok = read(); !ok { // a concurrent run put a listener there: look again
						return false
					}
					continue
				}
			}
			if !r.call("CreateLoadBalancerListeners", target, in, func() error { return err }) {
				if removed != nil {
					e.restoreListener(ctx, r, lb, *removed)
				}
				return false
			}
			if removed != nil && r.planning == "" {
				e.log.InfoContext(ctx, "listener swapped", "name", name, "port", port, "dark_seconds", time.Since(darkSince).Seconds())
			}
			if len(keep) == 0 {
				if removed != nil {
					e.dropRecord(ctx, r, name, port)
				}
				return true
			}
			cur = &elbtypes.ListenerDescription{Listener: &want}
		}
	}
	r.fail(fmt.Errorf("replace listener %s: still changing after %d tries; concurrent runs keep replacing it", target, swapTries))
	return false
}

// rollback deletes the replacement on orig's port and restores orig (the
// record written ahead of this run's delete is still there).
func (e *Engine) rollback(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription) {
	name := aws.ToString(lb.LoadBalancerName)
	target := fmt.Sprintf("%s:%d", name, orig.Listener.LoadBalancerPort)
	_, err := e.classic.DeleteLoadBalancerListeners(ctx, &elb.DeleteLoadBalancerListenersInput{
		LoadBalancerName: aws.String(name), LoadBalancerPorts: []int32{orig.Listener.LoadBalancerPort},
	}, swapRetryer)
	if r.record("DeleteLoadBalancerListeners", target, err) {
		e.restoreListener(ctx, r, lb, orig)
	}
}

// restoreListener recreates the original listener and its policies and
// records the outcome as rolled_back (and removes its restore record), or
// failed with a finding (and keeps the record).
func (e *Engine) restoreListener(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription) {
	name := aws.ToString(lb.LoadBalancerName)
	target := fmt.Sprintf("%s:%d", name, orig.Listener.LoadBalancerPort)
	_, err := e.classic.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{
		LoadBalancerName: aws.String(name), Listeners: []elbtypes.Listener{*orig.Listener},
	}, swapRetryer)
	if err == nil && len(orig.PolicyNames) > 0 {
		_, err = e.classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
			LoadBalancerName: aws.String(name), LoadBalancerPort: orig.Listener.LoadBalancerPort, PolicyNames: orig.PolicyNames,
		}, swapRetryer)
	}
	if err == nil {
		r.Actions = append(r.Actions, Action{API: "CreateLoadBalancerListeners", Target: target, Status: ActionRolledBack})
		e.dropRecord(ctx, r, name, orig.Listener.LoadBalancerPort)
		return
	}
	r.Actions = append(r.Actions, Action{API: "CreateLoadBalancerListeners", Target: target, Status: ActionFailed, Error: "roll back: " + err.Error()})
	r.find(RuleAPIError, "listener %d could not be restored: %v", orig.Listener.LoadBalancerPort, err)
	e.keepForRestore(ctx, r, lb, orig)
	if r.err == nil {
		r.err = fmt.Errorf("restore listener %s: %w", target, err)
	}
}

// listenerOn reads the listener on port now; nil when the port has none.
func (e *Engine) listenerOn(ctx context.Context, name string, port int32) (*elbtypes.ListenerDescription, error) {
	out, err := e.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		return nil, err
	}
	for _, d := range out.LoadBalancerDescriptions {
		for _, ld := range d.ListenerDescriptions {
			if ld.Listener != nil && ld.Listener.LoadBalancerPort == port {
				return &ld, nil
			}
		}
	}
	return nil, nil
}

// sameListener compares what CreateLoadBalancerListeners sets; an empty
// instance protocol means the front-end protocol, as in AWS.
func sameListener(a, b elbtypes.Listener) bool {
	inst := func(l elbtypes.Listener) string {
		if l.InstanceProtocol == nil || *l.InstanceProtocol == "" {
			return aws.ToString(l.Protocol)
		}
		return aws.ToString(l.InstanceProtocol)
	}
	return a.LoadBalancerPort == b.LoadBalancerPort &&
		strings.EqualFold(aws.ToString(a.Protocol), aws.ToString(b.Protocol)) &&
		strings.EqualFold(inst(a), inst(b)) &&
		aws.ToInt32(a.InstancePort) == aws.ToInt32(b.InstancePort) &&
		aws.ToString(a.SSLCertificateId) == aws.ToString(b.SSLCertificateId)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
