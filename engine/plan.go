package engine

import (
	"context"
	"fmt"
	"strings"
)

// step is one change a load balancer needs: the actions it would take (for
// audit and dry-run) and the function that takes them, recording each API
// call in the report and returning false on failure.
type step struct {
	plan []Action
	do   func(ctx context.Context, r *Report) bool
	// independent: no later step depends on this one, so its failure does
	// not stop them (NLB target groups and listeners).
	independent bool
	// unit names what the step sends the PROXY header to, for the
	// readiness gate (readiness.go): a Classic instance port
	// (classicUnit), an NLB target group (its ARN), unitPolicy for the
	// policy every port needs, or empty when it sends it nowhere new.
	unit string
}

func planned(api, target string) []Action {
	return []Action{{API: api, Target: target, Status: ActionPlanned}}
}

// apply takes or plans the steps and sets the report's status.
func (e *Engine) apply(ctx context.Context, r *Report, steps []step) {
	defer r.settle()
	if len(steps) == 0 {
		r.Status = StatusCompliant
		if r.err != nil { // a read failed: what could not be read is not compliant
			r.Status = StatusError
		}
		return
	}
	if r.hold != nil { // held for infrastructure as code: not even planned
		e.hold(r)
		return
	}
	if r.Mode != ModeEnforce || e.cfg.DryRun {
		for _, s := range steps {
			r.Actions = append(r.Actions, s.plan...)
		}
		r.Status = StatusNonCompliant
		if r.err != nil {
			r.Status = StatusError
		}
		return
	}
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
