// Package report turns benchmark measurements into the Markdown tables of
// BENCHMARKS.md: one row per figure, one column per tool, and the ratio of
// elbguard's figure to each other tool's, checked against the goal.
package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

// Better says which direction of a figure is good.
type Better string

// Directions of a figure.
const (
	Higher Better = "higher"
	Lower  Better = "lower"
)

// Cell is one tool's figure in a row: a number, or the reason there is none.
type Cell struct {
	Value float64 `json:"value"`
	// Err is set when the scenario produced no number for this tool.
	Err string `json:"error,omitempty"`
}

// Goal is a target from the issue: Base's figure divided by Versus's must
// be at least Ratio (Higher) or at most Ratio (Lower).
type Goal struct {
	Versus string  `json:"versus"`
	Ratio  float64 `json:"ratio"`
}

// Row is one figure measured for several tools.
type Row struct {
	Scenario string `json:"scenario"`
	Metric   string `json:"metric"`
	Unit     string `json:"unit"`
	Better   Better `json:"better"`
	Goal     *Goal  `json:"goal,omitempty"`
	// Only, when set, is the one tool the figure exists for (a reference
	// measured on elbguard-proxy alone): the others' cells are not missing.
	Only  string          `json:"only,omitempty"`
	Cells map[string]Cell `json:"cells"`
}

// Set records a figure for tool.
func (r *Row) Set(tool string, v float64) {
	if r.Cells == nil {
		r.Cells = map[string]Cell{}
	}
	r.Cells[tool] = Cell{Value: v}
}

// Fail records that tool produced no figure, and why.
func (r *Row) Fail(tool string, err error) {
	if r.Cells == nil {
		r.Cells = map[string]Cell{}
	}
	r.Cells[tool] = Cell{Err: err.Error()}
}

// Ratio returns base's figure divided by versus's, and false when either is
// missing, or negative (a noisy machine-wide delta), or the divisor is zero
// and the dividend is not (two zeros are level: 1).
func (r *Row) Ratio(base, versus string) (float64, bool) {
	a, ok1 := r.Cells[base]
	b, ok2 := r.Cells[versus]
	if !ok1 || !ok2 || a.Err != "" || b.Err != "" || a.Value < 0 || b.Value < 0 {
		return 0, false
	}
	if b.Value == 0 {
		return 1, a.Value == 0
	}
	return a.Value / b.Value, true
}

// Met reports whether the row's goal holds for base; ok is false when the
// row has no goal or a figure is missing.
func (r *Row) Met(base string) (met, ok bool) {
	if r.Goal == nil {
		return false, false
	}
	q, ok := r.Ratio(base, r.Goal.Versus)
	if !ok {
		return false, false
	}
	if r.Better == Lower {
		return q <= r.Goal.Ratio, true
	}
	return q >= r.Goal.Ratio, true
}

// Missing lists "scenario metric tool: reason" for every cell without a
// number: a cell with an error, or no cell at all for one of tools.
func Missing(rows []Row, tools []string) []string {
	var out []string
	for _, r := range rows {
		all := slices.Clone(tools)
		if r.Only != "" {
			all = []string{r.Only}
		}
		for _, t := range slices.Sorted(maps.Keys(r.Cells)) {
			if !slices.Contains(all, t) {
				all = append(all, t)
			}
		}
		for _, t := range all {
			c, ok := r.Cells[t]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %s %s: not measured", r.Scenario, r.Metric, t))
			case c.Err != "":
				out = append(out, fmt.Sprintf("%s %s %s: %s", r.Scenario, r.Metric, t, c.Err))
			case math.IsNaN(c.Value) || math.IsInf(c.Value, 0):
				out = append(out, fmt.Sprintf("%s %s %s: not a number", r.Scenario, r.Metric, t))
			}
		}
	}
	return out
}

// Has reports whether some row has a cell, a number or an error, for tool.
func Has(rows []Row, tool string) bool {
	for _, r := range rows {
		if _, ok := r.Cells[tool]; ok {
			return true
		}
	}
	return false
}

// Table renders rows as Markdown: a column per tool in tools, then
// base ÷ each tool in versus, then the goal and whether it was met.
func Table(rows []Row, base string, tools, versus []string) string {
	var b strings.Builder
	head := []string{"scenario", "figure"}
	head = append(head, tools...)
	for _, v := range versus {
		head = append(head, base+" ÷ "+v)
	}
	head = append(head, "goal", "met")
	line(&b, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= 2 && i < len(head)-2 {
			sep[i] = "---:"
		}
	}
	line(&b, sep)
	for _, r := range rows {
		cols := []string{r.Scenario, r.Metric + " (" + r.Unit + ", " + string(r.Better) + " is better)"}
		for _, t := range tools {
			c, ok := r.Cells[t]
			switch {
			case !ok:
				cols = append(cols, "")
			case c.Err != "":
				cols = append(cols, "error")
			default:
				cols = append(cols, Format(c.Value, r.Unit))
			}
		}
		for _, v := range versus {
			if q, ok := r.Ratio(base, v); ok {
				cols = append(cols, fmt.Sprintf("%.2f×", q))
			} else {
				cols = append(cols, "")
			}
		}
		goal, met := "", ""
		if r.Goal != nil {
			op := "≥"
			if r.Better == Lower {
				op = "≤"
			}
			goal = fmt.Sprintf("%s %.1f× %s", op, r.Goal.Ratio, r.Goal.Versus)
			if q, ok := r.Ratio(base, r.Goal.Versus); ok {
				goal += fmt.Sprintf(" (%.2f×)", q)
			}
			if m, ok := r.Met(base); ok {
				met = "no"
				if m {
					met = "yes"
				}
			}
		}
		cols = append(cols, goal, met)
		line(&b, cols)
	}
	return b.String()
}

func line(b *strings.Builder, cols []string) {
	b.WriteString("| ")
	b.WriteString(strings.Join(cols, " | "))
	b.WriteString(" |\n")
}

// Format prints v with a precision that suits its unit.
func Format(v float64, unit string) string {
	switch {
	case v != 0 && math.Abs(v) < 1:
		return fmt.Sprintf("%.3f", v)
	case v != 0 && math.Abs(v) < 10:
		return fmt.Sprintf("%.2f", v)
	case math.Abs(v) < 100 && unit != "calls" && unit != "count" && unit != "bytes":
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// Median returns the median of vs (mean of the middle two for an even
// count), or NaN for none.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
