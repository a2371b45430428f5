package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
	eng, clients, fleet, err := engineFromEnv(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	self, err := SelfARN(ctx, getenv(EnvSelfRoleARN), clients.STS)
	if err != nil {
		return nil, err
	}
	pub, err := publisherFromEnv(getenv, clients, fleet, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "enforcer ready", "self_arn", self, "config", fmt.Sprintf("%+v", eng.Config()), "fleet", fleet.String())
	h := &Enforcer{Engine: eng, Fleet: fleet, SelfARN: self, Log: log, Metrics: metrics, Publisher: pub}
	h.Debouncer = DebouncerFromEnv(getenv, clients.Config)
	return h, nil
}

// SweeperFromEnv builds the sweeper Lambda's handler from the environment.
func SweeperFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer) (*Sweeper, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	eng, clients, fleet, err := engineFromEnv(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	pub, err := publisherFromEnv(getenv, clients, fleet, log)
	if err != nil {
		return nil, err
	}
	h := &Sweeper{Engine: eng, Fleet: fleet, Log: log, Metrics: metrics, Publisher: pub}
	if fleet != nil && fleet.QueueURL != "" {
		h.Queue, h.QueueURL = sqs.NewFromConfig(fleet.Provider.Base()), fleet.QueueURL
	}
	log.InfoContext(ctx, "sweeper ready", "config", fmt.Sprintf("%+v", eng.Config()), "fleet", fleet.String(), "queue", h.QueueURL)
	return h, nil
}

func engineFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*engine.Engine, *awsclient.Clients, *Fleet, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	org, err := OrgConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	base, err := awsclient.LoadConfig(ctx, "")
	if err != nil {
		return nil, nil, nil, err
	}
	verify, err := VerifierFromEnv(getenv, base)
	if err != nil {
		return nil, nil, nil, err
	}
	clients := awsclient.FromConfig(base, awsclient.NewLimiter(org.Limits).Option)
	restore, err := RestoreKeyFromEnv(ctx, getenv, base)
	if err != nil {
		return nil, nil, nil, err
	}
	signed, err := restore.ForClients(ctx, clients)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := NewEngine(clients, cfg, log, append(signed, verify...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	if !org.Enabled() {
		return eng, clients, nil, nil
	}
	fleet, err := NewFleet(ctx, base, org, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	fleet.Options = verify // every account's changes are verified through the hub's queue
	fleet.RestoreKey = restore
	return eng, clients, fleet, nil
}

// NewEngine builds the engine on one account's and region's clients: the one
// place that decides which APIs the engine is given, for the Lambdas and the
// CLI alike. IAM and ACM let the engine check a certificate before a listener
// is replaced; EC2 feeds the readiness gate; a multi-account run stamps
// account and region on reports; opts add more (the Lambdas' verification
// queue).
func NewEngine(clients *awsclient.Clients, cfg engine.Config, log *slog.Logger, opts ...engine.Option) (*engine.Engine, error) {
	base := []engine.Option{engine.WithCertificates(clients.IAM, clients.ACM)}
	if clients.EC2 != nil {
		base = append(base, engine.WithInstances(clients.EC2))
	}
	if clients.Account != "" { // a multi-account run; single-account reports stay as they were
		base = append(base, engine.WithLocation(clients.Account, clients.Region()))
	}
	return engine.New(clients.Classic, clients.V2, cfg, log, append(base, opts...)...)
}

// JSONLogger returns the JSON slog logger the Lambdas use, at the level of
// ELBGUARD_LOG_LEVEL.
func JSONLogger(w io.Writer, getenv func(string) string) (*slog.Logger, error) {
	level, err := LogLevelFromEnv(getenv)
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	return log, err
}
