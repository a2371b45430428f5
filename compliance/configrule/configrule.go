// Package configrule is the AWS Config custom rule elbguard-proxy-protocol:
// for each Config event it evaluates the load balancers with the engine in
// read-only mode and answers PutEvaluations with the event's result token:
// COMPLIANT, NON_COMPLIANT (with a 256-character annotation saying why) or
// NOT_APPLICABLE.
package configrule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// RuleName is the Config rule's name.
const RuleName = "elbguard-proxy-protocol"

// MaxAnnotation is Config's limit on an evaluation's annotation.
const MaxAnnotation = 256

// batchSize is the most evaluations one PutEvaluations call accepts.
const batchSize = 100

// EvaluationsAPI is the one Config call the rule makes.
type EvaluationsAPI interface {
	PutEvaluations(ctx context.Context, in *configservice.PutEvaluationsInput, optFns ...func(*configservice.Options)) (*configservice.PutEvaluationsOutput, error)
}

// Evaluator answers Config rule events.
type Evaluator struct {
	// Engine evaluates; New refuses one that is not read-only.
	Engine *engine.Engine
	// Config receives the evaluations.
	Config EvaluationsAPI
	// Log receives one line per event. Nil: discard.
	Log *slog.Logger
	// Now stamps evaluations whose event carries no time. Nil: time.Now.
	Now func() time.Time
}

// ErrNotReadOnly is returned by New for an engine that may write: the rule only ever reads.
var ErrNotReadOnly = errors.New("configrule: the engine must be read-only (DryRun)")

// New returns an Evaluator after checking that eng never writes.
func New(eng *engine.Engine, config EvaluationsAPI, log *slog.Logger) (*Evaluator, error) {
	if eng == nil || config == nil {
		return nil, errors.New("configrule: an engine and a Config client are required")
	}
	if !eng.Config().DryRun {
		return nil, ErrNotReadOnly
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Evaluator{Engine: eng, Config: config, Log: log}, nil
}

// Handle evaluates one Config rule event. Malformed events are logged and
// not retried; an API error returns an error so that Lambda retries.
func (e *Evaluator) Handle(ctx context.Context, raw []byte) error {
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := events.ClassifyConfig(raw)
	if err != nil {
		log.ErrorContext(ctx, "bad input: Config event not evaluated and not retried", "error", err.Error(), "bytes", len(raw))
		return nil
	}
	log = log.With("message_type", d.MessageType, "resource_type", d.ResourceType, "resource_id", d.ResourceID)
	when := e.orderingTime(d)
	var evals []cfgtypes.Evaluation
	var res *engine.Result
	switch d.Kind {
	case events.KindIgnored:
		if !d.NotApplicable {
			log.InfoContext(ctx, "event ignored", "reason", d.Reason)
			return nil
		}
		evals = append(evals, evaluation(d.ResourceType, d.ResourceID, cfgtypes.ComplianceTypeNotApplicable, d.Reason, when))
	case events.KindSweep:
		res, err = e.Engine.Sweep(ctx)
	case events.KindReconcile:
		res, err = e.Engine.Reconcile(ctx, engine.Targets{Classic: d.Classic, LoadBalancers: d.LoadBalancers})
	}
	if err != nil {
		return fmt.Errorf("evaluate for Config: %w", err)
	}
	var retry []error
	if res != nil {
		for _, r := range res.Reports {
			ev, ok := Evaluate(r, when)
			if !ok {
				retry = append(retry, r.Err())
				continue
			}
			evals = append(evals, ev)
		}
	}
	if err := e.put(ctx, d.ResultToken, evals); err != nil {
		return err
	}
	counts := map[cfgtypes.ComplianceType]int{}
	for _, ev := range evals {
		counts[ev.ComplianceType]++
	}
	log.InfoContext(ctx, "evaluated", "evaluations", len(evals), "counts", counts, "not_evaluated", len(retry))
	if err := errors.Join(retry...); err != nil {
		return fmt.Errorf("evaluate for Config: %d load balancers could not be read: %w", len(retry), err)
	}
	return nil
}

func (e *Evaluator) orderingTime(d events.ConfigDecision) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, d.OrderingTime); err == nil {
		return t
	}
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// put sends evaluations in batches of 100.
func (e *Evaluator) put(ctx context.Context, token string, evals []cfgtypes.Evaluation) error {
	for batch := range slices.Chunk(evals, batchSize) {
		out, err := e.Config.PutEvaluations(ctx, &configservice.PutEvaluationsInput{ResultToken: aws.String(token), Evaluations: batch})
		if err != nil {
			return fmt.Errorf("put %d evaluations: %w", len(batch), err)
		}
		if n := len(out.FailedEvaluations); n > 0 {
			return fmt.Errorf("put evaluations: %d of %d failed, first %s", n, len(batch), aws.ToString(out.FailedEvaluations[0].ComplianceResourceId))
		}
	}
	return nil
}

// Evaluate maps one report to a Config evaluation; false when the load
// balancer could not be read (an API error: nothing is claimed).
func Evaluate(r engine.Report, when time.Time) (cfgtypes.Evaluation, bool) {
	typ, id := events.ConfigTypeClassic, r.Name
	if r.Type != engine.TypeClassic {
		typ, id = events.ConfigTypeV2, r.ARN
	}
	var ct cfgtypes.ComplianceType
	why := ""
	switch r.Status {
	case engine.StatusCompliant, engine.StatusRemediated:
		ct, why = cfgtypes.ComplianceTypeCompliant, "PROXY protocol on, mode "+string(r.Mode)
	case engine.StatusNonCompliant, engine.StatusRolledBack:
		ct, why = cfgtypes.ComplianceTypeNonCompliant, reasons(r)
	case engine.StatusError:
		if r.Err() != nil {
			return cfgtypes.Evaluation{}, false
		}
		ct, why = cfgtypes.ComplianceTypeNonCompliant, reasons(r)
	case engine.StatusNotApplicable:
		ct, why = cfgtypes.ComplianceTypeNotApplicable, "not a Classic ELB or NLB"
	case engine.StatusSkipped:
		ct, why = cfgtypes.ComplianceTypeNotApplicable, "out of elbguard's scope (mode off)"
	case engine.StatusGone:
		ct, why = cfgtypes.ComplianceTypeNotApplicable, "deleted"
	case engine.StatusExempt:
		ct, why = cfgtypes.ComplianceTypeNotApplicable, "exempt: "+reasons(r)
	default:
		ct, why = cfgtypes.ComplianceTypeNonCompliant, "status "+string(r.Status)+": "+reasons(r)
	}
	return evaluation(typ, id, ct, why, when), true
}

func evaluation(typ, id string, ct cfgtypes.ComplianceType, why string, when time.Time) cfgtypes.Evaluation {
	return cfgtypes.Evaluation{
		ComplianceResourceType: aws.String(typ),
		ComplianceResourceId:   aws.String(id),
		ComplianceType:         ct,
		Annotation:             aws.String(Annotation(why)),
		OrderingTimestamp:      aws.Time(when),
	}
}

// reasons joins a report's finding details.
func reasons(r engine.Report) string {
	parts := make([]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		parts = append(parts, f.Detail)
	}
	if len(parts) == 0 {
		return "no details"
	}
	return strings.Join(parts, "; ")
}

// Annotation cuts s to Config's 256 characters, ending in "..." when cut.
func Annotation(s string) string {
	r := []rune(s)
	if len(r) <= MaxAnnotation {
		return s
	}
	return string(r[:MaxAnnotation-3]) + "..."
}

// HandleEvent is Handle for the Lambda runtime, which decodes the payload
// into a json.RawMessage.
func (e *Evaluator) HandleEvent(ctx context.Context, raw json.RawMessage) error {
	return e.Handle(ctx, raw)
}
