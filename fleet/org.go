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
	EnvOrgUnits      = "ELBGUARD_ORG_UNITS"       // ou-...,r-...: the accounts of these OUs (recursively), plus ELBGUARD_ACCOUNTS
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
	// OrgUnits, when set, narrows the organization to the accounts of
	// these organizational units (ou-...) or roots (r-...), recursively:
	// where the spoke StackSet deploys. The listed Accounts are added.
	OrgUnits []string
	// NamedOnly makes Accounts (or the organization) the whole scope: the
	// caller's own account is not added unless named. The CLI sets it
	// (--accounts A,B means exactly A and B); a hub always guards its own.
	NamedOnly bool
	// Regions lists the regions to guard. Empty: the hub's own region.
	Regions []string
	// QueueURL is the SQS queue sweeps fan out onto, one message per
	// account and region. Empty: the sweeper runs the units itself.
	QueueURL string
	// Limits are the client-side API rates per account and region.
	Limits awsclient.Limits
}

// Enabled reports whether the configuration names accounts (a hub).
func (c OrgConfig) Enabled() bool { return c.fromOrg() || len(c.Accounts) > 0 }

// fromOrg reports whether accounts come from Organizations.
func (c OrgConfig) fromOrg() bool { return c.Org || len(c.OrgUnits) > 0 }

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
	if c.OrgUnits, err = ParseOrgUnits(getenv(EnvOrgUnits)); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrEnv, EnvOrgUnits, err)
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

// AccountLister is the Organizations calls that list the accounts in scope:
// the whole organization, or the accounts of organizational units.
type AccountLister interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
	ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
}

// orgRefresh is how long the organization's account list is trusted; a new
// account is guarded within this long without a redeploy.
const orgRefresh = 5 * time.Minute

// Scope is the accounts and regions a hub guards. The hub's own account is
// in scope unless NamedOnly. It is safe for concurrent use.
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
// lister is needed only when the accounts come from Organizations.
func NewScope(cfg OrgConfig, home, region string, lister AccountLister) (*Scope, error) {
	if cfg.fromOrg() && lister == nil {
		return nil, fmt.Errorf("%w: %s=org or %s needs an Organizations client", ErrEnv, EnvAccounts, EnvOrgUnits)
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

// Accounts returns the guarded accounts: the hub's own first (unless
// NamedOnly), the configured list, then the organization's active accounts
// (of OrgUnits when set; cached for orgRefresh).
func (s *Scope) Accounts(ctx context.Context) ([]string, error) {
	var fromOrg []string
	if s.cfg.fromOrg() {
		var err error
		if fromOrg, err = s.orgAccounts(ctx, false); err != nil {
			return nil, err
		}
	}
	var out []string
	if !s.cfg.NamedOnly || slices.Contains(s.cfg.Accounts, s.home) || slices.Contains(fromOrg, s.home) {
		out = append(out, s.home)
	}
	for _, a := range slices.Concat(s.cfg.Accounts, fromOrg) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Explicit reports whether account was named in the configured accounts (or
// is the hub's own): an unreachable spoke there is an error, while one of an
// account found in the organization is not_applicable (see Unreachable).
func (s *Scope) Explicit(account string) bool {
	return (account == s.home && !s.cfg.NamedOnly) || slices.Contains(s.cfg.Accounts, account)
}

func (s *Scope) orgAccounts(ctx context.Context, refresh bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !refresh && !s.fetched.IsZero() && time.Since(s.fetched) < orgRefresh {
		return s.org, nil
	}
	var accounts []orgtypes.Account
	var err error
	if len(s.cfg.OrgUnits) > 0 {
		accounts, err = accountsUnder(ctx, s.lister, s.cfg.OrgUnits)
	} else {
		accounts, err = allAccounts(ctx, s.lister)
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, a := range accounts {
		active := a.State == orgtypes.AccountStateActive || (a.State == "" && a.Status == orgtypes.AccountStatusActive) //nolint:staticcheck // Status until State is everywhere
		if id := aws.ToString(a.Id); active && awsclient.ValidAccount(id) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	s.org, s.fetched = ids, time.Now()
	return ids, nil
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
	case s.Explicit(account):
		return "", nil
	case !s.cfg.fromOrg():
		return fmt.Sprintf("account %s is not in the configured accounts", account), nil
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
	if stale { // perhaps an account created or moved since the last listing
		if list, err = s.orgAccounts(ctx, true); err != nil {
			return "", err
		}
		if slices.Contains(list, account) {
			return "", nil
		}
	}
	if len(s.cfg.OrgUnits) > 0 {
		return fmt.Sprintf("account %s is not an active account of the organizational units %s", account, strings.Join(s.cfg.OrgUnits, ",")), nil
	}
	return fmt.Sprintf("account %s is not an active account of the organization", account), nil
}
