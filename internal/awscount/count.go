// Package awscount counts AWS API calls by service and action with an SDK
// middleware, so tests, benchmarks and the CLI's --stats can say exactly
// which calls a run made.
package awscount

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Counter counts operations (one per SDK call, whatever its retries) and
// attempts (one per HTTP request). The zero value is not usable; use New.
type Counter struct {
	mu       sync.Mutex
	calls    map[string]int
	attempts map[string]int
}

// New returns an empty Counter.
func New() *Counter {
	return &Counter{calls: map[string]int{}, attempts: map[string]int{}}
}

// Instrument adds the counting middleware to every client built from cfg.
func (c *Counter) Instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, c.AddToStack)
}

// AddToStack registers the counting middleware on one operation stack. It has
// the signature of an entry in aws.Config.APIOptions or a client's
// Options.APIOptions.
func (c *Counter) AddToStack(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("elbguard.CountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.add(c.calls, ctx)
			return next.HandleInitialize(ctx, in)
		}), middleware.Before); err != nil {
		return fmt.Errorf("add call counter: %w", err)
	}
	if err := stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("elbguard.CountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.add(c.attempts, ctx)
			return next.HandleFinalize(ctx, in)
		}), middleware.After); err != nil {
		return fmt.Errorf("add attempt counter: %w", err)
	}
	return nil
}

func (c *Counter) add(m map[string]int, ctx context.Context) {
	key := Key(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))
	c.mu.Lock()
	m[key]++
	c.mu.Unlock()
}

// Key names an action "service:Operation" with a short service name
// ("elb", "elbv2", "sts", "iam"; other services keep their SDK service ID).
func Key(serviceID, operation string) string {
	switch serviceID {
	case "Elastic Load Balancing":
		serviceID = "elb"
	case "Elastic Load Balancing v2":
		serviceID = "elbv2"
	case "STS":
		serviceID = "sts"
	case "IAM":
		serviceID = "iam"
	}
	return serviceID + ":" + operation
}

// IsMutating reports whether an action key names a call that may change
// state: anything but Describe*, Get* and List*.
func IsMutating(key string) bool {
	_, op, _ := strings.Cut(key, ":")
	return !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List")
}

// Calls returns a copy of the call counts by action key.
func (c *Counter) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// Attempts returns a copy of the HTTP attempt counts by action key (more
// than Calls when the SDK retried).
func (c *Counter) Attempts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.attempts)
}

// Totals returns the number of calls, and of mutating calls among them.
func (c *Counter) Totals() (calls, mutating int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.calls {
		calls += n
		if IsMutating(k) {
			mutating += n
		}
	}
	return calls, mutating
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
	clear(c.attempts)
}

// String lists the calls by action, sorted, one "key=N" per line.
func (c *Counter) String() string {
	calls := c.Calls()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(calls)) {
		fmt.Fprintf(&b, "%s=%d\n", k, calls[k])
	}
	return b.String()
}
