package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/elbguard/elbguard/compliance/htmlreport"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/buildinfo"
)

// write prints v as JSON, or res as a table or an HTML page.
func write(w io.Writer, o options, v any, res *engine.Result) error {
	format := o.output
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	}
	if res == nil {
		return nil
	}
	if format == "html" {
		ho := o.where
		ho.Version = buildinfo.Read().String()
		// The findings column has every finding in full; the changes
		// column only what would change.
		ho.Changes = func(r engine.Report) string {
			switch {
			case r.Held != nil: // in full: a page has room, and the reason is what a person acts on
				return heldLine(r)
			case len(r.Actions) == 0:
				return "-"
			}
			return changes(r)
		}
		return htmlreport.Render(w, res, ho)
	}
	return Table(w, res)
}

// Table prints one line per load balancer: type, name, mode, status and what
// changed (or would change, or why not), then a summary line.
func Table(w io.Writer, res *engine.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	located := slices.ContainsFunc(res.Reports, func(r engine.Report) bool { return r.Account != "" || r.Region != "" })
	if located { // a multi-account run: where each load balancer is
		fmt.Fprint(tw, "ACCOUNT\tREGION\t")
	}
	fmt.Fprintln(tw, "TYPE\tNAME\tMODE\tSTATUS\tCHANGES")
	for _, r := range res.Reports {
		mode := string(r.Mode)
		if mode == "" {
			mode = "-"
		}
		if located {
			fmt.Fprintf(tw, "%s\t%s\t", cmp.Or(r.Account, "-"), cmp.Or(r.Region, "-"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Type, r.Name, mode, r.Status, changes(r))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	var parts []string
	for _, s := range engine.Statuses {
		if n := res.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	summary := fmt.Sprintf("%s: %s", plural(res.Processed, "load balancer"), strings.Join(parts, ", "))
	if res.Incomplete {
		summary += fmt.Sprintf(" (stopped before the deadline: %d of %d handled)", res.Processed, res.Found)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

// Plan prints, for each load balancer a run would change or holds back,
// the calls it would make, in order, with their parameters, or
// "held: FINDING why" (deferred, for a spent budget), then a summary line:
// what `remediate` does with the same input, as terraform plan shows it.
func Plan(w io.Writer, res *engine.Result) error {
	var change, held, deferred int
	for _, r := range res.Reports {
		var calls []string
		for _, a := range r.Actions {
			if a.Status == engine.ActionPlanned {
				calls = append(calls, a.Line())
			}
		}
		if len(calls) == 0 && r.Held == nil {
			continue
		}
		where := ""
		if r.Account != "" || r.Region != "" {
			where = " in " + strings.TrimSpace(r.Account+" "+r.Region)
		}
		fmt.Fprintf(w, "%s %s%s (%s):\n", r.Type, r.Name, where, r.Status)
		for _, c := range calls {
			fmt.Fprintf(w, "  %s\n", c)
		}
		if r.Held != nil {
			fmt.Fprintf(w, "  %s\n", heldLine(r))
		}
		switch {
		case len(calls) > 0:
			change++
		case r.Status == engine.StatusDeferred:
			deferred++
		default:
			held++
		}
	}
	if change+held+deferred == 0 {
		_, err := fmt.Fprintln(w, "No changes: no load balancer needs a change elbguard would make.")
		return err
	}
	_, err := fmt.Fprintf(w, "Plan: %d to change, %d held, %d deferred.\n", change, held, deferred)
	return err
}

// heldLine says why a report's calls are not made: "held: RULE detail", or
// "deferred: RULE detail" when the run's budget was spent.
func heldLine(r engine.Report) string {
	word := "held"
	if r.Status == engine.StatusDeferred {
		word = "deferred"
	}
	return word + ": " + r.Held.Rule + " " + r.Held.Detail
}

// changes summarises a report's actions for people, grouped by outcome, e.g.
// "applied: proxy protocol on ports 80,81; listeners 80,443 to TCP/SSL; idle
// timeout", or why nothing is changed ("held: backends_not_ready 1 of 2 ...").
func changes(r engine.Report) string {
	if r.Held != nil {
		return shorten(heldLine(r), 110)
	}
	type group struct {
		what  []string            // in first-seen order
		ports map[string][]string // what -> ports or names
	}
	groups := map[engine.ActionStatus]*group{}
	var order []engine.ActionStatus
	for _, a := range r.Actions {
		if strings.Contains(a.Target, "/"+engine.TagRestorePrefix) {
			continue // the write-ahead record of a listener swap: part of "listeners N to TCP/SSL"
		}
		g, ok := groups[a.Status]
		if !ok {
			g = &group{ports: map[string][]string{}}
			groups[a.Status] = g
			order = append(order, a.Status)
		}
		what, item := describe(a)
		if !slices.Contains(g.what, what) {
			g.what = append(g.what, what)
		}
		if item != "" && !slices.Contains(g.ports[what], item) {
			g.ports[what] = append(g.ports[what], item)
		}
	}
	var out []string
	for _, s := range order {
		g := groups[s]
		var parts []string
		for _, w := range g.what {
			if items := g.ports[w]; len(items) > 0 {
				w = strings.Replace(w, "%s", strings.Join(items, ","), 1)
			}
			parts = append(parts, w)
		}
		out = append(out, string(s)+": "+strings.Join(parts, "; "))
	}
	if len(out) == 0 && len(r.Findings) > 0 && r.Status != engine.StatusCompliant {
		return shorten(r.Findings[0].Detail, 90)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " | ")
}

// describe names an action in a few words, with a %s for the port or name
// that item fills in.
func describe(a engine.Action) (what, item string) {
	suffix := a.Target[strings.LastIndex(a.Target, ":")+1:]
	switch a.API {
	case "CreateLoadBalancerPolicy":
		return "create proxy protocol policy", ""
	case "SetLoadBalancerPoliciesForBackendServer":
		return "proxy protocol on instance ports %s", strings.TrimPrefix(suffix, "instance-port/")
	case "DeleteLoadBalancerListeners", "CreateLoadBalancerListeners", "SetLoadBalancerPoliciesOfListener":
		return "listeners %s to TCP/SSL", suffix
	case "ModifyLoadBalancerAttributes", "ModifyListenerAttributes":
		return "idle timeout", ""
	case "ModifyTargetGroupAttributes":
		parts := strings.Split(a.Target, "/")
		name := a.Target
		if len(parts) >= 2 {
			name = parts[len(parts)-2]
		}
		return "proxy protocol v2 on target groups %s", name
	}
	return a.API + " %s", a.Target
}

// shorten cuts s to at most limit runes, ending in "..." when cut, never
// inside a UTF-8 sequence (details quote AWS error messages and names).
func shorten(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-3]) + "..."
}

// plural is "1 load balancer", "2 load balancers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
