// Package compliance publishes the engine's reports where people already
// look: Security Hub findings (compliance/securityhub), notifications people
// act on (compliance/notify), an HTML report (compliance/htmlreport), and an
// AWS Config custom rule (compliance/configrule).
//
// A Sink takes one engine.Result and publishes it. Publishing is best effort
// by design: the enforcement has already happened when a sink runs, so a
// sink that is unavailable, throttled or denied is logged and counted
// (Stats), retried a bounded number of times, and never fails the run.
package compliance

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/elbguard/elbguard/engine"
)

// Trigger kinds.
const (
	// TriggerEvent: the run reconciled the load balancers one event named.
	TriggerEvent = "event"
	// TriggerSweep: the run reconciled every load balancer in the region.
	TriggerSweep = "sweep"
	// TriggerCLI: a person ran elbguard audit or remediate.
	TriggerCLI = "cli"
)

// Trigger says what started a run, for the people reading what it did.
type Trigger struct {
	// Kind is TriggerEvent, TriggerSweep or TriggerCLI.
	Kind string
	// EventName is the CloudTrail eventName (or detail type) of the event.
	EventName string
	// Caller is the CloudTrail identity of the event (userIdentity.arn);
	// empty for sweeps.
	Caller string
}

// Sweep reports whether the run looked at every load balancer on a schedule
// rather than at what one event or person named.
func (t Trigger) Sweep() bool { return t.Kind == TriggerSweep }

// Stats counts what a sink published and what it could not.
type Stats struct {
	// Sent is how many items (findings, messages) were accepted.
	Sent int
	// Failed is how many were not, after the sink's bounded retries.
	Failed int
	// Calls is how many API calls the sink made.
	Calls int
}

// Sink publishes a run's reports.
type Sink interface {
	// Name names the sink in logs and metrics ("securityhub", "sns").
	Name() string
	// Publish publishes res. It returns an error (wrapped with what it was
	// doing) when anything could not be published; Stats counts both.
	Publish(ctx context.Context, res *engine.Result, t Trigger) (Stats, error)
}

// DefaultTimeout bounds one sink's Publish when Publisher.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Publisher runs sinks after a run. The zero value publishes nowhere.
type Publisher struct {
	// Sinks are run in order, each with its own deadline.
	Sinks []Sink
	// Timeout bounds each sink. Zero: DefaultTimeout.
	Timeout time.Duration
	// Log receives one line per sink. Nil: discard.
	Log *slog.Logger
}

// Totals are the Stats of every sink of one Publish, by sink name.
type Totals map[string]Stats

// Failed is the sum of every sink's failures.
func (t Totals) Failed() int {
	n := 0
	for _, s := range t {
		n += s.Failed
	}
	return n
}

// Publish runs every sink on res. It never fails: each sink's failure is
// logged at error level and counted in the Totals it returns.
func (p *Publisher) Publish(ctx context.Context, res *engine.Result, t Trigger) Totals {
	totals := Totals{}
	if p == nil || res == nil || len(p.Sinks) == 0 {
		return totals
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	for _, s := range p.Sinks {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		st, err := s.Publish(sctx, res, t)
		cancel()
		totals[s.Name()] = st
		if err != nil {
			log.ErrorContext(ctx, "publish failed; enforcement is unaffected", "sink", s.Name(),
				"sent", st.Sent, "failed", st.Failed, "calls", st.Calls, "error", err.Error())
			continue
		}
		log.InfoContext(ctx, "published", "sink", s.Name(), "sent", st.Sent, "calls", st.Calls)
	}
	return totals
}

// ClassicARN is a Classic Load Balancer's ARN, which the Classic API never
// returns: arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/NAME.
func ClassicARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:loadbalancer/%s", Partition(region), region, account, name)
}

// ResourceARN is the report's load balancer ARN: its own for ELBv2, built
// from the name for Classic.
func ResourceARN(r engine.Report, region, account string) string {
	if r.ARN != "" {
		return r.ARN
	}
	return ClassicARN(region, account, r.Name)
}

// Partition is the AWS partition of a region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	}
	return "aws"
}
