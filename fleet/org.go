package fleet

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/elbguard/elbguard/internal/awsclient"
)

// Environment variables of a multi-account (hub) deployment. With
// ELBGUARD_ACCOUNTS empty, every Lambda behaves as a single-account one.
const (
	EnvRoleName      = "ELBGUARD_ROLE_NAME"       // role assumed in other accounts; default elbguard-spoke
	EnvAccounts      = "ELBGUARD_ACCOUNTS"        // ID,ID,... or org; empty: this account only (single-account)
	EnvRegions       = "ELBGUARD_REGIONS"         // R,R,...; empty: the function's own region
	EnvSweepQueueURL = "ELBGUARD_SWEEP_QUEUE_URL" // the sweeper's fan-out queue; empty: units run in the sweeper itself
	EnvRateDescribe  = "ELBGUARD_RATE_DESCRIBE"   // describe calls per second per account, region and ELB API; default 8
	EnvRateMutate    = "ELBGUARD_RATE_MUTATE"     // mutating calls per second per account, region and ELB API; default 2
)

// AccountsOrg as the accounts value means every active account of the
// organization (organizations:ListAccounts).
const AccountsOrg = "org"

// OrgConfig is where a hub deployment acts. The zero value is the
// single-account behaviour.
type OrgConfig struct {
	// RoleName is assumed in every account but the hub's own. Empty:
	// elbguard-spoke.
	RoleName string
	// Accounts lists the accounts to guard; Org takes them from
	// Organizations instead. Neither: single-account.
	Accounts []string
	Org      bool
	// Regions lists the regions to guard. Empty: the hub's own region.
	Regions []string
	// QueueURL is the SQS queue sweeps fan out onto, one message per
	// account and region. Empty: the sweeper runs the units itself.
	QueueURL string
	// Limits are the client-side API rates per account and region.
	Limits awsclient.Limits
}

// Enabled reports whether the configuration names accounts (a hub).
func (c OrgConfig) Enabled() bool { return c.Org || len(c.Accounts) > 0 }

// ParseAccounts reads "ID,ID,..." or "org". Empty gives neither.
func ParseAccounts(s string) (accounts []string, org bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false, nil
	}
	if strings.EqualFold(s, AccountsOrg) {
		return nil, true, nil
	}
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		if !awsclient.ValidAccount(a) {
			return nil, false, fmt.Errorf("account %q: want 12-digit account ids separated by commas, or org", a)
		}
		if !slices.Contains(accounts, a) {
			accounts = append(accounts, a)
		}
	}
	return accounts, false, nil
}

// ParseRegions reads "R,R,...". Empty gives none.
func ParseRegions(s string) ([]string, error) {
	var regions []string
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if !awsclient.ValidRegion(r) {
			return nil, fmt.Errorf("region %q: want region names such as us-east-1 separated by commas", r)
		}
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	return regions, nil
}

// OrgConfigFromEnv reads the hub configuration; errors name the variable and
// the allowed values.
func OrgConfigFromEnv(getenv func(string) string) (OrgConfig, error) {
	var c OrgConfig
	var err error
	if c.Accounts, c.Org, err = ParseAccounts(getenv(EnvAccounts)); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrEnv, EnvAccounts, err)
	}
	if c.Regions, err = ParseRegions(getenv(EnvRegions)); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrEnv, EnvRegions, err)
	}
	c.RoleName = strings.TrimSpace(getenv(EnvRoleName))
	if c.RoleName != "" && !awsclient.ValidRoleName(c.RoleName) {
		return c, fmt.Errorf("%w: %s=%q; want an IAM role name (1 to 64 of A-Z a-z 0-9 +=,.@_-)", ErrEnv, EnvRoleName, c.RoleName)
	}
	c.QueueURL = strings.TrimSpace(getenv(EnvSweepQueueURL))
	for _, r := range []struct {
		name string
		dst  *float64
	}{{EnvRateDescribe, &c.Limits.Describe}, {EnvRateMutate, &c.Limits.Mutate}} {
		v := strings.TrimSpace(getenv(r.name))
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > awsclient.MaxRate {
			return c, fmt.Errorf("%w: %s=%q; want requests per second, more than 0 and at most %v", ErrEnv, r.name, v, awsclient.MaxRate)
		}
		*r.dst = f
	}
	return c, nil
}

// AccountLister is the Organizations call that lists the accounts of the
// organization.
type AccountLister interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// orgRefresh is how long the organization's account list is trusted; a new
// account is guarded within this long without a redeploy.
const orgRefresh = 5 * time.Minute

// Scope is the accounts and regions a hub guards. The hub's own account is
// always in scope. It is safe for concurrent use.
type Scope struct {
	cfg    OrgConfig
	home   string
	region string // the hub's own region, when Regions is empty
	lister AccountLister

	mu      sync.Mutex
	org     []string
	fetched time.Time
}

// NewScope returns the scope of cfg for the hub account home in region;
// lister is needed only when cfg.Org.
func NewScope(cfg OrgConfig, home, region string, lister AccountLister) (*Scope, error) {
	if cfg.Org && lister == nil {
		return nil, fmt.Errorf("%w: %s=org needs an Organizations client", ErrEnv, EnvAccounts)
	}
	return &Scope{cfg: cfg, home: home, region: region, lister: lister}, nil
}

// Regions returns the guarded regions.
func (s *Scope) Regions() []string {
	if len(s.cfg.Regions) == 0 {
		return []string{s.region}
	}
	return s.cfg.Regions
}

// Accounts returns the guarded accounts: the configured list, or the
// organization's active accounts (cached for orgRefresh), the hub's first.
func (s *Scope) Accounts(ctx context.Context) ([]string, error) {
	var list []string
	if s.cfg.Org {
		var err error
		if list, err = s.orgAccounts(ctx, false); err != nil {
			return nil, err
		}
	} else {
		list = s.cfg.Accounts
	}
	out := []string{s.home}
	for _, a := range list {
		if a != s.home {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *Scope) orgAccounts(ctx context.Context, refresh bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !refresh && !s.fetched.IsZero() && time.Since(s.fetched) < orgRefresh {
		return s.org, nil
	}
	var accounts []string
	p := organizations.NewListAccountsPaginator(s.lister, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the organization's accounts: %w", err)
		}
		for _, a := range page.Accounts {
			active := a.State == orgtypes.AccountStateActive || (a.State == "" && a.Status == orgtypes.AccountStatusActive) //nolint:staticcheck // Status until State is everywhere
			if active && awsclient.ValidAccount(aws.ToString(a.Id)) {
				accounts = append(accounts, aws.ToString(a.Id))
			}
		}
	}
	s.org, s.fetched = accounts, time.Now()
	return accounts, nil
}

// Check decides whether an event from account in region is in scope,
// without assuming any role: it returns the reason when it is not.
func (s *Scope) Check(ctx context.Context, account, region string) (reason string, err error) {
	switch {
	case !awsclient.ValidAccount(account):
		return fmt.Sprintf("malformed account id %q", account), nil
	case !awsclient.ValidRegion(region):
		return fmt.Sprintf("malformed region %q", region), nil
	case !slices.Contains(s.Regions(), region):
		return fmt.Sprintf("region %s is not guarded (guarded: %s)", region, strings.Join(s.Regions(), ",")), nil
	case account == s.home:
		return "", nil
	case !s.cfg.Org:
		if !slices.Contains(s.cfg.Accounts, account) {
			return fmt.Sprintf("account %s is not in the configured accounts", account), nil
		}
		return "", nil
	}
	list, err := s.orgAccounts(ctx, false)
	if err != nil {
		return "", err
	}
	if slices.Contains(list, account) {
		return "", nil
	}
	s.mu.Lock()
	stale := time.Since(s.fetched) > time.Minute
	s.mu.Unlock()
	if stale { // perhaps an account created since the last listing
		if list, err = s.orgAccounts(ctx, true); err != nil {
			return "", err
		}
		if slices.Contains(list, account) {
			return "", nil
		}
	}
	return fmt.Sprintf("account %s is not an active account of the organization", account), nil
}
