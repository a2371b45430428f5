package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/peer"
)

// invokePath is the Lambda Invoke API path the runtime interface emulator
// serves, as the Lambda service does.
const invokePath = "/2015-03-31/functions/function/invocations"

// startEnforcer runs the enforcer's bootstrap under aws-lambda-rie, with the
// AWS settings pointing at moto and its own role configured so that it does
// not ask STS. It returns the invoke URL.
func (r *run) startEnforcer(ctx context.Context) (string, error) {
	rie, err := peer.Look(r.cfg.Root, "aws-lambda-rie")
	if err != nil {
		return "", err
	}
	invokeAddr, err := peer.FreeAddr()
	if err != nil {
		return "", err
	}
	runtimeAddr, err := peer.FreeAddr()
	if err != nil {
		return "", err
	}
	// The emulator runs bootstrap from a task directory, as Lambda does.
	task := r.path("lambda-task")
	if err := os.MkdirAll(task, 0o755); err != nil {
		return "", fmt.Errorf("make %s: %w", task, err)
	}
	env := append(slices.Clone(r.moto.env),
		fleet.EnvSelfRoleARN+"="+SelfRoleARN,
		"AWS_LAMBDA_FUNCTION_NAME=elbguard-enforcer",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
	)
	env = append(env, r.compliance.complianceEnv()...)
	args := []string{
		"--log-level", "error",
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		r.cfg.Bootstrap,
	}
	r.ui.cmd(fmt.Sprintf("aws-lambda-rie --runtime-interface-emulator-address %s %s", invokeAddr, shortPath(r.cfg.Root, r.cfg.Bootstrap)))
	p, err := peer.Start(rie, args, peer.Options{Env: env, Dir: task, LogDir: r.cfg.WorkDir})
	if err != nil {
		return "", err
	}
	r.started(p)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := peer.WaitTCP(wctx, invokeAddr); err != nil {
		return "", fmt.Errorf("aws-lambda-rie does not listen: %w", err)
	}
	r.ui.say("env: AWS_ENDPOINT_URL=%s AWS_REGION=%s %s=%s", r.moto.url, peer.Region, fleet.EnvSelfRoleARN, SelfRoleARN)
	r.ui.say("logs: %s (the enforcer's JSON logs)", p.LogPath)
	return "http://" + invokeAddr + invokePath, nil
}

// invocation is what the emulator answers: the handler's Outcome, or a
// function error.
type invocation struct {
	fleet.Outcome
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// invoke posts one event to the emulator as the Lambda service would for
// EventBridge, and decodes the handler's answer.
func invoke(ctx context.Context, url string, body []byte) (*invocation, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build invoke request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke the enforcer: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("read invoke answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke the enforcer: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var inv invocation
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("decode invoke answer %q: %w", data, err)
	}
	if inv.ErrorMessage != "" {
		return &inv, fmt.Errorf("the enforcer failed (%s): %s", inv.ErrorType, inv.ErrorMessage)
	}
	return &inv, nil
}

// sendEvents sends the seed's CloudTrail events one by one and prints what
// the enforcer decided and did for each.
func (r *run) sendEvents(ctx context.Context, url string) error {
	evs, err := patchEvents(r.seed, time.Now())
	if err != nil {
		return err
	}
	dir := r.path("events")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	r.ui.say("the events sent are in %s", dir)
	for _, ev := range evs {
		if err := os.WriteFile(filepath.Join(dir, ev.File), ev.Body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", ev.File, err)
		}
		r.ui.say("")
		r.ui.say("%s %s: %s", ev.API, ev.Name, ev.Targets)
		r.ui.block("by "+ev.Caller, true)
		began := time.Now()
		inv, err := invoke(ctx, url, ev.Body)
		if err != nil {
			return fmt.Errorf("event %s: %w", ev.File, err)
		}
		r.showOutcome(&inv.Outcome, time.Since(began))
		if inv.BadInput {
			return fmt.Errorf("event %s: the enforcer could not read it: %s", ev.File, inv.Decision.Reason)
		}
		if inv.Error != "" {
			return fmt.Errorf("event %s: %s", ev.File, inv.Error)
		}
		if inv.Result != nil {
			for _, rep := range inv.Result.Reports {
				if rep.Status == engine.StatusError {
					return fmt.Errorf("event %s: %s ended in error: %s", ev.File, rep.Name, findings(rep))
				}
			}
		}
	}
	return nil
}

// showOutcome prints the enforcer's decision and its report per load
// balancer.
func (r *run) showOutcome(o *fleet.Outcome, took time.Duration) {
	d := o.Decision
	if o.Result == nil {
		r.ui.good("enforcer: %s (%s) in %s", d.Kind, d.Reason, round(took))
		return
	}
	r.ui.good("enforcer: %s in %s", d.Kind, round(took))
	for _, rep := range o.Result.Reports {
		applied, _, _ := rep.Changed()
		r.ui.good("%s %s (mode %s): %s, %s", rep.Type, rep.Name, orDash(string(rep.Mode)), rep.Status, plural(applied, "change"))
		var lines []string
		for _, a := range rep.Actions {
			line := fmt.Sprintf("%-40s %-32s %s", a.API, shortARN(a.Target), a.Status)
			if a.Error != "" {
				line += ": " + a.Error
			}
			lines = append(lines, line)
		}
		r.ui.block(strings.Join(lines, "\n"), true)
	}
}

func findings(rep engine.Report) string {
	var s []string
	for _, f := range rep.Findings {
		s = append(s, f.Rule+": "+f.Detail)
	}
	return strings.Join(s, "; ")
}

// plural says "1 change", "2 changes", "no changes".
func plural(n int, noun string) string {
	switch n {
	case 0:
		return "no " + noun + "s"
	case 1:
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortPath shows p relative to the repository root when it is inside it.
func shortPath(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}
