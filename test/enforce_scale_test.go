//go:build integration

package test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
	"github.com/elbguard/elbguard/test/harness"
)

// TestEnforceSweepScale sweeps N Classic load balancers in moto (N from
// ELBGUARD_SCALE, default 100) tagged enforce with an HTTP listener: a first
// sweep remediates them all, a second finds them compliant with zero writes.
// It logs wall time and API calls by action for both sweeps; with
// ELBGUARD_SCALE=1000 these are the numbers in the closing note.
func TestEnforceSweepScale(t *testing.T) {
	n := 100
	if v := os.Getenv("ELBGUARD_SCALE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("ELBGUARD_SCALE=%q: want a positive whole number", v)
		}
	}
	m := harness.StartMoto(t)
	counter := awscount.New()
	clients := awsclient.FromConfig(m.Config(t), counter.Instrument)
	ctx := harness.Context(t, 10*time.Minute)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				_, err := clients.Classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
					LoadBalancerName:  aws.String(fmt.Sprintf("scale-%04d", i)),
					AvailabilityZones: []string{"us-east-1a"},
					Listeners:         []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")},
					Tags:              enfTags(enfModeTag, "enforce", "elbguard:readiness", "skip"),
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create load balancers: %v", err)
	}
	t.Logf("created %d Classic load balancers in moto in %s", n, time.Since(start).Round(time.Millisecond))

	eng, err := engine.New(clients.Classic, clients.V2, engine.Config{MaxChanges: engine.MaxBudget}, nil, engine.WithCertificates(clients.IAM, clients.ACM)) // the first sweep of a fleet: every one
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		name string
		want engine.Status
	}{{"first sweep (remediates)", engine.StatusRemediated}, {"second sweep (compliant)", engine.StatusCompliant}} {
		counter.Reset()
		start := time.Now()
		res, err := eng.Sweep(context.WithoutCancel(ctx))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		calls, mutating := counter.Totals()
		t.Logf("%s of %d load balancers: %s wall, %d calls (%d mutating), counts %v; calls by action:\n%s",
			run.name, n, took.Round(time.Millisecond), calls, mutating, res.Counts, counter)
		if res.Counts[run.want] != n {
			t.Errorf("%s: got counts %v; want %d %s", run.name, res.Counts, n, run.want)
		}
		if got, want := counter.Calls()["elb:DescribeTags"], (n+19)/20; got != want {
			t.Errorf("%s: got %d DescribeTags calls; want ceil(%d/20) = %d", run.name, got, n, want)
		}
		if run.want == engine.StatusCompliant && mutating != 0 {
			t.Errorf("%s: got %d mutating calls; want 0", run.name, mutating)
		}
	}
}
