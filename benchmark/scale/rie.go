package scale

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/test/peer"
)

// initDuration matches the RIE's REPORT line: "Init Duration: 12.34 ms".
var initDuration = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// coldStart starts aws-lambda-rie with the enforcer bootstrap ColdStarts
// times and invokes it twice each time with an event it ignores, so the
// invocation itself is short. The first invoke's round trip is the cold
// start as a caller sees it (exec, Go runtime and handler init, invoke);
// the second is a warm invoke. The RIE's own REPORT "Init Duration" is
// recorded too, but the RIE dispatches Init asynchronously, so it times
// only the dispatch (a few microseconds), not the runtime's init.
// ELBGUARD_SELF_ROLE_ARN is set, as the CDK stack does, so init makes no
// sts:GetCallerIdentity call.
func coldStart(ctx context.Context, cfg Config, env []string, res *Result) {
	scen := "enforcer Lambda under aws-lambda-rie"
	cold := report.Row{Scenario: scen, Metric: "1st invoke (cold start), median", Unit: "ms", Better: report.Lower}
	warm := report.Row{Scenario: scen, Metric: "2nd invoke (warm), median", Unit: "ms", Better: report.Lower}
	initRow := report.Row{Scenario: scen, Metric: "RIE REPORT Init Duration (dispatch only)", Unit: "ms", Better: report.Lower}
	size := report.Row{Scenario: scen, Metric: "bootstrap size, linux/arm64", Unit: "MB", Better: report.Lower}
	defer func() { res.Rows = append(res.Rows, cold, warm, initRow, size) }()
	failAll := func(err error) {
		for _, r := range []*report.Row{&cold, &warm, &initRow} {
			res.fail(r, Elbguard, err)
		}
	}
	if cfg.ArmBootstrap != "" {
		if fi, err := os.Stat(cfg.ArmBootstrap); err != nil {
			res.fail(&size, Elbguard, fmt.Errorf("stat bootstrap: %w", err))
		} else {
			size.Set(Elbguard, float64(fi.Size())/1e6)
		}
	} else {
		res.fail(&size, Elbguard, fmt.Errorf("%w: no arm64 bootstrap (-arm-bootstrap)", ErrNotReady))
	}
	if cfg.Bootstrap == "" {
		failAll(fmt.Errorf("%w: no host bootstrap (-bootstrap)", ErrNotReady))
		return
	}
	rie, err := peer.Look(cfg.Root, "aws-lambda-rie")
	if err != nil {
		failAll(err)
		return
	}
	sample, err := os.ReadFile(filepath.Join(cfg.Root, "events", "testdata", "unknown_ec2.json"))
	if err != nil {
		failAll(fmt.Errorf("read sample event: %w", err))
		return
	}
	var colds, warms, inits []float64
	for range cfg.ColdStarts {
		c, w, i, err := oneColdStart(ctx, cfg, rie, env, sample)
		if err != nil {
			failAll(err)
			return
		}
		colds, warms, inits = append(colds, c), append(warms, w), append(inits, i)
	}
	cold.Set(Elbguard, report.Median(colds))
	warm.Set(Elbguard, report.Median(warms))
	initRow.Set(Elbguard, report.Median(inits))
	cfg.Log.Info("cold start", "cold_ms", colds, "warm_ms", warms, "rie_init_ms", inits)
}

func oneColdStart(ctx context.Context, cfg Config, rie string, env []string, event []byte) (cold, warm, initMS float64, err error) {
	api, err := peer.FreeAddr()
	if err != nil {
		return 0, 0, 0, err
	}
	front, err := peer.FreeAddr()
	if err != nil {
		return 0, 0, 0, err
	}
	lambdaEnv := append(append([]string(nil), env...),
		"AWS_LAMBDA_FUNCTION_NAME=elbguard-enforcer", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "ELBGUARD_SELF_ROLE_ARN=arn:aws:iam::123456789012:role/elbguard-enforcer")
	p, err := peer.Start(rie, []string{"--runtime-api-address", api, "--runtime-interface-emulator-address", front, cfg.Bootstrap},
		peer.Options{Env: lambdaEnv, Dir: cfg.Dir, LogDir: cfg.Dir})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	defer p.Stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := peer.WaitTCP(wctx, front); err != nil {
		return 0, 0, 0, fmt.Errorf("aws-lambda-rie does not listen: %w\n%s", err, p.Logs())
	}
	invoke := func() (float64, error) {
		ictx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ictx, http.MethodPost, "http://"+front+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
		if err != nil {
			return 0, fmt.Errorf("build invoke: %w", err)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("invoke enforcer under aws-lambda-rie: %w\n%s", err, p.Logs())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := float64(time.Since(start)) / float64(time.Millisecond)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("invoke enforcer under aws-lambda-rie: HTTP %s\n%s", resp.Status, tail(p.Logs()))
		}
		return took, nil
	}
	if cold, err = invoke(); err != nil {
		return 0, 0, 0, err
	}
	if warm, err = invoke(); err != nil {
		return 0, 0, 0, err
	}
	// The REPORT line follows the response; on a loaded machine it can lag
	// by more than a moment.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if m := initDuration.FindStringSubmatch(p.Logs()); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("parse init duration %q: %w", m[1], err)
			}
			return cold, warm, v, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, 0, 0, fmt.Errorf("no Init Duration in the aws-lambda-rie log:\n%s", tail(p.Logs()))
}
