package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// Environment variables of the delayed health verification (see engine.Verify).
const (
	EnvVerifyQueueURL = "ELBGUARD_VERIFY_QUEUE_URL" // SQS queue the checks are sent to; empty: no verification
	EnvVerifyWindow   = "ELBGUARD_VERIFY_WINDOW"    // delay before the check: 1s..900s (Go duration or seconds); default 90s
)

// Verification window: the default, and SQS's largest message delay.
const (
	DefaultVerifyWindow = 90 * time.Second
	MaxVerifyWindow     = 900 * time.Second
)

// verificationKey marks an SQS message body as an elbguard verification.
const verificationKey = "elbguard_verification"

// SQSSender is the SQS call SQSScheduler uses (*sqs.Client satisfies it).
type SQSSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSScheduler queues engine verifications as SQS messages delayed by
// Window: the queue is the enforcer's event source, so the check runs in a
// later invocation and no invocation waits for the window.
type SQSScheduler struct {
	Client   SQSSender
	QueueURL string
	// Window is the message delay. Zero: DefaultVerifyWindow. At most 900 s.
	Window time.Duration
}

// Schedule sends v with the window as the message delay.
func (s *SQSScheduler) Schedule(ctx context.Context, v engine.Verification) error {
	body, err := json.Marshal(map[string]engine.Verification{verificationKey: v})
	if err != nil {
		return fmt.Errorf("encode verification of %s: %w", v.Name, err)
	}
	w := s.Window
	if w == 0 {
		w = DefaultVerifyWindow
	}
	_, err = s.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.QueueURL),
		MessageBody: aws.String(string(body)),
		// At least as long as the health checks need to see harm.
		DelaySeconds: int32(min(max(w, time.Duration(v.MinDelaySeconds)*time.Second), MaxVerifyWindow) / time.Second),
	})
	if err != nil {
		return fmt.Errorf("queue verification of %s: %w", v.Name, err)
	}
	return nil
}

// VerifyWindowFromEnv reads ELBGUARD_VERIFY_WINDOW: a Go duration ("90s",
// "2m") or whole seconds, from 1 s to 900 s; default 90 s.
func VerifyWindowFromEnv(getenv func(string) string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(EnvVerifyWindow))
	if v == "" {
		return DefaultVerifyWindow, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		d, err = time.ParseDuration(v + "s")
	}
	if err != nil || d < time.Second || d > MaxVerifyWindow || d%time.Second != 0 {
		return 0, fmt.Errorf("%w: %s=%q; want whole seconds from 1s to 900s (SQS's largest delay)", ErrEnv, EnvVerifyWindow, v)
	}
	return d, nil
}

// VerifierFromEnv returns the engine option that queues verifications on
// ELBGUARD_VERIFY_QUEUE_URL, or none when it is unset.
func VerifierFromEnv(getenv func(string) string, cfg aws.Config) ([]engine.Option, error) {
	url := strings.TrimSpace(getenv(EnvVerifyQueueURL))
	w, err := VerifyWindowFromEnv(getenv)
	if err != nil || url == "" {
		return nil, err
	}
	return []engine.Option{engine.WithVerifier(&SQSScheduler{Client: sqs.NewFromConfig(cfg), QueueURL: url, Window: w})}, nil
}

// queued decodes raw as an SQS batch of verifications and rechecks
// (debounce.go); ok is false when raw is not an SQS event. Bodies that are
// neither are returned as bad, by message id.
func queued(raw json.RawMessage) (vs []engine.Verification, rs []Recheck, bad []string, ok bool) {
	var b awsevents.SQSEvent // the envelope the sweep worker reads too
	if json.Unmarshal(raw, &b) != nil || len(b.Records) == 0 {
		return nil, nil, nil, false
	}
	for _, rec := range b.Records {
		if rec.EventSource != "aws:sqs" {
			return nil, nil, nil, false
		}
		var rc map[string]*Recheck
		if json.Unmarshal([]byte(rec.Body), &rc) == nil && rc[recheckKey] != nil && len(rc[recheckKey].Classic)+len(rc[recheckKey].TargetGroups) > 0 {
			rs = append(rs, *rc[recheckKey])
			continue
		}
		var body map[string]*engine.Verification
		if err := json.Unmarshal([]byte(rec.Body), &body); err != nil || body[verificationKey] == nil || body[verificationKey].LoadBalancerArn == "" {
			bad = append(bad, rec.MessageId)
			continue
		}
		vs = append(vs, *body[verificationKey])
	}
	return vs, rs, bad, true
}

// verify runs the verifications of one SQS batch. A verification that could
// not read health for a retryable reason fails the batch, so SQS delivers it
// again (and, after the queue's receive count, to its dead-letter queue).
func (h *Enforcer) verify(ctx context.Context, vs []engine.Verification, bad []string) (*Outcome, error) {
	log := requestLogger(ctx, h.Log)
	for _, id := range bad {
		log.ErrorContext(ctx, "bad input: SQS message is not an elbguard verification; dropped", "message_id", id)
	}
	res := &engine.Result{Found: len(vs), Counts: map[engine.Status]int{}}
	for _, v := range vs {
		r := h.verifyOne(ctx, v)
		res.Reports = append(res.Reports, r)
		res.Counts[r.Status]++
	}
	res.Processed = len(res.Reports)
	out := &Outcome{Decision: events.Decision{Kind: events.KindReconcile, Reason: "delayed health verification"}}
	publish(ctx, log, h.Publisher, found(res), TriggerOf(out.Decision), h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
	return finish(ctx, log, out, res, nil, h.Metrics, cmp.Or(h.Function, FunctionEnforcer))
}

// found leaves out the verifications that found no target dropped: they
// checked only the target groups one run turned on, so their "compliant"
// says nothing of the rest of the load balancer and must not become a
// Security Hub PASSED over what the run itself reported.
func found(res *engine.Result) *engine.Result {
	out := &engine.Result{Counts: map[engine.Status]int{}}
	for _, r := range res.Reports {
		if r.Status == engine.StatusCompliant {
			continue
		}
		out.Reports = append(out.Reports, r)
		out.Counts[r.Status]++
	}
	out.Found, out.Processed = len(out.Reports), len(out.Reports)
	return out
}

// verifyOne runs one verification with the engine of the account and region
// it names (the hub's own when it names none, or in a single-account
// deployment).
func (h *Enforcer) verifyOne(ctx context.Context, v engine.Verification) engine.Report {
	if h.Fleet == nil || v.Account == "" {
		return h.Engine.Verify(ctx, v)
	}
	eng, err := h.Fleet.Engine(ctx, v.Account, v.Region)
	if err != nil {
		r := LocationError(v.Account, v.Region, err).Reports[0]
		r.Name, r.ARN, r.Type = v.Name, v.LoadBalancerArn, engine.TypeNetwork
		return r
	}
	return eng.Verify(ctx, v)
}
