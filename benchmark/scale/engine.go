package scale

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
	"github.com/elbguard/elbguard/test/peer"
)

// counted builds the engine on SDK clients whose calls awscount counts.
func counted(ctx context.Context, env []string) (*engine.Engine, *awscount.Counter, error) {
	cfg, err := awsConfig(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	counter := awscount.New()
	clients := awsclient.FromConfig(cfg, counter.Instrument)
	eng, err := fleet.NewEngine(clients, engine.Config{MaxChanges: engine.MaxBudget}, nil) // the first sweep of a fleet: every one
	if err != nil {
		return nil, nil, fmt.Errorf("build engine: %w", err)
	}
	return eng, counter, nil
}

func callsOf(what string, c *awscount.Counter) Calls {
	_, writes := c.Totals()
	return Calls{What: what, ByAction: c.Calls(), Writes: writes}
}

// sweeps runs the engine's Sweep twice over the n seeded load balancers:
// the first remediates all of them, the second must find all compliant and
// make no write.
func sweeps(ctx context.Context, cfg Config, env []string, n int, res *Result) {
	first := report.Row{Scenario: fmt.Sprintf("sweep %d Classic ELBs, 1st (remediates all)", n), Metric: "wall time", Unit: "s", Better: report.Lower}
	second := report.Row{Scenario: fmt.Sprintf("sweep %d Classic ELBs, 2nd (all compliant)", n), Metric: "wall time", Unit: "s", Better: report.Lower}
	writes := report.Row{Scenario: fmt.Sprintf("sweep %d Classic ELBs, 2nd (all compliant)", n), Metric: "mutating calls", Unit: "calls", Better: report.Lower}
	defer func() { res.Rows = append(res.Rows, first, second, writes) }()
	eng, counter, err := counted(ctx, env)
	if err != nil {
		res.fail(&first, Elbguard, err)
		res.fail(&second, Elbguard, err)
		res.fail(&writes, Elbguard, err)
		return
	}
	run := func(row *report.Row, want engine.Status, label string) bool {
		counter.Reset()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := eng.Sweep(sctx)
		took := time.Since(start)
		if err == nil && out.Counts[want] != n {
			err = fmt.Errorf("%s: %d of %d load balancers %s (counts %v)", label, out.Counts[want], n, want, out.Counts)
		}
		if err != nil {
			res.fail(row, Elbguard, err)
			return false
		}
		row.Set(Elbguard, seconds(took))
		c := callsOf(fmt.Sprintf("sweep of %d, %s", n, label), counter)
		res.Calls = append(res.Calls, c)
		cfg.Log.Info("sweep", "n", n, "pass", label, "took", took.Round(time.Millisecond), "calls", c.String())
		return true
	}
	if !run(&first, engine.StatusRemediated, "1st") {
		res.fail(&second, Elbguard, fmt.Errorf("%w: the 1st sweep failed", ErrNotReady))
		res.fail(&writes, Elbguard, fmt.Errorf("%w: the 1st sweep failed", ErrNotReady))
		return
	}
	if !run(&second, engine.StatusCompliant, "2nd") {
		res.fail(&writes, Elbguard, fmt.Errorf("%w: the 2nd sweep failed", ErrNotReady))
		return
	}
	_, w := counter.Totals()
	writes.Set(Elbguard, float64(w))
}

// enforcerEvents times the enforcer handler on a CloudTrail
// CreateLoadBalancerListeners event for a load balancer that is already
// compliant (the sweeps above made it so), and counts its calls per event.
func enforcerEvents(ctx context.Context, cfg Config, env []string, res *Result) {
	scen := "enforcer, 1 event on a compliant Classic ELB"
	p50 := report.Row{Scenario: scen, Metric: "latency p50", Unit: "ms", Better: report.Lower}
	p99 := report.Row{Scenario: scen, Metric: "latency p99", Unit: "ms", Better: report.Lower}
	reads := report.Row{Scenario: scen, Metric: "reads per event", Unit: "calls", Better: report.Lower}
	writes := report.Row{Scenario: scen, Metric: "writes per event", Unit: "calls", Better: report.Lower}
	defer func() { res.Rows = append(res.Rows, p50, p99, reads, writes) }()
	fail := func(err error) {
		for _, r := range []*report.Row{&p50, &p99, &reads, &writes} {
			res.fail(r, Elbguard, err)
		}
	}
	sample, err := os.ReadFile(filepath.Join(cfg.Root, "events", "testdata", "classic_create_listeners.json"))
	if err != nil {
		fail(fmt.Errorf("read sample event: %w", err))
		return
	}
	raw := []byte(strings.ReplaceAll(string(sample), `"web-classic"`, `"`+Name(0)+`"`))
	eng, counter, err := counted(ctx, env)
	if err != nil {
		fail(err)
		return
	}
	h := &fleet.Enforcer{Engine: eng}
	// One event first, not timed: the SDK's first call opens the connection.
	if _, err := h.Handle(ctx, raw); err != nil {
		fail(fmt.Errorf("warm-up event: %w", err))
		return
	}
	lat := make([]float64, 0, cfg.Events)
	counter.Reset()
	for range cfg.Events {
		start := time.Now()
		out, err := h.Handle(ctx, raw)
		took := time.Since(start)
		if err == nil && (out.Result == nil || out.Result.Counts[engine.StatusCompliant] != 1) {
			err = fmt.Errorf("enforcer outcome %+v; want one compliant load balancer", out)
		}
		if err != nil {
			fail(err)
			return
		}
		lat = append(lat, float64(took)/float64(time.Millisecond))
	}
	slices.Sort(lat)
	p50.Set(Elbguard, lat[len(lat)/2])
	p99.Set(Elbguard, lat[min(len(lat)-1, len(lat)*99/100)])
	calls, w := counter.Totals()
	reads.Set(Elbguard, float64(calls-w)/float64(cfg.Events))
	writes.Set(Elbguard, float64(w)/float64(cfg.Events))
	c := callsOf(fmt.Sprintf("enforcer, %d events on a compliant Classic ELB", cfg.Events), counter)
	res.Calls = append(res.Calls, c)
	cfg.Log.Info("enforcer events", "events", cfg.Events, "p50_ms", lat[len(lat)/2], "calls", c.String())
}

// cliAudit runs `elbguard audit --output json --stats` and checks it found
// all n load balancers not compliant (exit status 1 by design); --stats
// prints the calls by action, counted by the CLI's own awscount middleware.
func cliAudit(ctx context.Context, cfg Config, env []string, n int) (time.Duration, Calls, error) {
	if cfg.CLIBin == "" {
		return 0, Calls{}, fmt.Errorf("%w: no elbguard CLI binary (-elbguard-bin)", ErrNotReady)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	// --max-changes: the audit plans every load balancer, not the first
	// run's ten (the rest would be deferred).
	res, err := peer.Run(ctx, cfg.CLIBin, []string{"audit", "--output", "json", "--stats", "--max-changes", strconv.Itoa(engine.MaxBudget)}, peer.Options{Env: env, Dir: cfg.Dir})
	took := time.Since(start)
	if err != nil {
		return 0, Calls{}, fmt.Errorf("elbguard audit: %w", err)
	}
	if res.Code != 1 {
		return 0, Calls{}, fmt.Errorf("elbguard audit exited %d; want 1 (non-compliant found): %s", res.Code, tail(res.Stderr))
	}
	if got := strings.Count(res.Stdout, `"non_compliant"`); got < n {
		return 0, Calls{}, fmt.Errorf("elbguard audit reported %d non_compliant; want %d", got, n)
	}
	calls := Calls{What: fmt.Sprintf("elbguard audit of %d (CLI --stats)", n), ByAction: statsCalls(res.Stderr)}
	for k, v := range calls.ByAction {
		if awscount.IsMutating(k) {
			calls.Writes += v
		}
	}
	cfg.Log.Info("elbguard audit", "n", n, "took", took.Round(time.Millisecond), "calls", calls.String())
	return took, calls, nil
}

// statsCalls reads the "service:Action=N" lines that `elbguard --stats`
// prints after "API calls by action:".
func statsCalls(stderr string) map[string]int {
	out := map[string]int{}
	_, after, ok := strings.Cut(stderr, "API calls by action:")
	if !ok {
		return out
	}
	for _, l := range strings.Split(after, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || !strings.Contains(k, ":") {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			out[k] = n
		}
	}
	return out
}
