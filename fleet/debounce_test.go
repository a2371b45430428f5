package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// fifoQueue behaves as an SQS FIFO queue within one deduplication window:
// a message whose MessageDeduplicationId it already holds is accepted and
// dropped.
type fifoQueue struct {
	mu   sync.Mutex
	sent int
	msgs []string
	ids  map[string]bool
}

func (q *fifoQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent++
	if aws.ToString(in.MessageGroupId) == "" || aws.ToString(in.MessageDeduplicationId) == "" {
		return nil, fmt.Errorf("fifo: MessageGroupId and MessageDeduplicationId are required")
	}
	if id := aws.ToString(in.MessageDeduplicationId); !q.ids[id] {
		q.ids[id] = true
		q.msgs = append(q.msgs, aws.ToString(in.MessageBody))
	}
	return &sqs.SendMessageOutput{}, nil
}

// batch is the SQS event the queue's messages arrive in.
func (q *fifoQueue) batch(t *testing.T) []byte {
	t.Helper()
	var recs []map[string]string
	for i, m := range q.msgs {
		recs = append(recs, map[string]string{"messageId": fmt.Sprint("m", i), "eventSource": "aws:sqs", "body": m})
	}
	raw, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestScaleOutIsOneEvaluation: Auto Scaling registers 50 instances one call
// at a time; the enforcer reconciles the load balancer once, after them.
func TestScaleOutIsOneEvaluation(t *testing.T) {
	acct := &emptyAccount{}
	h, _, _ := newHandler(t, acct)
	q := &fifoQueue{ids: map[string]bool{}}
	h.Debouncer = &SQSDebouncer{Client: q, QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/recheck.fifo"}
	for i := range 50 {
		raw := reshape(t, sample(t, "classic_register_instances.json"), func(ev map[string]any) {
			ev["id"] = fmt.Sprintf("event-%d", i)
			detail(ev)["requestParameters"].(map[string]any)["instances"] = []any{map[string]any{"instanceId": fmt.Sprintf("i-%017d", i)}}
		})
		out, err := h.Handle(context.Background(), raw)
		if err != nil || !out.Debounced || out.Result != nil {
			t.Fatalf("event %d: got %+v, %v; want debounced, not reconciled", i, out, err)
		}
	}
	if acct.calls != 0 || q.sent != 50 || len(q.msgs) != 1 {
		t.Fatalf("got %d engine calls, %d sent, %d queued; want 0, 50, 1", acct.calls, q.sent, len(q.msgs))
	}
	out, err := h.Handle(context.Background(), q.batch(t))
	if err != nil || out.Result == nil || out.Decision.Kind != "reconcile" {
		t.Fatalf("got %+v, %v; want one reconcile", out, err)
	}
	if acct.calls != 1 {
		t.Errorf("got %d DescribeLoadBalancers calls; want 1 (one evaluation of web-classic)", acct.calls)
	}
}

// TestRegistrationWithoutDebouncer: the CLI (no queue) reconciles a
// registration at once, and so does the enforcer when the queue refuses it.
func TestRegistrationWithoutDebouncer(t *testing.T) {
	for _, name := range []string{"no debouncer", "queue refuses"} {
		t.Run(name, func(t *testing.T) {
			acct := &emptyAccount{}
			h, _, _ := newHandler(t, acct)
			if name == "queue refuses" {
				h.Debouncer = refusing{}
			}
			out, err := h.Handle(context.Background(), sample(t, "classic_register_instances.json"))
			if err != nil || out.Debounced || out.Result == nil || acct.calls != 1 {
				t.Errorf("got %+v, %v, %d calls; want reconciled at once", out, err, acct.calls)
			}
		})
	}
}

type refusing struct{}

func (refusing) Debounce(context.Context, Recheck) error { return fmt.Errorf("AccessDenied") }
