package infra

import (
	"errors"
	"fmt"
	"net/mail"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/elbguard/elbguard/engine"
)

// ErrInvalidProps is wrapped by every props validation error, so callers can
// tell a configuration mistake from a synthesis failure with errors.Is.
var ErrInvalidProps = errors.New("infra: invalid props")

// Defaults applied to the zero values of EnforcerProps.
const (
	// DefaultTagKey is the tag that selects a load balancer's mode.
	DefaultTagKey = engine.DefaultTagKey
	// DefaultMode is the mode of untagged load balancers: opt-in.
	DefaultMode = "off"
	// DefaultSweepSchedule runs the sweeper every hour.
	DefaultSweepSchedule = "rate(1 hour)"
	// DefaultConcurrency is the number of load balancers reconciled at once
	// inside one invocation (ELBGUARD_CONCURRENCY).
	DefaultConcurrency = engine.DefaultConcurrency
	// MaxConcurrency bounds Concurrency: more parallel calls only earn
	// throttling from the ELB APIs.
	MaxConcurrency = engine.MaxConcurrency
	// DefaultReservedConcurrency is the enforcer's reserved concurrency: at
	// most this many events are handled at once, which keeps bursts of
	// CloudTrail events under the ELB API rate limits (further events wait
	// in Lambda's asynchronous queue and are retried, not lost).
	DefaultReservedConcurrency = 2
	// DefaultLambdaAssetDir holds <name>/bootstrap for each function, as
	// written by `make build-lambda`.
	DefaultLambdaAssetDir = "dist/lambda"
)

// Modes a load balancer can be in; DefaultMode must be one of them.
var Modes = []string{"off", "audit", "enforce"}

// EnforcerProps configures NewEnforcer. The zero value is valid and gives the
// documented defaults: opt-in (only load balancers tagged
// elbguard:proxy-protocol=enforce are changed), hourly sweep, no trail, no
// e-mail subscription.
type EnforcerProps struct {
	// TagKey is the tag whose value (enforce, audit or off, any case) selects
	// a load balancer's mode. Empty: DefaultTagKey. 1-128 characters of
	// letters, digits, spaces and _.:/=+-@, not starting with "aws:".
	TagKey string
	// DefaultMode is the mode of load balancers without the tag: "off"
	// (opt-in, the default), "audit" or "enforce". Empty: "off". In "off"
	// and "audit" mode the Lambdas may change only load balancers that carry
	// TagKey=enforce (an IAM condition, not just a code path).
	DefaultMode string
	// DryRun makes the Lambdas plan changes without making them; their role
	// then gets no mutating permission at all.
	DryRun bool
	// IaCTags are tags that mark a load balancer as owned by infrastructure
	// as code beside the tags CloudFormation, Elastic Beanstalk and
	// Kubernetes set (ELBGUARD_IAC_TAGS): KEY or KEY=VALUE, e.g.
	// ManagedBy=terraform, crossplane.io/claim-name. Terraform, OpenTofu,
	// Pulumi and Crossplane add no tag by themselves. Empty: none.
	IaCTags []string
	// SweepSchedule is an EventBridge schedule expression, "rate(...)" or
	// "cron(...)", for the sweeper. Empty: DefaultSweepSchedule (hourly).
	SweepSchedule string
	// Concurrency is how many load balancers one invocation reconciles in
	// parallel (ELBGUARD_CONCURRENCY), 1-MaxConcurrency. Zero:
	// DefaultConcurrency.
	Concurrency int
	// ReservedConcurrency is the enforcer function's reserved concurrency.
	// Zero: DefaultReservedConcurrency. Negative: none reserved (needed in
	// accounts whose total Lambda concurrency is the new-account minimum of
	// 10, where any reservation fails to deploy).
	ReservedConcurrency int
	// MaxChanges is how many load balancers one run (a sweep of an account
	// and region, or an event) changes at most; the rest are deferred to
	// the next run and DeferredAlarm fires (ELBGUARD_MAX_CHANGES). Zero:
	// engine.DefaultMaxChanges (10). Allowed: 1-engine.MaxBudget.
	MaxChanges int
	// MaxErrors is how many failed changes stop a run from changing more;
	// the rest are deferred (ELBGUARD_MAX_ERRORS). Zero:
	// engine.DefaultMaxErrors (3). Allowed: 1-engine.MaxBudget.
	MaxErrors int
	// CreateTrail creates a single-region CloudTrail trail recording write
	// management events, with its own S3 bucket. EventBridge receives "AWS
	// API Call via CloudTrail" events only while some trail in the account
	// and region records management events: leave this false when one
	// already exists (a second copy of management events is billed).
	CreateTrail bool
	// AlarmEmail, when set, is subscribed to the alarm topic (the address
	// must confirm the subscription). Empty: no subscription.
	AlarmEmail string
	// VerifyWindowSeconds is how long after turning proxy protocol on for an
	// NLB's target groups their health is checked again (and proxy protocol
	// turned back off where healthy targets turned unhealthy), 1-900 s (an
	// SQS message delay). Zero: DefaultVerifyWindowSeconds (90).
	VerifyWindowSeconds int
	// LambdaAssetDir is the directory holding enforcer/bootstrap and
	// sweeper/bootstrap (linux/arm64), relative to the working directory of
	// the synthesizing process. Empty: DefaultLambdaAssetDir.
	LambdaAssetDir string
	// Hub, when set, makes the Enforcer an organization's hub (see HubProps):
	// rules on a central event bus, a sweep worker, cross-account roles. Nil:
	// the single-account Enforcer.
	Hub *HubProps
	// Compliance adds Security Hub findings, notifications and the AWS
	// Config rule (infra/compliance.go). Zero: none.
	Compliance ComplianceProps
}

var (
	tagKeyPattern   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	ratePattern     = regexp.MustCompile(`^rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)$`)
	cronPattern     = regexp.MustCompile(`^cron\(\S+( \S+){5}\)$`)
	errNotAnAddress = errors.New("not a bare e-mail address")
)

// withDefaults returns a copy of p with every zero value replaced by its
// documented default. It does not validate.
func (p EnforcerProps) withDefaults() EnforcerProps {
	if p.TagKey == "" {
		p.TagKey = DefaultTagKey
	}
	if p.DefaultMode == "" {
		p.DefaultMode = DefaultMode
	}
	p.DefaultMode = strings.ToLower(p.DefaultMode)
	if p.SweepSchedule == "" {
		p.SweepSchedule = DefaultSweepSchedule
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.ReservedConcurrency == 0 {
		p.ReservedConcurrency = DefaultReservedConcurrency
	}
	if p.MaxChanges == 0 {
		p.MaxChanges = engine.DefaultMaxChanges
	}
	if p.MaxErrors == 0 {
		p.MaxErrors = engine.DefaultMaxErrors
	}
	if p.LambdaAssetDir == "" {
		p.LambdaAssetDir = DefaultLambdaAssetDir
	}
	if p.VerifyWindowSeconds == 0 {
		p.VerifyWindowSeconds = DefaultVerifyWindowSeconds
	}
	return p
}

// Validate reports the first invalid field of p (after defaults), naming the
// field and the allowed values. The error wraps ErrInvalidProps.
func (p EnforcerProps) Validate() error {
	p = p.withDefaults()
	if !tagKeyPattern.MatchString(p.TagKey) || strings.HasPrefix(strings.ToLower(p.TagKey), "aws:") {
		return fmt.Errorf("%w: TagKey %q: want 1-128 letters, digits, spaces or _.:/=+-@, not starting with \"aws:\"", ErrInvalidProps, p.TagKey)
	}
	if _, err := engine.ParseIaCTags(strings.Join(p.IaCTags, ",")); err != nil {
		return fmt.Errorf("%w: IaCTags %q: %w", ErrInvalidProps, p.IaCTags, err)
	}
	if !slices.Contains(Modes, p.DefaultMode) {
		return fmt.Errorf("%w: DefaultMode %q: allowed values are %s", ErrInvalidProps, p.DefaultMode, strings.Join(Modes, ", "))
	}
	if err := validateSchedule(p.SweepSchedule); err != nil {
		return fmt.Errorf("%w: SweepSchedule %q: %w", ErrInvalidProps, p.SweepSchedule, err)
	}
	if p.Concurrency < 1 || p.Concurrency > MaxConcurrency {
		return fmt.Errorf("%w: Concurrency %d: allowed values are 1-%d (0 means %d)", ErrInvalidProps, p.Concurrency, MaxConcurrency, DefaultConcurrency)
	}
	if p.MaxChanges < 1 || p.MaxChanges > engine.MaxBudget {
		return fmt.Errorf("%w: MaxChanges %d: allowed values are 1-%d (0 means %d)", ErrInvalidProps, p.MaxChanges, engine.MaxBudget, engine.DefaultMaxChanges)
	}
	if p.MaxErrors < 1 || p.MaxErrors > engine.MaxBudget {
		return fmt.Errorf("%w: MaxErrors %d: allowed values are 1-%d (0 means %d)", ErrInvalidProps, p.MaxErrors, engine.MaxBudget, engine.DefaultMaxErrors)
	}
	if p.ReservedConcurrency > 1000 {
		return fmt.Errorf("%w: ReservedConcurrency %d: allowed values are 1-1000, 0 for the default (%d) or negative for none", ErrInvalidProps, p.ReservedConcurrency, DefaultReservedConcurrency)
	}
	if p.AlarmEmail != "" {
		if err := validateEmail(p.AlarmEmail); err != nil {
			return fmt.Errorf("%w: AlarmEmail %q: %w", ErrInvalidProps, p.AlarmEmail, err)
		}
	}
	if err := p.Hub.validate(); err != nil {
		return err
	}
	if p.VerifyWindowSeconds < 1 || p.VerifyWindowSeconds > MaxVerifyWindowSeconds {
		return fmt.Errorf("%w: VerifyWindowSeconds %d: allowed values are 1-%d (0 means %d)", ErrInvalidProps, p.VerifyWindowSeconds, MaxVerifyWindowSeconds, DefaultVerifyWindowSeconds)
	}
	if err := p.Compliance.validate(); err != nil {
		return err
	}
	if filepath.Clean(p.LambdaAssetDir) == "/" {
		return fmt.Errorf("%w: LambdaAssetDir %q: want the directory holding enforcer/bootstrap and sweeper/bootstrap", ErrInvalidProps, p.LambdaAssetDir)
	}
	return nil
}

// validateSchedule accepts the EventBridge forms rate(N unit) with the unit
// singular exactly when N is 1, and cron(...) with six fields.
func validateSchedule(s string) error {
	if m := ratePattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return errors.New("rate value must be a positive integer")
		}
		if singular := !strings.HasSuffix(m[2], "s"); singular != (n == 1) {
			return errors.New("rate unit must be singular for 1 and plural otherwise, e.g. rate(1 hour), rate(15 minutes)")
		}
		return nil
	}
	if cronPattern.MatchString(s) {
		return nil
	}
	return errors.New(`allowed forms are "rate(N minute[s]|hour[s]|day[s])" and "cron(min hour day-of-month month day-of-week year)"`)
}

func validateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("parse address: %w", err)
	}
	if a.Address != s || a.Name != "" {
		return errNotAnAddress
	}
	return nil
}
