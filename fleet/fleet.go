package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// RuleAssumeRole is the finding of an account and region whose clients could
// not be had (the spoke role missing or denied).
const RuleAssumeRole = "assume_role_failed"

// RuleNoSpoke is the finding of an account found in the organization whose
// spoke role is denied or missing: the StackSet does not deploy there (the
// management account, an account outside its organizational units). It is
// not_applicable, reported once per sweep, not an error that would keep the
// sweep's error alarm on.
const RuleNoSpoke = "no_spoke"

// TypeLocation is the report type of a finding about a whole account and
// region rather than one load balancer.
const TypeLocation = "account"

// Unit is one account and region of a multi-account run: a sweep, or the
// rest of one (Remaining) when an earlier run stopped before its deadline.
type Unit struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// Remaining, when set, names the load balancers still to handle.
	Remaining *engine.Targets `json:"remaining,omitempty"`
	// Part counts continuations: 0 for the first run of a sweep.
	Part int `json:"part,omitempty"`
}

// Fleet builds the engine of each account and region from one Provider and
// one engine configuration, and knows the scope. It is safe for concurrent
// use.
type Fleet struct {
	Provider *awsclient.Provider
	Scope    *Scope
	Config   engine.Config
	Log      *slog.Logger
	// QueueURL is the sweep queue (ELBGUARD_SWEEP_QUEUE_URL); empty: none.
	QueueURL string
	// Options are given to every engine the fleet builds (the verification
	// queue). Set before first use.
	Options []engine.Option
	// RestoreKey signs and verifies every account's restore records (the
	// hub holds it; the spokes never see it). Nil: records are reported,
	// not acted on. Set before first use.
	RestoreKey *RestoreKey
	// Plan, when set, is a dry run's result a person approved: each
	// location's engine applies no more than its part (engine.WithPlan).
	Plan *engine.Result

	mu      sync.Mutex
	engines map[[2]string]*engine.Engine
}

// Engine returns the engine of account in region. A role that cannot be
// assumed fails with awsclient.ErrAssumeRole.
func (f *Fleet) Engine(ctx context.Context, account, region string) (*engine.Engine, error) {
	key := [2]string{account, region}
	f.mu.Lock()
	eng := f.engines[key]
	f.mu.Unlock()
	clients, err := f.Provider.Clients(ctx, account, region) // cached; re-checks the credentials
	if err != nil {
		return nil, err
	}
	if eng != nil {
		return eng, nil
	}
	eng, err = NewEngine(clients, f.Config, f.Log, append(f.RestoreKey.For(account, region), f.Options...)...)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.engines == nil {
		f.engines = map[[2]string]*engine.Engine{}
	}
	if prev := f.engines[key]; prev != nil {
		return prev, nil
	}
	f.engines[key] = eng
	return eng, nil
}

// SelfARN is elbguard's own principal in account: the hub's (hubSelf) in the
// hub account, the spoke role elsewhere.
func (f *Fleet) SelfARN(ctx context.Context, account, hubSelf string) string {
	home, err := f.Provider.Home(ctx)
	if err != nil || account == home || !awsclient.ValidAccount(account) {
		return hubSelf
	}
	return f.Provider.RoleARN(account)
}

// Units lists every account and region in scope.
func (f *Fleet) Units(ctx context.Context) ([]Unit, error) {
	accounts, err := f.Scope.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var units []Unit
	for _, a := range accounts {
		for _, r := range f.Scope.Regions() {
			units = append(units, Unit{Account: a, Region: r})
		}
	}
	return units, nil
}

// Run runs one unit: a sweep, or Reconcile of what an earlier run left.
// A location that cannot be reached (role not assumable, listing refused
// for a non-retryable reason) is an error report for that account and
// region, not an error; err is returned only for retryable failures.
func (f *Fleet) Run(ctx context.Context, u Unit) (*engine.Result, error) {
	eng, err := f.Engine(ctx, u.Account, u.Region)
	if err != nil {
		if Retryable(err) && !errors.Is(err, awsclient.ErrAssumeRole) {
			return nil, err
		}
		if errors.Is(err, awsclient.ErrAssumeRole) && !Retryable(err) && !f.Scope.Explicit(u.Account) {
			return f.noSpoke(u, err), nil
		}
		return LocationError(u.Account, u.Region, err), nil
	}
	if f.Plan != nil {
		eng = eng.WithPlan(f.Plan)
	}
	var res *engine.Result
	if u.Remaining != nil {
		res, err = eng.Reconcile(ctx, *u.Remaining)
	} else {
		res, err = eng.Sweep(ctx)
	}
	if err != nil {
		if Retryable(err) {
			return nil, fmt.Errorf("%s in %s: %w", u.Account, u.Region, err)
		}
		return LocationError(u.Account, u.Region, err), nil
	}
	return res, nil
}

// RunAll runs units with at most parallel at once and merges their results;
// a unit failing for a retryable reason becomes an error report too, so one
// account never hides the others.
func (f *Fleet) RunAll(ctx context.Context, units []Unit, parallel int) *engine.Result {
	results := make([]*engine.Result, len(units))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, u := range units {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := f.Run(ctx, u)
			if err != nil {
				res = LocationError(u.Account, u.Region, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	return Merge(results...)
}

// noSpoke is the result of a unit of an account that was not named but
// found in the organization, whose role is denied or missing: one
// not_applicable report for the account, from the unit of the first
// guarded region (the role is global: every region fails alike), none from
// the others.
func (f *Fleet) noSpoke(u Unit, err error) *engine.Result {
	if u.Region != f.Scope.Regions()[0] {
		return &engine.Result{Reports: []engine.Report{}, Counts: map[engine.Status]int{}}
	}
	r := engine.Report{Account: u.Account, Region: u.Region, Name: u.Account, Type: TypeLocation, Status: engine.StatusNotApplicable,
		Findings: []engine.Finding{{Rule: RuleNoSpoke, Detail: fmt.Sprintf("no reachable spoke role in account %s (the StackSet deploys only to its "+
			"organizational units, never to the management account); deploy the ElbGuardSpoke stack there, or name the account in the "+
			"accounts list to make this an error: %v", u.Account, err)}},
		Actions: []engine.Action{}}
	return &engine.Result{Reports: []engine.Report{r}, Found: 1, Processed: 1, Counts: map[engine.Status]int{engine.StatusNotApplicable: 1}}
}

// LocationError is the result of an account and region that could not be
// handled at all: one error report naming the account, region and cause.
func LocationError(account, region string, err error) *engine.Result {
	rule := engine.RuleAPIError
	if errors.Is(err, awsclient.ErrAssumeRole) {
		rule = RuleAssumeRole
	}
	r := engine.Report{Account: account, Region: region, Name: account + "/" + region, Type: TypeLocation,
		Status: engine.StatusError, Findings: []engine.Finding{{Rule: rule, Detail: err.Error()}}, Actions: []engine.Action{}}
	return &engine.Result{Reports: []engine.Report{r}, Found: 1, Processed: 1, Counts: map[engine.Status]int{engine.StatusError: 1}}
}

// Merge combines results of several accounts and regions, reports sorted by
// account, region, type and name.
func Merge(results ...*engine.Result) *engine.Result {
	out := &engine.Result{Reports: []engine.Report{}, Counts: map[engine.Status]int{}}
	for _, r := range results {
		if r == nil {
			continue
		}
		out.Reports = append(out.Reports, r.Reports...)
		out.Found += r.Found
		out.Processed += r.Processed
		out.Incomplete = out.Incomplete || r.Incomplete
		for s, n := range r.Counts {
			out.Counts[s] += n
		}
	}
	slices.SortStableFunc(out.Reports, func(a, b engine.Report) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ARN, b.ARN))
	})
	return out
}
