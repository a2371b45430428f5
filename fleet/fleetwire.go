package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// NewFleet builds a hub's fleet on base (the hub's own configuration): the
// Provider with org's role name and rate limits, and the scope (asking
// sts:GetCallerIdentity for the hub's account, and Organizations when
// org.Org). opts go to every client (counting, in tests and --stats).
func NewFleet(ctx context.Context, base aws.Config, org OrgConfig, cfg engine.Config, log *slog.Logger, opts ...awsclient.Option) (*Fleet, error) {
	p, err := awsclient.NewProvider(base, awsclient.ProviderConfig{RoleName: org.RoleName, Limits: org.Limits}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEnv, err)
	}
	home, err := p.Home(ctx)
	if err != nil {
		return nil, err
	}
	var lister AccountLister
	if org.fromOrg() {
		lister = organizations.NewFromConfig(base)
	}
	scope, err := NewScope(org, home, base.Region, lister)
	if err != nil {
		return nil, err
	}
	return &Fleet{Provider: p, Scope: scope, Config: cfg, Log: log, QueueURL: org.QueueURL}, nil
}

// String describes the fleet for a start-up log line ("" when nil).
func (f *Fleet) String() string {
	if f == nil {
		return ""
	}
	accounts := strings.Join(f.Scope.cfg.Accounts, ",")
	switch {
	case len(f.Scope.cfg.OrgUnits) > 0:
		accounts += " + organizational units " + strings.Join(f.Scope.cfg.OrgUnits, ",")
	case f.Scope.cfg.Org:
		accounts = "org"
	}
	return fmt.Sprintf("home %s, accounts %s, regions %s, role %s", f.Scope.home, accounts, strings.Join(f.Scope.Regions(), ","), f.Provider.RoleName())
}

// WorkerStopBefore is the least time a sweep worker keeps before its
// deadline: under the rate limiter (2 mutating calls a second shared by 8
// load balancers at once) one Classic remediation of about 5 calls can take
// 20 s, and a load balancer started later would be cut off.
const WorkerStopBefore = time.Minute

// WorkerFromEnv builds the sweep worker Lambda's handler: it needs
// ELBGUARD_ACCOUNTS and ELBGUARD_SWEEP_QUEUE_URL (for continuations).
func WorkerFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer) (*Worker, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	_, clients, fleet, err := engineFromEnv(ctx, getenv, log)
	if err != nil {
		return nil, err
	}
	pub, err := publisherFromEnv(getenv, clients, fleet, log)
	if err != nil {
		return nil, err
	}
	if fleet == nil || fleet.QueueURL == "" {
		return nil, fmt.Errorf("%w: the sweep worker needs %s and %s", ErrEnv, EnvAccounts, EnvSweepQueueURL)
	}
	fleet.Config.StopBefore = max(fleet.Config.WithDefaults().StopBefore, WorkerStopBefore)
	log.InfoContext(ctx, "sweep worker ready", "config", fmt.Sprintf("%+v", fleet.Config), "fleet", fleet.String(), "queue", fleet.QueueURL)
	return &Worker{Fleet: fleet, Queue: sqs.NewFromConfig(fleet.Provider.Base()), QueueURL: fleet.QueueURL, Log: log, Metrics: metrics, Publisher: pub}, nil
}
