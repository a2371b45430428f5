//go:build integration

package test

import (
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// orgEnvInt reads a positive whole number from the environment, or def.
func orgEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// TestOrgRateLimit sweeps N Classic load balancers (ELBGUARD_SCALE, default
// 100; 1000 for the closing note) tagged enforce through the fault proxy
// emulating AWS's ELB token buckets per account, region and call class:
// Describe* a bucket of 40 refilling at 10/s, mutating calls a bucket of 10
// refilling at 3/s, refills multiplied by ELBGUARD_RATE_SPEEDUP (default 10,
// so that CI does not wait on AWS's real pace; the limiter's rates are
// multiplied alike, 8/s and 2/s by default). With the client-side limiter a
// first sweep remediates all N and a second finds them compliant, with zero
// unretried throttles (no report in error). The same sweep without the
// limiter, in a second region, is the control: it is throttled.
func TestOrgRateLimit(t *testing.T) {
	n := orgEnvInt(t, "ELBGUARD_SCALE", 100)
	speed := float64(orgEnvInt(t, "ELBGUARD_RATE_SPEEDUP", 10))
	limited, control := "us-east-1", "eu-west-1"
	m := harness.StartMoto(t)
	ctx := harness.Context(t, 30*time.Minute)

	// The load balancers, straight to moto.
	setup, err := awsclient.NewProvider(m.Config(t), awsclient.ProviderConfig{Home: orgHub, Limits: awsclient.Limits{Describe: awsclient.MaxRate, Mutate: awsclient.MaxRate}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	orgCreateMany(t, ctx, setup, orgHub, limited, n)
	orgCreateMany(t, ctx, setup, orgHub, control, n)
	t.Logf("created %d Classic load balancers in each of %s and %s in %s", n, limited, control, time.Since(start).Round(time.Millisecond))

	// The engine's view: both ELB APIs through the proxy and its buckets.
	p, err := faultproxy.New(m.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetBuckets(&faultproxy.Buckets{Read: faultproxy.Bucket{Capacity: 40, Refill: 10 * speed}, Mutate: faultproxy.Bucket{Capacity: 10, Refill: 3 * speed}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", srv.URL)
	base := m.Config(t)
	counter := awscount.New()
	limits := awsclient.Limits{Describe: awsclient.DefaultDescribeRate * speed, Mutate: awsclient.DefaultMutateRate * speed}
	prov, err := awsclient.NewProvider(base, awsclient.ProviderConfig{Home: orgHub, Limits: limits}, counter.Instrument)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := prov.Clients(ctx, orgHub, limited)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := fleet.NewEngine(clients, engine.Config{MaxChanges: engine.MaxBudget}, nil) // the first sweep of a fleet: every one
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		name string
		want engine.Status
	}{{"first sweep (remediates)", engine.StatusRemediated}, {"second sweep (compliant)", engine.StatusCompliant}} {
		p.Reset()
		if err := p.SetBuckets(&faultproxy.Buckets{Read: faultproxy.Bucket{Capacity: 40, Refill: 10 * speed}, Mutate: faultproxy.Bucket{Capacity: 10, Refill: 3 * speed}}); err != nil {
			t.Fatal(err)
		}
		counter.Reset()
		start := time.Now()
		res, err := eng.Sweep(ctx)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		calls, mutating := counter.Totals()
		attempts := 0
		for _, a := range counter.Attempts() {
			attempts += a
		}
		throttled := p.Stats().Faults()[faultproxy.FaultBucket]
		t.Logf("limited (%v describe/s, %v mutate/s), %s of %d: %s wall, %d calls (%d mutating), %d attempts, %d throttled by the emulated buckets, all retried; counts %v",
			limits.Describe, limits.Mutate, run.name, n, took.Round(time.Millisecond), calls, mutating, attempts, throttled, res.Counts)
		if res.Counts[run.want] != n || res.Counts[engine.StatusError] != 0 {
			t.Errorf("%s: got counts %v; want %d %s and no error (an unretried throttle is an error)", run.name, res.Counts, n, run.want)
		}
		for _, r := range res.Reports {
			for _, f := range r.Findings {
				if strings.Contains(f.Detail, "Throttling") {
					t.Errorf("%s: %s: unretried throttle: %s", run.name, r.Name, f.Detail)
				}
			}
		}
	}

	// Control: the same sweep without the limiter is throttled.
	p.Reset()
	if err := p.SetBuckets(&faultproxy.Buckets{Read: faultproxy.Bucket{Capacity: 40, Refill: 10 * speed}, Mutate: faultproxy.Bucket{Capacity: 10, Refill: 3 * speed}}); err != nil {
		t.Fatal(err)
	}
	bare := awsclient.FromConfig(func() awsCfg { c := base.Copy(); c.Region = control; return c }())
	ctlEng, err := engine.New(bare.Classic, bare.V2, engine.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	res, err := ctlEng.Sweep(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatalf("control sweep: %v", err)
	}
	throttled := p.Stats().Faults()[faultproxy.FaultBucket]
	t.Logf("control without the limiter, first sweep of %d: %s wall, %d throttled by the emulated buckets, counts %v",
		n, time.Since(start).Round(time.Millisecond), throttled, res.Counts)
	unretried := 0
	for _, r := range res.Reports {
		if r.Status != engine.StatusError {
			continue
		}
		var details []string
		for _, f := range r.Findings {
			details = append(details, f.Detail)
		}
		for _, a := range r.Actions {
			details = append(details, a.Error)
		}
		if d := strings.Join(details, " | "); strings.Contains(d, "Throttling") || strings.Contains(d, "retry quota") {
			if unretried++; unretried <= 3 {
				t.Logf("control: %s: %s", r.Name, shorten(d, 400))
			}
		}
	}
	t.Logf("control: %d load balancers left in error by unretried throttles", unretried)
	if throttled == 0 {
		t.Errorf("control: no throttling; the emulated buckets are not biting, so the limited run proves nothing")
	}
}

// shorten cuts s to at most n bytes for a log line.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
