package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// Outcome is what a handler returns for one invocation.
type Outcome struct {
	// Decision is how the event was classified.
	Decision events.Decision `json:"decision"`
	// BadInput is true when the event could not be decoded; Decision.Reason says why.
	BadInput bool `json:"bad_input,omitempty"`
	// Result is the engine's run, nil when nothing was reconciled.
	Result *engine.Result `json:"result,omitempty"`
	// Enqueued is how many account-region units a multi-account sweep put
	// on the sweep queue.
	Enqueued int `json:"enqueued,omitempty"`
	// Debounced is true when the event (an instance registration) was
	// handed to the debouncer, to be reconciled with the others like it
	// in one later run (debounce.go).
	Debounced bool `json:"debounced,omitempty"`
	// Error is the run's failure, if any.
	Error string `json:"error,omitempty"`
}

// Enforcer handles one EventBridge event: it reconciles the load balancers the
// event names, or sweeps on a scheduled event, and ignores calls made by its
// own role. The Lambda and `elbguard handle` both call Handle.
type Enforcer struct {
	Engine *engine.Engine
	// Fleet, when set, picks the engine by the event's account and region
	// (a multi-account hub) and Engine is unused.
	Fleet *Fleet
	// SelfARN is the enforcer's own principal (see SelfARN); empty disables the check.
	SelfARN string
	// Log receives JSON logs; the request id is added per invocation. Nil: discard.
	Log *slog.Logger
	// Metrics receives one EMF line per run that reconciled something. Nil: none.
	Metrics io.Writer
	// Function is the EMF Function dimension. Empty: "enforcer".
	Function string
	// Publisher publishes each run to the compliance sinks. Nil: none.
	Publisher *compliance.Publisher
	// Debouncer coalesces instance registration events (debounce.go).
	// Nil: each is reconciled at once.
	Debouncer Debouncer
}

// Handle classifies and handles raw. Bad input (malformed or unknown events)
// is logged and returns no error so Lambda does not retry it; only retryable
// failures return an error.
func (h *Enforcer) Handle(ctx context.Context, raw json.RawMessage) (*Outcome, error) {
	if vs, rs, bad, ok := queued(raw); ok {
		if len(rs) > 0 { // registrations, coalesced
			if len(vs) > 0 {
				if _, err := h.verify(ctx, vs, nil); err != nil {
					return nil, err
				}
			}
			return h.recheck(ctx, rs, bad)
		}
		return h.verify(ctx, vs, bad) // the delayed health check after a change
	}
	log := requestLogger(ctx, h.Log)
	eng, self := h.Engine, h.SelfARN
	origin := originOf(raw)
	var cfg engine.Config
	if h.Fleet != nil {
		cfg, self = h.Fleet.Config.WithDefaults(), h.Fleet.SelfARN(ctx, origin.Account, h.SelfARN)
	} else {
		cfg = h.Engine.Config()
	}
	d, err := events.Classify(raw, events.Options{SelfARN: self, TagKeys: []string{cfg.TagKey, cfg.IdleTimeoutTagKey, engine.TagReadiness, engine.TagHealthDropped,
		engine.TagPorts, engine.TagIaC, engine.TagExemptUntil, engine.TagExemptReason, engine.TagStickiness}})
	if err != nil {
		log.ErrorContext(ctx, "bad input: event not handled and not retried", "error", err.Error(), "bytes", len(raw))
		return &Outcome{Decision: events.Decision{Kind: events.KindIgnored, Reason: err.Error()}, BadInput: true}, nil
	}
	log = log.With("event_name", d.EventName, "detail_type", d.DetailType, "caller", d.Caller)
	out := &Outcome{Decision: d}
	var res *engine.Result
	if d.Kind == events.KindIgnored {
		log.InfoContext(ctx, "event ignored", "reason", d.Reason)
		return out, nil
	}
	if h.Fleet != nil {
		var done *Outcome
		if eng, log, done, err = h.route(ctx, log, origin, out); eng == nil {
			return done, err
		}
	}
	if h.debounce(ctx, log, origin, out) {
		return out, nil
	}
	switch d.Kind {
	case events.KindSweep:
		res, err = eng.Sweep(ctx)
	case events.KindReconcile:
		res, err = eng.Reconcile(ctx, engine.Targets{Classic: d.Classic, LoadBalancers: d.LoadBalancers, TargetGroups: d.TargetGroups})
	default:
		return out, fmt.Errorf("handle event: unknown decision %q", d.Kind)
	}
	publish(ctx, log, h.Publisher, res, TriggerOf(d), h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
	return finish(ctx, log, out, res, err, h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
}

// Sweeper reconciles every load balancer in the region on each invocation,
// whatever the event, and stops cleanly before the invocation deadline.
type Sweeper struct {
	Engine *engine.Engine
	// Log receives JSON logs. Nil: discard.
	Log *slog.Logger
	// Metrics receives one EMF line per run (os.Stdout in Lambda). Nil: none.
	Metrics io.Writer
	// Function is the EMF Function dimension. Empty: "sweeper".
	Function string
	// Fleet, when set, makes the sweep cover every account and region in
	// its scope: onto Queue (QueueURL) as units, or run here without one.
	Fleet    *Fleet
	Queue    QueueAPI
	QueueURL string
	// Publisher publishes each run to the compliance sinks. Nil: none.
	Publisher *compliance.Publisher
}

// Handle sweeps. It returns an error only when the sweep could not list the
// load balancers for a retryable reason.
func (h *Sweeper) Handle(ctx context.Context, _ json.RawMessage) (*Outcome, error) {
	log := requestLogger(ctx, h.Log)
	out := &Outcome{Decision: events.Decision{Kind: events.KindSweep}}
	if h.Fleet != nil {
		return h.sweepFleet(ctx, log, out)
	}
	res, err := h.Engine.Sweep(ctx)
	publish(ctx, log, h.Publisher, res, TriggerOf(out.Decision), h.Metrics, cmp.Or(h.Function, FunctionSweeper))
	return finish(ctx, log, out, res, err, h.Metrics, cmp.Or(h.Function, FunctionSweeper))
}

// finish logs a run, writes its metrics and decides whether to ask for a retry.
func finish(ctx context.Context, log *slog.Logger, out *Outcome, res *engine.Result, err error, metrics io.Writer, function string) (*Outcome, error) {
	if err != nil {
		out.Error = err.Error()
		retryable := Retryable(err)
		log.ErrorContext(ctx, "run failed", "error", err.Error(), "retryable", retryable)
		if retryable {
			return out, fmt.Errorf("elbguard %s: %w", function, err)
		}
		return out, nil
	}
	out.Result = res
	for _, r := range res.Reports {
		applied, planned, failed := r.Changed()
		level := slog.LevelInfo
		if r.Status == engine.StatusError {
			level = slog.LevelError
		}
		attrs := []any{"name", r.Name, "arn", r.ARN, "type", r.Type, "mode", string(r.Mode),
			"status", string(r.Status), "applied", applied, "planned", planned, "failed", failed, "findings", len(r.Findings)}
		if r.Status == engine.StatusError && len(r.Findings) > 0 { // what went wrong, for whoever reads the log
			last := r.Findings[len(r.Findings)-1]
			attrs = append(attrs, "rule", last.Rule, "detail", last.Detail)
		}
		log.Log(ctx, level, "load balancer", attrs...)
	}
	log.InfoContext(ctx, "run done", "function", function, "found", res.Found, "processed", res.Processed,
		"incomplete", res.Incomplete, "counts", res.Counts)
	if res.Incomplete {
		log.WarnContext(ctx, "stopped before the deadline", "processed", res.Processed, "found", res.Found)
	}
	if metrics != nil {
		line, err := EMF(res, function, time.Now())
		if err == nil {
			_, err = fmt.Fprintf(metrics, "%s\n", line)
		}
		if err != nil {
			log.ErrorContext(ctx, "write metrics", "error", err.Error())
		}
	}
	var retry []error
	for _, e := range res.Errs() {
		if Retryable(e) {
			retry = append(retry, e)
		}
	}
	if len(retry) > 0 {
		joined := errors.Join(retry...)
		out.Error = joined.Error()
		return out, fmt.Errorf("elbguard %s: %d load balancers failed with retryable errors: %w", function, len(retry), joined)
	}
	return out, nil
}

// requestLogger adds the Lambda request id, when there is one.
func requestLogger(ctx context.Context, log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	return log
}
