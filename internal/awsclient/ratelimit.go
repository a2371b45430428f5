package awsclient

import (
	"context"
	"fmt"
	"strings"
	"sync"

	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Default client-side rates, in requests per second per account and region
// and per ELB API version. AWS throttles each ELB API version (Classic
// 2012-06-01, ELBv2 2015-12-01) per account and region with token buckets:
// Describe* calls from a bucket of 40 that refills at 10 per second, mutating
// calls from smaller buckets that refill at about 3 per second
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html).
// The buckets are shared with everything else in the account (the console,
// Terraform, CloudFormation's own calls aside), so elbguard stays below them.
const (
	DefaultDescribeRate = 8.0
	DefaultMutateRate   = 2.0
	// DefaultDescribeBurst and DefaultMutateBurst are the calls that may go
	// at once after a quiet spell: the few reads of one event pass without
	// waiting, and a sweep settles to the rate. Both stay far below AWS's
	// bucket sizes (40 for Describe*).
	DefaultDescribeBurst = 4
	DefaultMutateBurst   = 1
	// MaxRate bounds a configured rate: above AWS's largest documented
	// refill the limiter would protect nothing.
	MaxRate = 100.0
)

// Limits are the client-side rates of one account and region. The zero
// value means the defaults.
type Limits struct {
	// Describe is the rate of read calls (Describe*, Get*, List*) per
	// second, per ELB API version. Zero: DefaultDescribeRate.
	Describe float64
	// Mutate is the rate of every other call per second, per ELB API
	// version. Zero: DefaultMutateRate.
	Mutate float64
	// DescribeBurst and MutateBurst are the bucket sizes. Zero:
	// DefaultDescribeBurst, DefaultMutateBurst.
	DescribeBurst, MutateBurst int
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	if l.Describe == 0 {
		l.Describe = DefaultDescribeRate
	}
	if l.Mutate == 0 {
		l.Mutate = DefaultMutateRate
	}
	if l.DescribeBurst == 0 {
		l.DescribeBurst = DefaultDescribeBurst
	}
	if l.MutateBurst == 0 {
		l.MutateBurst = DefaultMutateBurst
	}
	return l
}

// Validate reports a rate out of (0, MaxRate].
func (l Limits) Validate() error {
	l = l.WithDefaults()
	for _, r := range []struct {
		name string
		v    float64
	}{{"describe", l.Describe}, {"mutate", l.Mutate}} {
		if r.v <= 0 || r.v > MaxRate {
			return fmt.Errorf("awsclient: %s rate %v; want more than 0 and at most %v requests per second", r.name, r.v, MaxRate)
		}
	}
	if l.DescribeBurst < 1 || l.MutateBurst < 1 || l.DescribeBurst > 40 || l.MutateBurst > 40 {
		return fmt.Errorf("awsclient: bursts %d and %d; want 1 to 40", l.DescribeBurst, l.MutateBurst)
	}
	return nil
}

// limitedServices are the SDK service ids whose calls are rate-limited; each
// has its own buckets, as on AWS.
var limitedServices = map[string]bool{"Elastic Load Balancing": true, "Elastic Load Balancing v2": true}

// unwaited are the calls that never wait for a token: re-creating a Classic
// listener the engine has just deleted (the swap, or its rollback) ends an
// outage of that port, and must not queue behind other load balancers'
// writes. They still take their token, in debt, so the rate holds over time.
var unwaited = map[string]bool{"CreateLoadBalancerListeners": true}

// IsRead reports whether an operation is a read (Describe*, Get*, List*),
// which AWS counts against the non-mutating bucket.
func IsRead(operation string) bool {
	return strings.HasPrefix(operation, "Describe") || strings.HasPrefix(operation, "Get") || strings.HasPrefix(operation, "List")
}

// Limiter holds the token buckets of one account and region: one per ELB
// API version and call class. It is installed on that account's and
// region's clients with Option, and is safe for concurrent use.
type Limiter struct {
	limits Limits
	mu     sync.Mutex
	bucket map[string]*rate.Limiter
}

// NewLimiter returns a limiter with l's rates and bursts (defaults for zero
// fields).
func NewLimiter(l Limits) *Limiter {
	return &Limiter{limits: l.WithDefaults(), bucket: map[string]*rate.Limiter{}}
}

func (l *Limiter) get(service, operation string) *rate.Limiter {
	class, r, burst := "mutate", l.limits.Mutate, l.limits.MutateBurst
	if IsRead(operation) {
		class, r, burst = "describe", l.limits.Describe, l.limits.DescribeBurst
	}
	key := service + "/" + class
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(r), burst)
		l.bucket[key] = b
	}
	return b
}

// Wait blocks until a call to operation of service may be sent, or ctx
// ends. Services other than the ELB APIs pass at once.
func (l *Limiter) Wait(ctx context.Context, service, operation string) error {
	if !limitedServices[service] {
		return nil
	}
	if unwaited[operation] {
		l.get(service, operation).Reserve()
		return nil
	}
	if err := l.get(service, operation).Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rate limit %s %s: %w", service, operation, ctx.Err())
		}
		// The wait would pass the deadline: say so as the deadline, so
		// that callers deciding on retries (handler.Retryable) see it.
		return fmt.Errorf("rate limit %s %s: %w (%w)", service, operation, context.DeadlineExceeded, err)
	}
	return nil
}

// Option installs the limiter on a configuration's clients. It waits in
// the Finalize step after the SDK's retry middleware, so that every attempt,
// retries included, spends a token, as each does on AWS; throttling that
// still happens (other tools share the bucket) is retried by the SDK's
// retryer with backoff.
func (l *Limiter) Option(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, l.addToStack)
}

func (l *Limiter) addToStack(stack *middleware.Stack) error {
	mw := middleware.FinalizeMiddlewareFunc("elbguard.RateLimit",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := l.Wait(ctx, awsmw.GetServiceID(ctx), awsmw.GetOperationName(ctx)); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleFinalize(ctx, in)
		})
	if _, ok := stack.Finalize.Get("Retry"); ok {
		if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
			return fmt.Errorf("install rate limiter: %w", err)
		}
		return nil
	}
	if err := stack.Finalize.Add(mw, middleware.After); err != nil {
		return fmt.Errorf("install rate limiter: %w", err)
	}
	return nil
}
