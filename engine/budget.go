package engine

import (
	"context"
	"fmt"
	"sync"
)

// budget is one run's safety belt: at most max changes started, and no
// change started once maxErrors have failed. It is exact under the
// engine's concurrency: a change reserves its slot before its first call,
// and starts only while the failures so far plus the changes in flight stay
// below maxErrors (so an in-flight change can never be failure maxErrors+1);
// others wait for one in flight to end.
type budget struct {
	mu         sync.Mutex
	cond       *sync.Cond
	maxChanges int
	maxErrors  int
	started    int // changes that took a slot (planned ones in a dry run too)
	inFlight   int
	failed     int
}

func newBudget(cfg Config) *budget {
	cfg = cfg.WithDefaults()
	b := &budget{maxChanges: cfg.MaxChanges, maxErrors: cfg.MaxErrors}
	b.cond = sync.NewCond(&b.mu)
	return b
}

type budgetKey struct{}

func withBudget(ctx context.Context, b *budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// budgetOf returns the run's budget; a load balancer handled outside a run
// (tests calling a report function directly) gets a budget of its own.
func budgetOf(ctx context.Context) *budget {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return b
	}
	return newBudget(Config{})
}

// take reserves one change, waiting while the failures and the changes in
// flight fill the error budget. It returns false with the finding to report
// when the run may not change one more load balancer.
func (b *budget) take() (Finding, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.failed < b.maxErrors && b.failed+b.inFlight >= b.maxErrors {
		b.cond.Wait()
	}
	switch {
	case b.failed >= b.maxErrors:
		return Finding{Rule: RuleErrorBudget, Detail: fmt.Sprintf(
			"not changed: %d changes failed in this run, which stops changing after %d (ELBGUARD_MAX_ERRORS, --max-errors); the next run takes it", b.failed, b.maxErrors)}, false
	case b.started >= b.maxChanges:
		return Finding{Rule: RuleChangeBudget, Detail: fmt.Sprintf(
			"not changed: this run changes at most %d load balancers (ELBGUARD_MAX_CHANGES, --max-changes); the next run takes it", b.maxChanges)}, false
	}
	b.started++
	b.inFlight++
	return Finding{}, true
}

// done ends a change that take admitted; failed counts it against the
// error budget.
func (b *budget) done(failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if failed {
		b.failed++
	}
	b.cond.Broadcast()
}
