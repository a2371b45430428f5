package cli

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/fleet"
)

// runner runs audit or remediate with cfg over the command's load balancers
// (a sweep, or Reconcile of those named), or, given an approved plan, over
// the load balancers it changes, applying no more than it lists.
type runner func(ctx context.Context, cfg engine.Config, plan *engine.Result) (*engine.Result, error)

// runPlanned runs audit or remediate. remediate without names is terraform
// apply: the plan (a dry run) first, shown, confirmed on a terminal (or by
// --yes), then applied bound to it; without a terminal and without --yes it
// is a usage error, because nobody saw what it would change. It returns the
// result and the least exit code, or a nil result and the exit code.
func runPlanned(ctx context.Context, env Env, cmd string, o options, run runner) (*engine.Result, int) {
	if cmd == "audit" || o.cfg.DryRun || len(o.args) > 0 {
		res, err := run(ctx, o.cfg, nil)
		if err != nil {
			fail(env, o, err)
			return nil, ExitUsage
		}
		return res, ExitOK
	}
	if !o.yes && !env.Terminal {
		fmt.Fprintf(env.Stderr, "elbguard remediate: no load balancer named and no terminal to confirm on: pass --yes to change every one in scope "+
			"(at most %d per account and region), name them, or see the plan with --dry-run\n", o.cfg.WithDefaults().MaxChanges)
		return nil, ExitUsage
	}
	dry := o.cfg
	dry.DryRun = true
	plan, err := run(ctx, dry, nil)
	if err != nil {
		fail(env, o, err)
		return nil, ExitUsage
	}
	if err := Plan(env.Stderr, plan); err != nil {
		fmt.Fprintf(env.Stderr, "elbguard remediate: %v\n", err)
		return nil, ExitUsage
	}
	if !changesAny(plan) {
		return plan, ExitOK
	}
	if !o.yes {
		fmt.Fprintf(env.Stderr, "\n%s\n  Enter a value: ", Confirmation)
		answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			fmt.Fprintln(env.Stderr, "\nRemediation cancelled: nothing changed.")
			return nil, ExitFound
		}
	}
	applied, err := run(ctx, o.cfg, plan)
	if err != nil {
		fail(env, o, err)
		return nil, ExitUsage
	}
	if n := applied.Counts[engine.StatusError]; n > 0 {
		for _, r := range applied.Reports {
			if slices.ContainsFunc(r.Findings, func(f engine.Finding) bool { return f.Rule == engine.RulePlanStale }) {
				fmt.Fprintf(env.Stderr, "elbguard remediate: %s changed since the plan; left unchanged (run again to see the new plan)\n", r.Name)
			}
		}
	}
	return merge(plan, applied), ExitOK
}

// changesAny reports whether a plan lists a call to make.
func changesAny(plan *engine.Result) bool {
	return slices.ContainsFunc(plan.Reports, func(r engine.Report) bool {
		return slices.ContainsFunc(r.Actions, func(a engine.Action) bool { return a.Status == engine.ActionPlanned })
	})
}

func reportKey(r engine.Report) string {
	return strings.Join([]string{r.Account, r.Region, r.Type, r.Name, r.ARN}, "\x00")
}

// merge is the plan with the reports of the load balancers applied in
// place of their planned ones.
func merge(plan, applied *engine.Result) *engine.Result {
	out := &engine.Result{Found: plan.Found, Processed: plan.Processed, Incomplete: plan.Incomplete || applied.Incomplete,
		Remaining: plan.Remaining, Counts: map[engine.Status]int{}}
	done := map[string]engine.Report{}
	for _, r := range applied.Reports {
		done[reportKey(r)] = r
	}
	for _, r := range plan.Reports {
		if a, ok := done[reportKey(r)]; ok {
			r = a
			delete(done, reportKey(r))
		}
		out.Reports = append(out.Reports, r)
	}
	for _, r := range applied.Reports { // a location error of the apply
		if _, ok := done[reportKey(r)]; ok {
			out.Reports = append(out.Reports, r)
		}
	}
	for _, r := range out.Reports {
		out.Counts[r.Status]++
	}
	return out
}

// approvedUnits are the accounts × regions a plan changes load balancers
// in, each with those load balancers.
func approvedUnits(plan *engine.Result) []fleet.Unit {
	var units []fleet.Unit
	seen := map[[2]string]bool{}
	for _, r := range plan.Reports {
		key := [2]string{r.Account, r.Region}
		if seen[key] {
			continue
		}
		seen[key] = true
		t := engine.Approved(plan, r.Account, r.Region)
		if len(t.Classic)+len(t.LoadBalancers) > 0 {
			units = append(units, fleet.Unit{Account: r.Account, Region: r.Region, Remaining: &t})
		}
	}
	slices.SortFunc(units, func(a, b fleet.Unit) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return units
}

// notFound turns the gone report of a load balancer named on the command
// line into not_found: it did not vanish during the run, it was never
// there (a typo, another account or region), and the run is not a success.
func notFound(res *engine.Result, args []string) {
	if len(args) == 0 {
		return
	}
	named := map[string]bool{}
	for _, a := range args {
		named[a] = true
		if n, ok := events.ClassicNameFromARN(a); ok {
			named[n] = true
		}
	}
	for i := range res.Reports {
		r := &res.Reports[i]
		if r.Status != engine.StatusGone || !(named[r.Name] || named[r.ARN]) {
			continue
		}
		res.Counts[r.Status]--
		if res.Counts[r.Status] == 0 {
			delete(res.Counts, r.Status)
		}
		r.Status = engine.StatusNotFound
		res.Counts[r.Status]++
		if !slices.ContainsFunc(r.Findings, func(f engine.Finding) bool { return f.Rule == engine.RuleNotFound }) {
			r.Findings = append(r.Findings, engine.Finding{Rule: engine.RuleNotFound, Detail: fmt.Sprintf("no load balancer %q in this account and region", cmp.Or(r.ARN, r.Name))})
		}
	}
}
