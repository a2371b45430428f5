// Package fleet is elbguard's application core beside the engine: the
// account × region fleet (hub and spokes), the enforcer, sweeper and sweep
// worker handlers that functions/* start as Lambdas, engine wiring, sinks and
// verification scheduling. The CLI and the Config rule use the same code, so
// that `elbguard handle` takes exactly the Lambda's path.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// Environment variables the Lambdas read at init.
const (
	EnvTagKey            = "ELBGUARD_TAG_KEY"              // mode tag key; default elbguard:proxy-protocol
	EnvIdleTimeoutTagKey = "ELBGUARD_IDLE_TIMEOUT_TAG_KEY" // idle-timeout tag key; default elbguard:idle-timeout
	EnvDefaultMode       = "ELBGUARD_DEFAULT_MODE"         // enforce|audit|off; default off
	EnvDryRun            = "ELBGUARD_DRY_RUN"              // true|false; default false
	EnvConcurrency       = "ELBGUARD_CONCURRENCY"          // 1..64; default 8
	EnvMaxChanges        = "ELBGUARD_MAX_CHANGES"          // load balancers changed per run per account x region; default 10
	EnvMaxErrors         = "ELBGUARD_MAX_ERRORS"           // failed changes after which a run stops changing; default 3
	EnvSelfRoleARN       = "ELBGUARD_SELF_ROLE_ARN"        // the enforcer's role; default from sts:GetCallerIdentity
	EnvLogLevel          = "ELBGUARD_LOG_LEVEL"            // debug|info|warn|error; default info
	EnvIaCTags           = "ELBGUARD_IAC_TAGS"             // KEY[=VALUE],...: more tags that mark IaC ownership (ManagedBy=terraform)
)

// ErrEnv is wrapped by every invalid environment variable error.
var ErrEnv = errors.New("handler: invalid environment")

// ConfigFromEnv reads the engine configuration from environment variables
// through getenv (os.Getenv in the Lambdas). Errors name the variable and the
// allowed values.
func ConfigFromEnv(getenv func(string) string) (engine.Config, error) {
	cfg := engine.Config{
		TagKey:            strings.TrimSpace(getenv(EnvTagKey)),
		IdleTimeoutTagKey: strings.TrimSpace(getenv(EnvIdleTimeoutTagKey)),
	}
	if v := getenv(EnvDefaultMode); v != "" {
		m, err := engine.ParseMode(v)
		if err != nil {
			return cfg, fmt.Errorf("%w: %s=%q; want enforce, audit or off", ErrEnv, EnvDefaultMode, v)
		}
		cfg.DefaultMode = m
	}
	if v := getenv(EnvDryRun); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("%w: %s=%q; want true or false", ErrEnv, EnvDryRun, v)
		}
		cfg.DryRun = b
	}
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engine.MaxConcurrency {
			return cfg, fmt.Errorf("%w: %s=%q; want a whole number from 1 to %d", ErrEnv, EnvConcurrency, v, engine.MaxConcurrency)
		}
		cfg.Concurrency = n
	}
	for _, b := range []struct {
		name string
		dst  *int
	}{{EnvMaxChanges, &cfg.MaxChanges}, {EnvMaxErrors, &cfg.MaxErrors}} {
		if v := getenv(b.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > engine.MaxBudget {
				return cfg, fmt.Errorf("%w: %s=%q; want a whole number from 1 to %d", ErrEnv, b.name, v, engine.MaxBudget)
			}
			*b.dst = n
		}
	}
	if v := getenv(EnvIaCTags); v != "" {
		tags, err := engine.ParseIaCTags(v)
		if err != nil {
			return cfg, fmt.Errorf("%w: %s=%q: %w", ErrEnv, EnvIaCTags, v, err)
		}
		cfg.IaCTags = tags
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %s/%s: %w", ErrEnv, EnvTagKey, EnvIdleTimeoutTagKey, err)
	}
	return cfg, nil
}

// EnvLambdaLogLevel is set by Lambda's advanced logging controls
// (TRACE|DEBUG|INFO|WARN|ERROR|FATAL); ELBGUARD_LOG_LEVEL wins over it.
const EnvLambdaLogLevel = "AWS_LAMBDA_LOG_LEVEL"

// LogLevelFromEnv reads ELBGUARD_LOG_LEVEL, else AWS_LAMBDA_LOG_LEVEL
// (default info).
func LogLevelFromEnv(getenv func(string) string) (slog.Level, error) {
	name, v := EnvLogLevel, getenv(EnvLogLevel)
	if v == "" {
		name, v = EnvLambdaLogLevel, getenv(EnvLambdaLogLevel)
	}
	switch strings.ToUpper(v) {
	case "":
		return slog.LevelInfo, nil
	case "TRACE":
		return slog.LevelDebug, nil
	case "FATAL":
		return slog.LevelError, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelInfo, fmt.Errorf("%w: %s=%q; want debug, info, warn or error", ErrEnv, name, v)
	}
	return l, nil
}

// CallerIdentityAPI is the STS call used to find the enforcer's own role.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// SelfARN returns the principal whose calls the enforcer ignores: configured
// when non-empty, else the role of sts:GetCallerIdentity (an assumed-role
// session ARN becomes its role ARN).
func SelfARN(ctx context.Context, configured string, client CallerIdentityAPI) (string, error) {
	if configured != "" {
		return configured, nil
	}
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("find own role with sts:GetCallerIdentity (or set %s): %w", EnvSelfRoleARN, err)
	}
	return events.RoleARNFromCaller(aws.ToString(out.Arn)), nil
}
