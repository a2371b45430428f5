package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/elbguard/elbguard/migrate"
	"github.com/elbguard/elbguard/test/peer"
)

// migrateClassic is the last step of part 1: `elbguard migrate` plans the
// remediated Classic ELB's NLB (the exact calls), creates it beside the
// Classic ELB, which it never changes, and reads it back.
func (r *run) migrateClassic(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	o := r.processOptions(r.moto.env...)
	r.ui.cmd("elbguard migrate " + ClassicName + " --dry-run")
	plan, err := peer.Run(ctx, r.cfg.Elbguard, []string{"migrate", ClassicName, "--dry-run"}, o)
	if err != nil {
		return fmt.Errorf("run elbguard migrate --dry-run: %w", err)
	}
	r.ui.block(plan.Stdout, false)
	if plan.Code != 0 {
		r.ui.block(plan.Stderr, true)
		return fmt.Errorf("elbguard migrate --dry-run exited %d; want 0", plan.Code)
	}
	r.ui.cmd("elbguard migrate " + ClassicName + " --yes --output json")
	out, err := peer.Run(ctx, r.cfg.Elbguard, []string{"migrate", ClassicName, "--yes", "--wait", "1m", "--output", "json"}, o)
	if err != nil {
		return fmt.Errorf("run elbguard migrate: %w", err)
	}
	var res migrate.Result
	if err := json.Unmarshal([]byte(out.Stdout), &res); err != nil {
		return fmt.Errorf("elbguard migrate --output json: %w (stderr: %s)", err, out.Stderr)
	}
	if out.Code != 0 || res.Status != migrate.StatusMigrated {
		return fmt.Errorf("elbguard migrate exited %d with status %s; want 0 and migrated: %v", out.Code, res.Status, res.Findings)
	}
	r.ui.say("NLB %s created: %s", res.NLB.Name, res.NLB.DNSName)
	for _, l := range res.Listeners {
		r.ui.say("  %s:%d  from Classic %s  -> %s %s", l.Protocol, l.Port, l.From, l.TargetGroup, l.SSLPolicy)
	}
	r.ui.say("the Classic ELB %s is unchanged; `elbguard migrate --shift 10 %s` would move 10%% of its Route 53 traffic, `--undo` removes the NLB", ClassicName, ClassicName)
	return nil
}
