package handler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// InitTimeout bounds building a handler (the SDK configuration and, for the
// enforcer, sts:GetCallerIdentity): Lambda ends an init phase after 10 s, and
// a hung call should fail the init with a message rather than be cut there.
const InitTimeout = 8 * time.Second

// EnforcerFromEnv builds the enforcer Lambda's handler: configuration from
// the environment, SDK clients from the standard AWS configuration, and its
// own role from ELBGUARD_SELF_ROLE_ARN or sts:GetCallerIdentity.
func EnforcerFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer) (*Enforcer, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	eng, clients, err := engineFromEnv(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	self, err := SelfARN(ctx, getenv(EnvSelfRoleARN), clients.STS)
	if err != nil {
		return nil, err
	}
	pub, err := publisherFromEnv(getenv, clients, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "enforcer ready", "self_arn", self, "config", fmt.Sprintf("%+v", eng.Config()))
	return &Enforcer{Engine: eng, SelfARN: self, Log: log, Metrics: metrics, Publisher: pub}, nil
}

// SweeperFromEnv builds the sweeper Lambda's handler from the environment.
func SweeperFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer) (*Sweeper, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	eng, clients, err := engineFromEnv(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	pub, err := publisherFromEnv(getenv, clients, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "sweeper ready", "config", fmt.Sprintf("%+v", eng.Config()))
	return &Sweeper{Engine: eng, Log: log, Metrics: metrics, Publisher: pub}, nil
}

func engineFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*engine.Engine, *awsclient.Clients, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	clients, err := awsclient.Load(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	eng, err := NewEngine(clients, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return eng, clients, nil
}

// NewEngine builds the engine on one account's and region's clients: the one
// place that decides which APIs the engine is given, for the Lambdas and the
// CLI alike.
func NewEngine(clients *awsclient.Clients, cfg engine.Config, log *slog.Logger) (*engine.Engine, error) {
	return engine.New(clients.Classic, clients.V2, cfg, log)
}

// JSONLogger returns the JSON slog logger the Lambdas use, at the level of
// ELBGUARD_LOG_LEVEL.
func JSONLogger(w io.Writer, getenv func(string) string) (*slog.Logger, error) {
	level, err := LogLevelFromEnv(getenv)
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	return log, err
}
