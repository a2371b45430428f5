package demo

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ANSI styles; empty when colour is off.
type palette struct {
	bold, dim, green, red, yellow, cyan, reset string
}

var colours = palette{
	bold: "\x1b[1m", dim: "\x1b[2m", green: "\x1b[32m", red: "\x1b[31m",
	yellow: "\x1b[33m", cyan: "\x1b[36m", reset: "\x1b[0m",
}

// errInterrupted marks a step cut short by the demo's context (Ctrl-C).
var errInterrupted = errors.New("interrupted")

// ui prints the demo's story: parts, numbered steps announced as they start,
// their details indented, and how each ended.
type ui struct {
	mu      sync.Mutex
	w       io.Writer
	c       palette
	n       int
	results []stepResult
}

type stepResult struct {
	n     int
	title string
	took  time.Duration
	err   error
}

func newUI(w io.Writer, colour bool) *ui {
	u := &ui{w: w}
	if colour {
		u.c = colours
	}
	return u
}

// part prints a banner for one half of the demo.
func (u *ui) part(title, subtitle string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	line := strings.Repeat("━", 72)
	fmt.Fprintf(u.w, "\n%s%s%s\n%s%s%s\n", u.c.cyan, line, u.c.reset, u.c.bold, title, u.c.reset)
	if subtitle != "" {
		fmt.Fprintf(u.w, "%s%s%s\n", u.c.dim, subtitle, u.c.reset)
	}
	fmt.Fprintf(u.w, "%s%s%s\n", u.c.cyan, line, u.c.reset)
}

// start announces step n.
func (u *ui) start(title string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n++
	fmt.Fprintf(u.w, "\n%s▶ %d. %s%s\n", u.c.bold, u.n, title, u.c.reset)
	return u.n
}

// done prints how step n ended and records it for the summary.
func (u *ui) done(n int, title string, took time.Duration, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.results = append(u.results, stepResult{n: n, title: title, took: took, err: err})
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(u.w, "  %s✗ interrupted after %s%s\n", u.c.red, round(took), u.c.reset)
		return
	case err != nil:
		fmt.Fprintf(u.w, "  %s✗ failed after %s: %s%s\n", u.c.red, round(took), indentRest(err.Error(), "    "), u.c.reset)
		return
	}
	fmt.Fprintf(u.w, "  %s✓ done in %s%s\n", u.c.green, round(took), u.c.reset)
}

// say prints one detail line of the current step.
func (u *ui) say(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.w, "  %s\n", fmt.Sprintf(format, args...))
}

// good prints a detail line that confirms what the step set out to show.
func (u *ui) good(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.w, "  %s→ %s%s\n", u.c.green, fmt.Sprintf(format, args...), u.c.reset)
}

// cmd prints a command line as the reader would type it.
func (u *ui) cmd(line string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.w, "  %s$ %s%s\n", u.c.yellow, line, u.c.reset)
}

// block prints text (a table, a log line) indented, dimmed when quiet.
func (u *ui) block(text string, quiet bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return
	}
	style, reset := "", ""
	if quiet {
		style, reset = u.c.dim, u.c.reset
	}
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(u.w, "    %s%s%s\n", style, l, reset)
	}
}

// summary prints every step's outcome and returns how many failed.
func (u *ui) summary(total time.Duration) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	failed, width := 0, 0
	for _, r := range u.results {
		width = max(width, utf8.RuneCountInString(r.title))
	}
	fmt.Fprintf(u.w, "\n%sSummary%s\n", u.c.bold, u.c.reset)
	for _, r := range u.results {
		mark := u.c.green + "✓" + u.c.reset
		if r.err != nil {
			mark = u.c.red + "✗" + u.c.reset
			failed++
		}
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(r.title))
		fmt.Fprintf(u.w, "  %s %2d. %s%s %8s\n", mark, r.n, r.title, pad, round(r.took))
	}
	if failed > 0 {
		fmt.Fprintf(u.w, "%s%d of %d steps failed%s (%s)\n", u.c.red, failed, len(u.results), u.c.reset, round(total))
	} else {
		fmt.Fprintf(u.w, "%sAll %d steps passed%s in %s\n", u.c.green, len(u.results), u.c.reset, round(total))
	}
	return failed
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Millisecond)
}

func indentRest(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
