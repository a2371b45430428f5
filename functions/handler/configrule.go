package handler

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/configservice"

	"github.com/elbguard/elbguard/compliance/configrule"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// ConfigRuleFromEnv builds the Config rule Lambda's evaluator: the engine
// configuration from the environment, forced read-only.
func ConfigRuleFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*configrule.Evaluator, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg.DryRun = true
	clients, err := awsclient.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	eng, err := NewEngine(clients, cfg, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "config rule ready", "rule", configrule.RuleName, "config", fmt.Sprintf("%+v", eng.Config()))
	return configrule.New(eng, configservice.NewFromConfig(clients.Config), log)
}
