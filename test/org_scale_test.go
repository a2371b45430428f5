//go:build integration

package test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/harness"
)

// TestOrgSweepScale is the numbers of the closing note, run once by hand:
//
//	ELBGUARD_ORG_SCALE=1 go test -tags integration -count=1 -timeout 60m -run TestOrgSweepScale -v ./test/
//
// It builds 50 accounts (the hub and 49 spokes) × 2 regions × 10 Classic
// load balancers tagged enforce (1,000) in moto, then runs the real elbguard
// binary: `remediate --accounts … --regions …` (the first sweep) and `audit`
// (the compliant re-sweep), with the default client-side rates, and logs
// wall time, API calls by action and role assumptions (one per spoke
// account per run: its credentials serve both regions). ELBGUARD_ORG_ACCOUNTS
// and ELBGUARD_ORG_LBS change the 50 and the 10.
func TestOrgSweepScale(t *testing.T) {
	if os.Getenv("ELBGUARD_ORG_SCALE") == "" {
		t.Skip("set ELBGUARD_ORG_SCALE=1 to run the 50 accounts × 2 regions × 10 load balancers sweep (minutes)")
	}
	nAccounts := orgEnvInt(t, "ELBGUARD_ORG_ACCOUNTS", 50)
	perLoc := orgEnvInt(t, "ELBGUARD_ORG_LBS", 10)
	m := harness.StartMoto(t)
	setup, err := awsclient.NewProvider(m.Config(t), awsclient.ProviderConfig{Home: orgHub, Limits: awsclient.Limits{Describe: awsclient.MaxRate, Mutate: awsclient.MaxRate}})
	if err != nil {
		t.Fatal(err)
	}
	accounts := []string{orgHub}
	for i := 1; i < nAccounts; i++ {
		accounts = append(accounts, fmt.Sprintf("%012d", 100000000000+i))
	}
	ctx := harness.Context(t, 60*time.Minute)
	start := time.Now()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, a := range accounts {
		for _, r := range orgRegions {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				orgCreateMany(t, ctx, setup, a, r, perLoc)
			})
		}
	}
	wg.Wait()
	total := len(accounts) * len(orgRegions) * perLoc
	t.Logf("created %d Classic load balancers (%d accounts × %d regions × %d) in moto in %s",
		total, len(accounts), len(orgRegions), perLoc, time.Since(start).Round(time.Millisecond))

	bin := harness.Build(t, "./cmd/elbguard")
	org := []string{"--accounts", strings.Join(accounts, ","), "--regions", strings.Join(orgRegions, ","), "--stats", "--output", "json"}
	for _, run := range []struct {
		cmd  string
		want engine.Status
	}{{"remediate", engine.StatusRemediated}, {"audit", engine.StatusCompliant}} {
		start := time.Now()
		args := append([]string{run.cmd}, org...)
		if run.cmd == "remediate" { // the first sweep of a fleet: every one, past the default change budget
			args = append(args, "--yes", "--max-changes", "100000")
		}
		res := harness.Run(t, 60*time.Minute, bin, args, harness.WithEnv(m.Env()...))
		took := time.Since(start)
		got := orgReports(t, res.Stdout)
		counts := map[engine.Status]int{}
		for _, r := range got {
			counts[r.Status]++
		}
		calls := orgStats(res.Stderr)
		sum, mutating := 0, 0
		for k, n := range calls {
			sum += n
			if _, op, _ := strings.Cut(k, ":"); !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List") && k != "sts:AssumeRole" {
				mutating += n
			}
		}
		t.Logf("%s over %d accounts × %d regions (%d load balancers): exit %d, %s wall, %d calls (%d mutating), %d role assumptions, counts %v\n%s",
			run.cmd, len(accounts), len(orgRegions), total, res.Code, took.Round(time.Millisecond), sum, mutating, calls["sts:AssumeRole"], counts, res.Stderr)
		if counts[run.want] != total {
			t.Errorf("%s: got counts %v; want %d %s", run.cmd, counts, total, run.want)
		}
		if got := calls["sts:AssumeRole"]; got != len(accounts)-1 {
			t.Errorf("%s: got %d AssumeRole; want %d, one per spoke account", run.cmd, got, len(accounts)-1)
		}
	}
}

// orgStats parses `--stats` output ("  elb:DescribeTags=12") into a map.
func orgStats(stderr string) map[string]int {
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+:\w+)=(\d+)$`).FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}
