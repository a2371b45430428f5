package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrConfig is wrapped by every configuration validation error.
var ErrConfig = errors.New("enforce: invalid config")

// Mode is what elbguard does with a load balancer.
type Mode string

// Modes, read case-insensitively from the mode tag.
const (
	// ModeEnforce evaluates and fixes.
	ModeEnforce Mode = "enforce"
	// ModeAudit evaluates and reports; it never writes.
	ModeAudit Mode = "audit"
	// ModeOff leaves the load balancer alone (status skipped).
	ModeOff Mode = "off"
)

// Defaults for Config's zero values.
const (
	DefaultTagKey            = "elbguard:proxy-protocol"
	DefaultIdleTimeoutTagKey = "elbguard:idle-timeout"
	DefaultConcurrency       = 8
	DefaultStopBefore        = 10 * time.Second
	DefaultMaxChanges        = 10
	DefaultMaxErrors         = 3
)

// MaxBudget bounds Config.MaxChanges and Config.MaxErrors.
const MaxBudget = 100000

// MaxConcurrency bounds Config.Concurrency.
const MaxConcurrency = 64

// ParseMode parses a mode case-insensitively, surrounding blanks ignored.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeEnforce, ModeAudit, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q; want enforce, audit or off", ErrConfig, s)
}

// Config tunes the Engine. The zero value is safe: opt-in (untagged load
// balancers are left alone), not a dry run, 8 load balancers at a time, at
// most 10 changed and 3 failed changes per run.
type Config struct {
	// TagKey is the tag that sets a load balancer's mode.
	// Empty: "elbguard:proxy-protocol".
	TagKey string
	// IdleTimeoutTagKey is the tag whose value, in seconds, sets the idle
	// timeout. Empty: "elbguard:idle-timeout".
	IdleTimeoutTagKey string
	// DefaultMode applies to load balancers without the mode tag.
	// Empty: ModeOff (opt-in).
	DefaultMode Mode
	// DryRun plans every action (status planned) and makes no mutating call.
	DryRun bool
	// Concurrency is how many load balancers are reconciled at once.
	// Zero: 8. Allowed: 1 to 64.
	Concurrency int
	// IaCTags are further tags that mark a load balancer as owned by
	// infrastructure as code (held, finding managed_by_iac), beside the tags
	// CloudFormation, Elastic Beanstalk and Kubernetes set themselves.
	// Terraform, OpenTofu, Pulumi and Crossplane set none: name the team's
	// own (ManagedBy=terraform, crossplane.io/claim-name). Nil: none.
	IaCTags []IaCTag
	// StopBefore is how long before the context deadline the engine stops
	// starting new load balancers, so that a run ends cleanly and says how
	// far it got. Zero: 10s. It has no effect without a deadline.
	StopBefore time.Duration
	// MaxChanges is how many load balancers one run (Sweep or Reconcile)
	// changes at most; the rest are reported deferred, with the calls they
	// need, for the next run. A dry run counts the changes it plans, so its
	// plan defers the same ones. Zero: 10. Allowed: 1 to 100000.
	MaxChanges int
	// MaxErrors is how many failed changes stop a run from starting more;
	// the rest are reported deferred. Changes run concurrently only while
	// the failures so far plus those in flight stay below it, so a run never
	// fails more than MaxErrors changes. Zero: 3. Allowed: 1 to 100000.
	MaxErrors int
}

// WithDefaults returns c with zero values replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.TagKey == "" {
		c.TagKey = DefaultTagKey
	}
	if c.IdleTimeoutTagKey == "" {
		c.IdleTimeoutTagKey = DefaultIdleTimeoutTagKey
	}
	if c.DefaultMode == "" {
		c.DefaultMode = ModeOff
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.StopBefore == 0 {
		c.StopBefore = DefaultStopBefore
	}
	if c.MaxChanges == 0 {
		c.MaxChanges = DefaultMaxChanges
	}
	if c.MaxErrors == 0 {
		c.MaxErrors = DefaultMaxErrors
	}
	return c
}

// Validate reports the first invalid field, naming it and the allowed values.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if _, err := ParseMode(string(c.DefaultMode)); err != nil {
		return fmt.Errorf("%w: DefaultMode %q; want enforce, audit or off", ErrConfig, c.DefaultMode)
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return fmt.Errorf("%w: Concurrency %d; want 1 to %d", ErrConfig, c.Concurrency, MaxConcurrency)
	}
	if c.MaxChanges < 1 || c.MaxChanges > MaxBudget {
		return fmt.Errorf("%w: MaxChanges %d; want 1 to %d", ErrConfig, c.MaxChanges, MaxBudget)
	}
	if c.MaxErrors < 1 || c.MaxErrors > MaxBudget {
		return fmt.Errorf("%w: MaxErrors %d; want 1 to %d", ErrConfig, c.MaxErrors, MaxBudget)
	}
	if c.StopBefore < 0 {
		return fmt.Errorf("%w: StopBefore %s; want zero or positive", ErrConfig, c.StopBefore)
	}
	if strings.TrimSpace(c.TagKey) == "" || len(c.TagKey) > 128 {
		return fmt.Errorf("%w: TagKey %q; want 1 to 128 characters", ErrConfig, c.TagKey)
	}
	for _, t := range c.IaCTags {
		if err := t.validate(); err != nil {
			return err
		}
	}
	if len(c.IaCTags) > maxIaCTags {
		return fmt.Errorf("%w: %d IaCTags; want at most %d", ErrConfig, len(c.IaCTags), maxIaCTags)
	}
	if c.IdleTimeoutTagKey == c.TagKey {
		return fmt.Errorf("%w: IdleTimeoutTagKey %q; want a key other than TagKey", ErrConfig, c.IdleTimeoutTagKey)
	}
	return nil
}
