package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// One code path plans and acts. A step's do makes its calls through
// Report.call; while the report is planning, call records each call with its
// parameters instead of making it. A dry run, an audit, a held change and a
// deferred one therefore list exactly the calls the real run makes, in order,
// with the parameters the requests carry (TestPlanIsTheChange replays every
// engine scenario both ways and compares).

// step is one change a load balancer needs: do makes its calls (or plans
// them) through Report.call and returns false on failure.
type step struct {
	do func(ctx context.Context, r *Report) bool
	// independent: no later step depends on this one, so its failure does
	// not stop them (NLB target groups and listeners).
	independent bool
	// unit names what the step sends the PROXY header to, for the
	// readiness gate (readiness.go): a Classic instance port
	// (classicUnit), an NLB target group (its ARN), unitPolicy for the
	// policy every port needs, or empty when it sends it nowhere new.
	unit string
}

// planned lists one call to be made, without its parameters (restore.go).
func planned(api, target string) []Action {
	return []Action{{API: api, Target: target, Status: ActionPlanned}}
}

// apply takes, plans or holds the steps and sets the report's status.
func (e *Engine) apply(ctx context.Context, r *Report, steps []step) {
	defer r.settle()
	if len(steps) == 0 {
		r.Status = StatusCompliant
		if r.err != nil { // a read failed: what could not be read is not compliant
			r.Status = StatusError
		}
		return
	}
	switch {
	case r.hold != nil: // a safety gate (readiness, IaC owner, ...), in audit mode too: the real run would hold it
		e.withhold(ctx, r, steps, *r.hold, StatusHeld)
		return
	case r.Mode != ModeEnforce:
		e.withhold(ctx, r, steps, Finding{Rule: RuleAuditMode, Detail: fmt.Sprintf(
			"mode audit: elbguard reports and never changes this load balancer; tag it %s=enforce to have the held calls made", e.cfg.TagKey)}, StatusNonCompliant)
		return
	}
	if e.approved != nil && !e.asApproved(ctx, r, steps) {
		return
	}
	b := budgetOf(ctx)
	if why, ok := b.take(); !ok {
		e.withhold(ctx, r, steps, why, StatusDeferred)
		return
	}
	if e.cfg.DryRun {
		b.done(false)
		e.plan(ctx, r, steps, ActionPlanned)
		r.Status = StatusNonCompliant
		if r.err != nil {
			r.Status = StatusError
		}
		return
	}
	e.act(ctx, r, steps)
	b.done(r.Status == StatusError || r.Status == StatusRolledBack)
}

// withhold lists the calls the steps need as held, with the finding why,
// and sets status (held, deferred, or non_compliant for audit mode). A read
// that failed before makes it error.
func (e *Engine) withhold(ctx context.Context, r *Report, steps []step, why Finding, status Status) {
	r.hold = &why
	r.Held = &why
	r.holdFinding()
	e.plan(ctx, r, steps, ActionHeld)
	r.Status = status
	if r.err != nil {
		r.Status = StatusError
	}
}

// plan runs the steps in planning mode: every call they would make is
// recorded with status as, none is made.
func (e *Engine) plan(ctx context.Context, r *Report, steps []step, as ActionStatus) {
	prev := r.planning
	r.planning = as
	defer func() { r.planning = prev }()
	for _, s := range steps {
		s.do(ctx, r)
	}
}

// act makes the steps' calls, in order, stopping at the first failure of a
// step that later ones depend on.
func (e *Engine) act(ctx context.Context, r *Report, steps []step) {
	failed := false
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			r.find(RuleStoppedAfterFailure, "%d of %d changes not attempted: %v", len(steps)-i, len(steps), err)
			r.Status = StatusError
			if r.err == nil {
				r.err = err
			}
			return
		}
		if !s.do(ctx, r) {
			if r.Status == StatusGone {
				return
			}
			failed = true
			if s.independent {
				continue
			}
			r.Status = StatusError
			if rest := len(steps) - i - 1; rest > 0 {
				r.find(RuleStoppedAfterFailure, "%d later changes not attempted after a failure", rest)
			}
			return
		}
	}
	if failed || r.err != nil { // a step, or a read before them, failed
		r.Status = StatusError
		return
	}
	r.Status = StatusRemediated
}

// call makes one API call through fn and records its outcome, or, while the
// report is planning, records it with the planning status and makes nothing
// (it then reports success, so that the step plans what follows a success).
// in is the request: the recorded parameters are read from it.
func (r *Report) call(api, target string, in any, fn func() error) bool {
	if r.planning != "" {
		r.Actions = append(r.Actions, Action{API: api, Target: target, Params: Params(in), Status: r.planning})
		return true
	}
	ok := r.record(api, target, fn())
	r.Actions[len(r.Actions)-1].Params = Params(in)
	return ok
}

// record appends the outcome of one API call. On error it marks the report
// gone (the load balancer vanished) or keeps the error, and returns false.
func (r *Report) record(api, target string, err error) bool {
	if err == nil {
		r.Actions = append(r.Actions, Action{API: api, Target: target, Status: ActionApplied})
		return true
	}
	r.Actions = append(r.Actions, Action{API: api, Target: target, Status: ActionFailed, Error: err.Error()})
	if isGone(err) {
		r.Status = StatusGone
		return false
	}
	r.Status = StatusError
	if r.err == nil {
		r.err = fmt.Errorf("%s %s: %w", api, target, err)
	}
	return false
}

// Calls returns the report's actions as plan lines, "API PARAMS", in order.
func (r *Report) Calls() []string {
	out := make([]string, 0, len(r.Actions))
	for _, a := range r.Actions {
		out = append(out, a.Line())
	}
	return out
}

// Line is the action as a plan line: "API PARAMS", or "API TARGET" when the
// call has no parameters to show.
func (a Action) Line() string {
	return strings.TrimSpace(a.API + " " + cmp.Or(a.Params, a.Target))
}

// sameCall reports whether two actions are the same call with the same
// parameters, whatever their outcomes.
func sameCall(a, b Action) bool {
	return a.API == b.API && a.Target == b.Target && a.Params == b.Params
}

// WithPlan returns an engine that applies no more than plan, a dry run's
// result that a person approved: Reconcile changes a load balancer only
// when the calls it needs now are the calls plan lists for it; one that
// changed in between is reported error with finding plan_stale, unchanged.
// A load balancer the plan does not list is never changed. Reports of other
// accounts and regions than the engine's (WithLocation) are ignored.
func (e *Engine) WithPlan(plan *Result) *Engine {
	c := *e
	c.approved = map[string][]Action{}
	for _, r := range plan.Reports {
		if !e.loc.holds(r) {
			continue
		}
		if slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status == ActionPlanned }) {
			c.approved[planKey(r)] = r.Actions
		}
	}
	return &c
}

// Approved lists the load balancers of account and region (empty: any) that
// a plan would change, for Reconcile.
func Approved(plan *Result, account, region string) Targets {
	var t Targets
	for _, r := range plan.Reports {
		if !(location{account: account, region: region}).holds(r) {
			continue
		}
		if !slices.ContainsFunc(r.Actions, func(a Action) bool { return a.Status == ActionPlanned }) {
			continue
		}
		if r.Type == TypeClassic {
			t.Classic = append(t.Classic, r.Name)
		} else {
			t.LoadBalancers = append(t.LoadBalancers, r.ARN)
		}
	}
	return t
}

// holds reports whether r is in l (an empty field matches any).
func (l location) holds(r Report) bool {
	return (l.account == "" || r.Account == "" || r.Account == l.account) && (l.region == "" || r.Region == "" || r.Region == l.region)
}

func planKey(r Report) string { return r.Type + "\x00" + r.Name + "\x00" + r.ARN }

// asApproved reports whether the calls the steps need now are those the
// approved plan lists for r; if not, r says so (error, plan_stale).
func (e *Engine) asApproved(ctx context.Context, r *Report, steps []step) bool {
	now := &Report{Name: r.Name, ARN: r.ARN, Type: r.Type, Mode: r.Mode}
	e.plan(ctx, now, steps, ActionPlanned)
	want, ok := e.approved[planKey(*r)]
	if ok && slices.EqualFunc(now.Actions, want, sameCall) {
		return true
	}
	r.Status = StatusError
	if !ok {
		r.find(RulePlanStale, "needs %d calls that the approved plan did not list (it was compliant, held or deferred then); nothing changed. Run again to see the new plan", len(now.Actions))
		return false
	}
	r.find(RulePlanStale, "changed since the approved plan: it listed %q, it needs %q now; nothing changed. Run again to see the new plan",
		(&Report{Actions: want}).Calls(), now.Calls())
	return false
}

// nameFromARN returns the NAME of loadbalancer/TYPE/NAME/ID.
func nameFromARN(arn string) string {
	f := strings.Split(arn, "/")
	if len(f) >= 3 {
		return f[len(f)-2]
	}
	return arn
}

// typeFromARN maps loadbalancer/app|net|gwy/... to a report type.
func typeFromARN(arn string) string {
	switch {
	case strings.Contains(arn, ":loadbalancer/net/"):
		return TypeNetwork
	case strings.Contains(arn, ":loadbalancer/app/"):
		return TypeApplication
	case strings.Contains(arn, ":loadbalancer/gwy/"):
		return TypeGateway
	}
	return TypeClassic
}
