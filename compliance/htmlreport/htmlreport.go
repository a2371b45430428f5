// Package htmlreport renders an engine.Result as one self-contained HTML
// page (inline CSS, no scripts, no external assets): a header naming the
// accounts, regions, time and elbguard version; tiles for the statuses that
// occur; then a table per status, what needs a person first (errors, held,
// deferred, not found, rolled back), then what is not compliant, then the
// rest, with each load balancer's type, mode, findings in full and what
// would change. `elbguard audit --output html > report.html` writes it.
package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/elbguard/elbguard/engine"
)

//go:embed report.html.tmpl
var page string

var tmpl = template.Must(template.New("report").Parse(page))

// Options describe the page.
type Options struct {
	// Title heads the page. Empty: "elbguard audit".
	Title string
	// Scope says where the run looked, e.g. "account 123456789012, us-east-1".
	// Empty: the accounts and regions of the reports, or Accounts and Regions.
	Scope string
	// Accounts and Regions name where a single-location run looked when its
	// reports do not say (a single-account run does not stamp them).
	Accounts, Regions []string
	// Version is the elbguard build that made the report.
	Version string
	// Generated stamps the page. Zero: time.Now.
	Generated time.Time
	// Changes summarises a report's actions for people (the CLI's table
	// column). Nil: the number of actions.
	Changes func(engine.Report) string
}

type row struct {
	engine.Report
	Changes string
}

type section struct {
	Status engine.Status
	Rows   []row
}

type count struct {
	Status engine.Status
	N      int
}

// Render writes the page for res.
func Render(w io.Writer, res *engine.Result, o Options) error {
	if o.Title == "" {
		o.Title = "elbguard audit"
	}
	if o.Generated.IsZero() {
		o.Generated = time.Now()
	}
	changes := o.Changes
	if changes == nil {
		changes = func(r engine.Report) string { return fmt.Sprintf("%d actions", len(r.Actions)) }
	}
	byStatus := map[engine.Status][]row{}
	for _, r := range res.Reports {
		byStatus[r.Status] = append(byStatus[r.Status], row{Report: r, Changes: changes(r)})
	}
	var sections []section
	var counts []count
	for _, s := range Order {
		if len(byStatus[s]) > 0 {
			counts = append(counts, count{Status: s, N: len(byStatus[s])})
			sections = append(sections, section{Status: s, Rows: byStatus[s]})
		}
	}
	if o.Scope == "" {
		o.Scope = scope(res, o.Accounts, o.Regions)
	}
	data := map[string]any{
		"Title": o.Title, "Scope": o.Scope, "Version": o.Version, "Generated": o.Generated.UTC().Format(time.RFC3339),
		"Total": len(res.Reports), "Counts": counts, "Sections": sections,
		"Incomplete": res.Incomplete, "Found": res.Found, "Processed": res.Processed,
	}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}

// Order is the page's order of statuses: what needs a person first, then
// what is not compliant, then what is fine or out of scope.
var Order = []engine.Status{
	engine.StatusError, engine.StatusRolledBack, engine.StatusHeld, engine.StatusDeferred, engine.StatusNotFound,
	engine.StatusNonCompliant,
	engine.StatusRemediated, engine.StatusCompliant, engine.StatusExempt,
	engine.StatusSkipped, engine.StatusNotApplicable, engine.StatusGone,
}

// scope names the accounts and regions of the reports ("account 1, 2 ·
// regions us-east-1, eu-west-1"), or the given ones when no report says.
func scope(res *engine.Result, accounts, regions []string) string {
	for _, r := range res.Reports {
		if r.Account != "" && !slices.Contains(accounts, r.Account) {
			accounts = append(accounts, r.Account)
		}
		if r.Region != "" && !slices.Contains(regions, r.Region) {
			regions = append(regions, r.Region)
		}
	}
	var parts []string
	if len(accounts) > 0 {
		parts = append(parts, plural(len(accounts), "account")+" "+strings.Join(accounts, ", "))
	}
	if len(regions) > 0 {
		parts = append(parts, plural(len(regions), "region")+" "+strings.Join(regions, ", "))
	}
	return strings.Join(parts, " · ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
