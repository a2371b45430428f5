package awsclient

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultRoleName is the role elbguard assumes in other accounts.
const DefaultRoleName = "elbguard-spoke"

// ExpiryWindow is how long before its expiry an assumed role's credentials
// are refreshed, so that no call is signed with credentials about to lapse.
const ExpiryWindow = 5 * time.Minute

// SessionName is the role session name of every AssumeRole; CloudTrail shows
// it in the spoke accounts.
const SessionName = "elbguard"

// ErrAssumeRole is wrapped by every failure to assume a spoke's role.
var ErrAssumeRole = errors.New("awsclient: cannot assume role")

// ErrLocation is wrapped by a malformed account id, region or role name.
var ErrLocation = errors.New("awsclient: invalid location")

var (
	accountRE  = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	roleNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	// OrgUnitRE is an organizational unit id or the organization's root id
	// (both are StackSet deployment targets and Organizations parents).
	OrgUnitRE = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
)

// ValidAccount reports whether s is a 12-digit AWS account id.
func ValidAccount(s string) bool { return accountRE.MatchString(s) }

// ValidRegion reports whether s has the shape of an AWS region name
// ("us-east-1", "us-gov-west-1", "ap-southeast-5").
func ValidRegion(s string) bool { return len(s) <= 32 && regionRE.MatchString(s) }

// ValidOrgUnit reports whether s is an organizational unit id (ou-...) or a
// root id (r-...).
func ValidOrgUnit(s string) bool { return OrgUnitRE.MatchString(s) }

// ValidRoleName reports whether s is a valid IAM role name.
func ValidRoleName(s string) bool { return roleNameRE.MatchString(s) }

// ProviderConfig configures a Provider. The zero value assumes
// DefaultRoleName with the default rate limits.
type ProviderConfig struct {
	// RoleName is the role assumed in every account but the home one, as
	// arn:PARTITION:iam::ACCOUNT:role/RoleName. Empty: DefaultRoleName.
	RoleName string
	// Limits are the client-side rates per account and region.
	Limits Limits
	// Home is the account whose own credentials are used (no AssumeRole).
	// Empty: found once with sts:GetCallerIdentity.
	Home string
}

// Provider hands out the clients of an account and region: the base
// configuration's own credentials in the home account, an assumed role
// (cached, refreshed ExpiryWindow before expiry) elsewhere. Clients are
// built once per account and region and carry that pair's rate limiter. It
// is safe for concurrent use.
type Provider struct {
	base aws.Config
	cfg  ProviderConfig
	opts []Option
	sts  *sts.Client

	homeOnce  sync.Once
	home      string
	partition string
	homeErr   error

	mu      sync.Mutex
	creds   map[string]aws.CredentialsProvider // by account
	clients map[[2]string]*Clients             // by account, region
}

// NewProvider returns a provider on base (the hub's configuration). opts
// are applied to every client configuration (counting, in tests and
// --stats).
func NewProvider(base aws.Config, cfg ProviderConfig, opts ...Option) (*Provider, error) {
	if cfg.RoleName == "" {
		cfg.RoleName = DefaultRoleName
	}
	if !ValidRoleName(cfg.RoleName) {
		return nil, fmt.Errorf("%w: role name %q; want 1 to 64 of A-Z a-z 0-9 +=,.@_-", ErrLocation, cfg.RoleName)
	}
	if cfg.Home != "" && !ValidAccount(cfg.Home) {
		return nil, fmt.Errorf("%w: home account %q; want 12 digits", ErrLocation, cfg.Home)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	stsCfg := base.Copy()
	for _, o := range opts {
		o(&stsCfg)
	}
	return &Provider{base: base, cfg: cfg, opts: opts, sts: sts.NewFromConfig(stsCfg),
		home: cfg.Home, partition: "aws",
		creds: map[string]aws.CredentialsProvider{}, clients: map[[2]string]*Clients{}}, nil
}

// RoleName is the role assumed in other accounts.
func (p *Provider) RoleName() string { return p.cfg.RoleName }

// Region is the base configuration's region (the hub's own).
func (p *Provider) Region() string { return p.base.Region }

// Base returns the base configuration (the hub's own credentials and
// region), for hub-level clients such as SQS and Organizations.
func (p *Provider) Base() aws.Config { return p.base.Copy() }

// Home returns the home account: configured, or the caller's account from
// sts:GetCallerIdentity (asked once).
func (p *Provider) Home(ctx context.Context) (string, error) {
	p.homeOnce.Do(func() {
		if p.home != "" {
			return
		}
		out, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			p.homeErr = fmt.Errorf("find home account with sts:GetCallerIdentity: %w", err)
			return
		}
		p.home = aws.ToString(out.Account)
		if parts := strings.SplitN(aws.ToString(out.Arn), ":", 3); len(parts) == 3 && parts[1] != "" {
			p.partition = parts[1]
		}
	})
	return p.home, p.homeErr
}

// RoleARN is the role assumed in account.
func (p *Provider) RoleARN(account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", p.partition, account, p.cfg.RoleName)
}

// Clients returns the clients of account in region, assuming the spoke
// role unless account is the home account. The credentials are retrieved
// before it returns, so a role that cannot be assumed fails here with
// ErrAssumeRole rather than on the first ELB call. Malformed input fails
// with ErrLocation before any call.
func (p *Provider) Clients(ctx context.Context, account, region string) (*Clients, error) {
	if !ValidAccount(account) {
		return nil, fmt.Errorf("%w: account %q; want 12 digits", ErrLocation, account)
	}
	if !ValidRegion(region) {
		return nil, fmt.Errorf("%w: region %q; want a region name such as us-east-1", ErrLocation, region)
	}
	home, err := p.Home(ctx)
	if err != nil {
		return nil, err
	}
	key := [2]string{account, region}
	p.mu.Lock()
	c, ok := p.clients[key]
	creds := p.creds[account]
	if !ok && creds == nil && account != home {
		arn := p.RoleARN(account)
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(p.sts, arn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = SessionName
		}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = ExpiryWindow })
		p.creds[account] = creds
	}
	p.mu.Unlock()
	if !ok {
		cfg := p.base.Copy()
		cfg.Region = region
		if creds != nil {
			cfg.Credentials = creds
		}
		opts := append([]Option{NewLimiter(p.cfg.Limits).Option}, p.opts...)
		c = FromConfig(cfg, opts...)
		c.Account = account
		p.mu.Lock()
		if prev, raced := p.clients[key]; raced {
			c = prev
		} else {
			p.clients[key] = c
		}
		p.mu.Unlock()
	}
	if account != home {
		if _, err := c.Config.Credentials.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("%w %s in %s: %w", ErrAssumeRole, p.RoleARN(account), region, err)
		}
	}
	return c, nil
}
