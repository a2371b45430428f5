// Package scale measures elbguard's enforcement at scale against
// moto_server: sweeps over N Classic ELBs (wall time, API calls by action,
// zero writes on the second sweep), the CLI audit beside Cloud Custodian's
// `custodian run` on the same emulator and load balancers, the per-event
// latency of the enforcer, and the enforcer Lambda's cold start under
// aws-lambda-rie.
package scale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/test/peer"
)

// Tool names in the enforcement table.
const (
	Elbguard  = "elbguard"
	Custodian = "custodian"
)

// ErrNotReady marks a part that could not run because a binary or package
// it needs is not there yet.
var ErrNotReady = errors.New("scale: not available")

// Config says what to measure. Zero values are replaced by the defaults
// noted beside each field.
type Config struct {
	// Root is the repository root (tools in .cache).
	Root string
	// Dir is a scratch directory.
	Dir string
	// Ns are the load balancer counts; zero means 100 and 1,000.
	Ns []int
	// Events is how many enforcer events to time; zero means 50.
	Events int
	// ColdStarts is how many cold starts to time under the RIE; zero
	// means 5.
	ColdStarts int
	// CLIBin is the elbguard CLI; empty skips the CLI audit figures.
	CLIBin string
	// Bootstrap is the enforcer Lambda built for this host; empty skips
	// the cold start.
	Bootstrap string
	// ArmBootstrap is the deployed linux/arm64 bootstrap; its size is
	// reported when set.
	ArmBootstrap string
	// Log receives progress.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if len(c.Ns) == 0 {
		c.Ns = []int{100, 1000}
	}
	if c.Events == 0 {
		c.Events = 50
	}
	if c.ColdStarts == 0 {
		c.ColdStarts = 5
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Calls is the API calls one run made, by action.
type Calls struct {
	What     string         `json:"what"`
	ByAction map[string]int `json:"by_action"`
	Writes   int            `json:"writes"`
}

// String lists the actions, most frequent first, then the write count.
func (c Calls) String() string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	total := 0
	for k, v := range c.ByAction {
		all = append(all, kv{k, v})
		total += v
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var parts []string
	for _, p := range all {
		parts = append(parts, fmt.Sprintf("%s %d", p.k, p.v))
	}
	return fmt.Sprintf("%d calls (%s), %d writes", total, strings.Join(parts, ", "), c.Writes)
}

// Result is what the enforcement part measured.
type Result struct {
	Rows    []report.Row
	Calls   []Calls
	Notes   []string
	Missing []string
}

func (r *Result) fail(row *report.Row, tool string, err error) {
	row.Fail(tool, err)
	r.Missing = append(r.Missing, fmt.Sprintf("%s %s %s: %v", row.Scenario, row.Metric, tool, err))
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// Run starts moto_server and measures every figure it can; what cannot run
// is reported in Missing with the reason, never silently left out.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	log := cfg.Log
	res := &Result{}
	moto, err := peer.StartMoto(ctx, cfg.Root, peer.Options{LogDir: cfg.Dir})
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	defer moto.Stop()
	env := moto.Env()
	log.Info("moto_server ready", "url", moto.URL)

	for _, n := range cfg.Ns {
		if err := moto.Reset(ctx); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := Seed(ctx, env, n); err != nil {
			return nil, err
		}
		log.Info("seeded classic load balancers", "n", n, "took", time.Since(t0).Round(time.Millisecond))

		audit := report.Row{Scenario: fmt.Sprintf("audit %d Classic ELBs", n), Metric: "wall time",
			Unit: "s", Better: report.Lower, Goal: &report.Goal{Versus: Custodian, Ratio: 1}}
		if d, calls, err := cliAudit(ctx, cfg, env, n); err != nil {
			res.fail(&audit, Elbguard, err)
		} else {
			audit.Set(Elbguard, seconds(d))
			res.Calls = append(res.Calls, calls)
		}
		if d, err := custodianAudit(ctx, cfg, env, n); err != nil {
			res.fail(&audit, Custodian, err)
		} else {
			audit.Set(Custodian, seconds(d))
			if calls, err := custodianCalls(ctx, cfg, env, n); err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("Cloud Custodian's calls for %d could not be counted: %v", n, err))
			} else {
				res.Calls = append(res.Calls, calls)
			}
		}
		res.Rows = append(res.Rows, audit)

		sweeps(ctx, cfg, env, n, res)
	}
	enforcerEvents(ctx, cfg, env, res)
	coldStart(ctx, cfg, env, res)
	return res, nil
}
