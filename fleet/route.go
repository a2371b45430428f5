package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// eventOrigin is the account and region of an EventBridge event's envelope:
// where the call or tag change happened (a spoke's forwarded event keeps
// its own account).
type eventOrigin struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// originOf reads the envelope's account and region; anything undecodable
// gives empty ones (Classify reports why the event is bad).
func originOf(raw []byte) eventOrigin {
	var o eventOrigin
	if len(raw) > events.MaxEventBytes {
		return o
	}
	_ = json.Unmarshal(raw, &o)
	return o
}

// route picks the engine of the event's account and region. When it
// returns no engine the event is done: out of scope (ignored with a reason,
// no role assumed), or the location unreachable (one error report).
func (h *Enforcer) route(ctx context.Context, log *slog.Logger, o eventOrigin, out *Outcome) (*engine.Engine, *slog.Logger, *Outcome, error) {
	reason, err := h.Fleet.Scope.Check(ctx, o.Account, o.Region)
	if err != nil {
		out.Error = err.Error()
		log.ErrorContext(ctx, "cannot check the event's account", "account", o.Account, "error", err.Error(), "retryable", Retryable(err))
		if Retryable(err) {
			return nil, log, out, err
		}
		return nil, log, out, nil
	}
	if reason != "" {
		out.Decision.Kind, out.Decision.Reason = events.KindIgnored, reason
		log.WarnContext(ctx, "event ignored", "reason", reason, "account", o.Account, "region", o.Region)
		return nil, log, out, nil
	}
	log = log.With("account", o.Account, "region", o.Region)
	eng, err := h.Fleet.Engine(ctx, o.Account, o.Region)
	if err == nil {
		return eng, log, out, nil
	}
	function := cmp.Or(h.Function, FunctionEnforcer)
	if Retryable(err) && !errors.Is(err, awsclient.ErrAssumeRole) {
		done, ferr := finish(ctx, log, out, nil, err, h.Metrics, function)
		return nil, log, done, ferr
	}
	done, ferr := finish(ctx, log, out, LocationError(o.Account, o.Region, err), nil, h.Metrics, function)
	return nil, log, done, ferr
}

// EventOrigin returns the account and region an EventBridge event's
// envelope names; empty when absent or undecodable.
func EventOrigin(raw []byte) (account, region string) {
	o := originOf(raw)
	return o.Account, o.Region
}

// ForeignEvent is why a single-account run (account in region) must not
// handle raw: the event's envelope names another account or region, where
// this run's credentials would find nothing and report the load balancer
// gone (archiving its findings). "" when the event is this location's, or
// names no location (a verification batch).
func ForeignEvent(raw []byte, account, region string) string {
	o := originOf(raw)
	switch {
	case o.Account != "" && account != "" && o.Account != account:
		return fmt.Sprintf("the event is for account %s but these credentials are account %s: use --accounts %s (and --role-name) to act there",
			o.Account, account, o.Account)
	case o.Region != "" && o.Region != region:
		return fmt.Sprintf("the event is for region %s but this run is in %s: use --region %s", o.Region, cmp.Or(region, "no region"), o.Region)
	}
	return ""
}
