package configrule

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/configservice"

	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// FromEnv builds the Config rule Lambda's evaluator: the engine
// configuration from the ELBGUARD_* environment (fleet.ConfigFromEnv),
// forced read-only, on the clients of the standard AWS configuration. It
// lives here, not in fleet, so that the enforcer and sweeper do
// not link the Config client.
func FromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Evaluator, error) {
	ctx, cancel := context.WithTimeout(ctx, fleet.InitTimeout)
	defer cancel()
	cfg, err := fleet.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg.DryRun = true
	clients, err := awsclient.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	eng, err := fleet.NewEngine(clients, cfg, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "config rule ready", "rule", RuleName, "config", fmt.Sprintf("%+v", eng.Config()))
	return New(eng, configservice.NewFromConfig(clients.Config), log)
}
