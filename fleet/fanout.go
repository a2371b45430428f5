package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// FunctionSweepWorker names the sweep worker in logs. Its EMF metrics carry
// Function=sweeper, so that the sweeper's alarm covers a fanned-out sweep.
const FunctionSweepWorker = "sweepworker"

// UnitParallel is how many account-region units a sweeper without a queue
// (and the CLI) runs at once.
const UnitParallel = 8

// sqsSendMax is the most messages one SendMessageBatch call takes.
const sqsSendMax = 10

// maxRemaining bounds the load balancers one continuation message names,
// keeping it far below SQS's 256 KiB (an ELBv2 ARN is about 110 bytes).
const maxRemaining = 400

// QueueAPI is the SQS call the sweep fans out with.
type QueueAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Enqueue sends one message per unit onto the queue at url, splitting a
// unit whose Remaining is long, and returns how many it sent.
func Enqueue(ctx context.Context, q QueueAPI, url string, units []Unit) (int, error) {
	var split []Unit
	for _, u := range units {
		split = append(split, splitUnit(u)...)
	}
	sent := 0
	for batch := range slices.Chunk(split, sqsSendMax) {
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
		for i, u := range batch {
			body, err := json.Marshal(u)
			if err != nil {
				return sent, fmt.Errorf("encode unit %s/%s: %w", u.Account, u.Region, err)
			}
			in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))})
		}
		out, err := q.SendMessageBatch(ctx, in)
		if err != nil {
			return sent, fmt.Errorf("send %d units to the sweep queue: %w", len(batch), err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return sent + len(out.Successful), fmt.Errorf("send units to the sweep queue: %d of %d failed (first: %s %s)",
				len(out.Failed), len(batch), aws.ToString(f.Code), aws.ToString(f.Message))
		}
		sent += len(batch)
	}
	return sent, nil
}

// splitUnit cuts a continuation into units of at most maxRemaining names.
func splitUnit(u Unit) []Unit {
	if u.Remaining == nil || len(u.Remaining.Classic)+len(u.Remaining.LoadBalancers) <= maxRemaining {
		return []Unit{u}
	}
	var out []Unit
	for c := range slices.Chunk(u.Remaining.Classic, maxRemaining) {
		out = append(out, Unit{Account: u.Account, Region: u.Region, Part: u.Part, Remaining: &engine.Targets{Classic: c}})
	}
	for c := range slices.Chunk(u.Remaining.LoadBalancers, maxRemaining) {
		out = append(out, Unit{Account: u.Account, Region: u.Region, Part: u.Part, Remaining: &engine.Targets{LoadBalancers: c}})
	}
	return out
}

// sweepFleet is the sweeper of a hub: it fans the sweep out onto the queue,
// one unit per account and region, or runs the units itself without one.
func (h *Sweeper) sweepFleet(ctx context.Context, log *slog.Logger, out *Outcome) (*Outcome, error) {
	units, err := h.Fleet.Units(ctx)
	if err != nil {
		return finish(ctx, log, out, nil, err, nil, cmp.Or(h.Function, FunctionSweeper))
	}
	if h.Queue != nil {
		n, err := Enqueue(ctx, h.Queue, h.QueueURL, units)
		out.Enqueued = n
		if err != nil {
			return finish(ctx, log, out, nil, err, nil, cmp.Or(h.Function, FunctionSweeper))
		}
		log.InfoContext(ctx, "sweep fanned out", "units", n, "regions", h.Fleet.Scope.Regions())
		return out, nil
	}
	res := h.Fleet.RunAll(ctx, units, UnitParallel)
	Summarize(ctx, log, h.Metrics, res, cmp.Or(h.Function, FunctionSweeper))
	return finish(ctx, log, out, res, nil, nil, cmp.Or(h.Function, FunctionSweeper))
}

// Worker is the sweep worker Lambda: it runs the account-region units the
// sweeper put on the queue, resumes a unit that ran out of time by putting
// its remainder back, and reports the messages to retry as partial batch
// failures.
type Worker struct {
	Fleet    *Fleet
	Queue    QueueAPI
	QueueURL string
	// Log receives JSON logs. Nil: discard.
	Log *slog.Logger
	// Metrics receives one EMF line per unit. Nil: none.
	Metrics io.Writer
	// Publisher publishes each unit's run to the compliance sinks. Nil: none.
	Publisher *compliance.Publisher
}

// Handle runs each record's unit in turn. Records it cannot take (a
// retryable failure, or too little time left) are returned for SQS to
// redeliver; malformed or out-of-scope units are logged and dropped.
func (w *Worker) Handle(ctx context.Context, ev awsevents.SQSEvent) (awsevents.SQSEventResponse, error) {
	log := requestLogger(ctx, w.Log)
	resp := awsevents.SQSEventResponse{BatchItemFailures: []awsevents.SQSBatchItemFailure{}}
	stopBefore := 2 * w.Fleet.Config.WithDefaults().StopBefore
	for _, rec := range ev.Records {
		rlog := log.With("message_id", rec.MessageId)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < stopBefore {
			rlog.WarnContext(ctx, "unit left for redelivery: too little time", "left", time.Until(dl).String())
			resp.BatchItemFailures = append(resp.BatchItemFailures, awsevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		if !w.run(ctx, rlog, rec.Body) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, awsevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

// run handles one unit and reports whether its message is done (false:
// redeliver).
func (w *Worker) run(ctx context.Context, log *slog.Logger, body string) bool {
	var u Unit
	if len(body) > events.MaxEventBytes || json.Unmarshal([]byte(body), &u) != nil {
		log.ErrorContext(ctx, "bad input: unit not handled and not retried", "bytes", len(body))
		return true
	}
	reason, err := w.Fleet.Scope.Check(ctx, u.Account, u.Region)
	if err != nil {
		log.ErrorContext(ctx, "cannot check the unit's account", "account", u.Account, "error", err.Error())
		return !Retryable(err)
	}
	if reason != "" {
		log.WarnContext(ctx, "unit ignored", "reason", reason, "account", u.Account, "region", u.Region)
		return true
	}
	summary := log
	log = log.With("account", u.Account, "region", u.Region, "part", u.Part)
	res, err := w.Fleet.Run(ctx, u)
	if err != nil {
		log.ErrorContext(ctx, "unit failed", "error", err.Error(), "retryable", true)
		return false
	}
	continued := false
	if rest := rest(res); rest != nil {
		next := Unit{Account: u.Account, Region: u.Region, Remaining: rest, Part: u.Part + 1}
		n, err := Enqueue(context.WithoutCancel(ctx), w.Queue, w.QueueURL, []Unit{next})
		if err != nil {
			log.ErrorContext(ctx, "cannot enqueue the rest of the unit; the whole unit will be redelivered", "error", err.Error())
			return false
		}
		continued = true
		log.InfoContext(ctx, "unit continues", "remaining", len(rest.Classic)+len(rest.LoadBalancers), "messages", n)
	}
	Summarize(ctx, summary, w.Metrics, res, FunctionSweeper)
	publish(ctx, log, w.Publisher, res, TriggerOf(events.Decision{Kind: events.KindSweep}), w.Metrics, FunctionSweepWorker)
	_, err = finish(ctx, log, &Outcome{Decision: events.Decision{Kind: events.KindSweep}}, res, nil, nil, FunctionSweepWorker)
	// A continuation carries the retryable failures too: nothing to redeliver.
	return err == nil || continued
}

// rest is what a stopped run leaves for a continuation: the load balancers
// it did not reach and those that failed for a retryable reason (the
// deadline cut them short). Nil when the run was complete.
func rest(res *engine.Result) *engine.Targets {
	if !res.Incomplete || res.Remaining == nil {
		return nil
	}
	t := &engine.Targets{Classic: slices.Clone(res.Remaining.Classic), LoadBalancers: slices.Clone(res.Remaining.LoadBalancers)}
	for _, r := range res.Reports {
		if !Retryable(r.Err()) {
			continue
		}
		if r.ARN != "" {
			t.LoadBalancers = append(t.LoadBalancers, r.ARN)
		} else if r.Type == engine.TypeClassic {
			t.Classic = append(t.Classic, r.Name)
		}
	}
	if len(t.Classic)+len(t.LoadBalancers) == 0 {
		return nil
	}
	return t
}

// Summarize logs one "account summary" line per account and region of res
// and writes one EMF line for each. The metrics keep the Function dimension
// only; Account and Region are EMF properties (searchable in CloudWatch Logs
// Insights, no metric per account and region), so that 500 accounts in 17
// regions do not make 90,000 custom metrics.
func Summarize(ctx context.Context, log *slog.Logger, metrics io.Writer, res *engine.Result, function string) {
	type loc struct{ account, region string }
	groups := map[loc]*engine.Result{}
	var order []loc
	for _, r := range res.Reports {
		k := loc{r.Account, r.Region}
		g := groups[k]
		if g == nil {
			g = &engine.Result{Counts: map[engine.Status]int{}}
			groups[k] = g
			order = append(order, k)
		}
		g.Reports = append(g.Reports, r)
		g.Found++
		g.Processed++
		g.Counts[r.Status]++
	}
	for _, k := range order {
		g := groups[k]
		log.InfoContext(ctx, "account summary", "account", k.account, "region", k.region, "processed", g.Processed, "counts", g.Counts)
		if metrics == nil {
			continue
		}
		line, err := EMFLocation(g, function, k.account, k.region, time.Now())
		if err == nil {
			_, err = fmt.Fprintf(metrics, "%s\n", line)
		}
		if err != nil {
			log.ErrorContext(ctx, "write metrics", "error", err.Error())
		}
	}
}

// EMFLocation is EMF with the account and region as properties (not
// dimensions).
func EMFLocation(res *engine.Result, function, account, region string, now time.Time) ([]byte, error) {
	line, err := EMF(res, function, now)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		return nil, fmt.Errorf("decode EMF: %w", err)
	}
	doc["Account"], doc["Region"] = account, region
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode EMF: %w", err)
	}
	return b, nil
}
