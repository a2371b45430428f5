package configrule

import (
	"context"
	"log/slog"
	"testing"

	"github.com/elbguard/elbguard/fleet"
)

// TestFromEnvIsReadOnly: the Config rule's engine never writes,
// whatever ELBGUARD_DRY_RUN says.
func TestFromEnvIsReadOnly(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	env := map[string]string{fleet.EnvDryRun: "false", fleet.EnvDefaultMode: "enforce"}
	rule, err := FromEnv(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := rule.Engine.Config(); !cfg.DryRun || cfg.DefaultMode != "enforce" {
		t.Errorf("got %+v; want dry run with the environment's default mode", cfg)
	}
}
