// Package htmlreport renders an engine.Result as one self-contained HTML
// page (inline CSS, no scripts, no external assets): counts by status, then a
// table per status with each load balancer's type, mode, findings and what
// would change. `elbguard audit --output html > report.html` writes it.
package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
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
	Scope string
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
	for _, s := range engine.Statuses {
		counts = append(counts, count{Status: s, N: len(byStatus[s])})
		if len(byStatus[s]) > 0 {
			sections = append(sections, section{Status: s, Rows: byStatus[s]})
		}
	}
	data := map[string]any{
		"Title": o.Title, "Scope": o.Scope, "Generated": o.Generated.UTC().Format(time.RFC3339),
		"Total": len(res.Reports), "Counts": counts, "Sections": sections,
		"Incomplete": res.Incomplete, "Found": res.Found, "Processed": res.Processed,
	}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}
