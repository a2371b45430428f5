package fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// Registration debounce. Auto Scaling registers the instances of a
// scale-out one call at a time, each a CloudTrail event (events marks them
// Decision.Debounce). Instead of a reconcile per event, the enforcer sends
// one message per load balancer to an SQS FIFO queue whose deduplication
// (5 minutes, by MessageDeduplicationId) drops the repeats, and whose
// delivery delay is at least as long as that window: every registration is
// either the first of its window or deduplicated against a message that is
// delivered after it, so every registration is followed by one reconcile
// that sees it, and a scale-out of 50 instances in five minutes is one.
const (
	// EnvRecheckQueueURL is the FIFO queue the coalesced reconciles go to;
	// empty: each registration event is reconciled at once (the CLI).
	EnvRecheckQueueURL = "ELBGUARD_RECHECK_QUEUE_URL"
	// RecheckDelaySeconds is the queue's delivery delay: SQS's FIFO
	// deduplication window, 300 s (the infra sets it on the queue; FIFO
	// queues take no per-message delay).
	RecheckDelaySeconds = 300
)

// recheckKey marks an SQS message body as an elbguard recheck.
const recheckKey = "elbguard_recheck"

// Recheck is a reconcile coalesced from registration events: the load
// balancers they name, in the account and region they happened in (empty
// in a single-account deployment: the enforcer's own).
type Recheck struct {
	Account      string   `json:"account,omitempty"`
	Region       string   `json:"region,omitempty"`
	Classic      []string `json:"classic,omitempty"`
	TargetGroups []string `json:"target_groups,omitempty"`
}

// key identifies what rc reconciles: equal keys are one reconcile.
func (rc Recheck) key() string {
	return strings.Join([]string{rc.Account, rc.Region,
		strings.Join(slices.Sorted(slices.Values(rc.Classic)), ","),
		strings.Join(slices.Sorted(slices.Values(rc.TargetGroups)), ",")}, "|")
}

// Debouncer coalesces rechecks.
type Debouncer interface {
	Debounce(ctx context.Context, rc Recheck) error
}

// SQSDebouncer sends rechecks to a FIFO queue, deduplicated by what they
// reconcile (see EnvRecheckQueueURL).
type SQSDebouncer struct {
	Client   SQSSender
	QueueURL string
}

// Debounce sends rc; SQS drops it when the same recheck was sent in the
// last five minutes.
func (s *SQSDebouncer) Debounce(ctx context.Context, rc Recheck) error {
	body, err := json.Marshal(map[string]Recheck{recheckKey: rc})
	if err != nil {
		return fmt.Errorf("encode recheck: %w", err)
	}
	sum := sha256.Sum256([]byte(rc.key()))
	id := hex.EncodeToString(sum[:])
	_, err = s.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(s.QueueURL),
		MessageBody:            aws.String(string(body)),
		MessageGroupId:         aws.String(id),
		MessageDeduplicationId: aws.String(id),
	})
	if err != nil {
		return fmt.Errorf("queue recheck of %s: %w", rc.key(), err)
	}
	return nil
}

// DebouncerFromEnv returns the debouncer on ELBGUARD_RECHECK_QUEUE_URL, or
// nil when it is unset.
func DebouncerFromEnv(getenv func(string) string, cfg aws.Config) Debouncer {
	url := strings.TrimSpace(getenv(EnvRecheckQueueURL))
	if url == "" {
		return nil
	}
	return &SQSDebouncer{Client: sqs.NewFromConfig(cfg), QueueURL: url}
}

// debounce hands a registration event to the debouncer. done is false when
// the event must be reconciled now: no debouncer, or the queue refused it
// (reconciling each event is slower, never wrong).
func (h *Enforcer) debounce(ctx context.Context, log *slog.Logger, o eventOrigin, out *Outcome) (done bool) {
	d := out.Decision
	if !d.Debounce || h.Debouncer == nil {
		return false
	}
	rc := Recheck{Account: o.Account, Region: o.Region, Classic: d.Classic, TargetGroups: d.TargetGroups}
	if h.Fleet == nil {
		rc.Account, rc.Region = "", ""
	}
	if err := h.Debouncer.Debounce(ctx, rc); err != nil {
		log.WarnContext(ctx, "recheck not queued; reconciling now", "error", err.Error())
		return false
	}
	out.Debounced = true
	log.InfoContext(ctx, "registration coalesced into a recheck", "classic", d.Classic, "target_groups", d.TargetGroups)
	return true
}

// recheck runs the rechecks of one SQS batch: one reconcile per account and
// region, of every load balancer the batch names there.
func (h *Enforcer) recheck(ctx context.Context, rs []Recheck, bad []string) (*Outcome, error) {
	log := requestLogger(ctx, h.Log)
	for _, id := range bad {
		log.ErrorContext(ctx, "bad input: SQS message is not an elbguard message; dropped", "message_id", id)
	}
	byLoc := map[[2]string]*engine.Targets{}
	var locs [][2]string
	for _, rc := range rs {
		loc := [2]string{rc.Account, rc.Region}
		if h.Fleet == nil {
			loc = [2]string{}
		}
		t := byLoc[loc]
		if t == nil {
			t = &engine.Targets{}
			byLoc[loc] = t
			locs = append(locs, loc)
		}
		t.Classic = append(t.Classic, rc.Classic...)
		t.TargetGroups = append(t.TargetGroups, rc.TargetGroups...)
	}
	out := &Outcome{Decision: events.Decision{Kind: events.KindReconcile, EventName: "Recheck", Reason: "instances registered (coalesced)"}}
	res := &engine.Result{Counts: map[engine.Status]int{}}
	var runErr error
	for _, loc := range locs {
		eng := h.Engine
		var part *engine.Result
		if h.Fleet != nil && loc[0] != "" {
			e, err := h.Fleet.Engine(ctx, loc[0], loc[1])
			if err != nil {
				part = LocationError(loc[0], loc[1], err)
			}
			eng = e
		}
		if part == nil {
			var err error
			if part, err = eng.Reconcile(ctx, *byLoc[loc]); err != nil {
				runErr = cmp.Or(runErr, err)
				continue
			}
		}
		res.Reports = append(res.Reports, part.Reports...)
		res.Found += part.Found
		res.Processed += part.Processed
		for s, n := range part.Counts {
			res.Counts[s] += n
		}
	}
	publish(ctx, log, h.Publisher, res, TriggerOf(out.Decision), h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
	return finish(ctx, log, out, res, runErr, h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
}
