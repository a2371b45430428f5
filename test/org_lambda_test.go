//go:build integration

package test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/harness"
)

// orgInvokeRaw posts payload to a Lambda under the runtime emulator and
// decodes its answer into out.
func orgInvokeRaw(t *testing.T, url string, payload []byte, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(enfCtxT(t), http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, out) != nil {
		t.Fatalf("invoke: got %s %s", resp.Status, body)
	}
}

// orgQueue creates the sweep queue in moto (the hub's account).
func orgQueue(t *testing.T, r *orgRig) (*sqs.Client, string) {
	t.Helper()
	c := sqs.NewFromConfig(r.m.Config(t))
	out, err := c.CreateQueue(enfCtxT(t), &sqs.CreateQueueInput{QueueName: aws.String("elbguard-sweep")})
	if err != nil {
		t.Fatal(err)
	}
	return c, aws.ToString(out.QueueUrl)
}

// orgDrain receives every message on the queue as the SQS event source
// would, in batches of up to 10, hands each batch to deliver, and deletes
// the messages deliver does not report as failed. It returns the bodies.
func orgDrain(t *testing.T, c *sqs.Client, url string, deliver func(events.SQSEvent) events.SQSEventResponse) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := c.ReceiveMessage(enfCtxT(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 600})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", AWSRegion: "us-east-1"})
		}
		resp := deliver(ev)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch item failures %+v (the handler's log is the test's to print)", resp.BatchItemFailures)
		}
		for _, m := range out.Messages {
			if _, err := c.DeleteMessage(enfCtxT(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestOrgLambdas runs the three Lambda bootstraps of a hub under the runtime
// emulator against moto: the enforcer fixes a spoke's load balancer from
// that spoke's event and ignores an outsider's; the sweeper fans a sweep out
// onto SQS, one unit per account and region; the sweep worker runs the
// units, fixing every reachable location, the spoke without a role failing
// alone, and logs a summary per account and region.
func TestOrgLambdas(t *testing.T) {
	r := orgStart(t, nil, nil, 0)
	sq, queue := orgQueue(t, r)
	env := r.env("ELBGUARD_ACCOUNTS="+strings.Join(orgSpokes, ","), "ELBGUARD_REGIONS="+strings.Join(orgRegions, ","),
		"ELBGUARD_SWEEP_QUEUE_URL="+queue)

	url, enforcer := enfStartLambda(t, r.m, "./functions/enforcer", env...)
	out := enfInvoke(t, url, orgEvent(t, "111111111111", "us-east-1", orgWeb))
	if out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != engine.StatusRemediated ||
		out.Result.Reports[0].Account != "111111111111" || out.Result.Reports[0].Region != "us-east-1" {
		t.Fatalf("enforcer: got %+v; want web remediated in 111111111111/us-east-1", out.Result)
	}
	if where := r.fixedWhere(t, orgWeb); !slices.Equal(where, []string{"111111111111/us-east-1"}) {
		t.Errorf("after the event: web fixed in %v; want 111111111111/us-east-1 only", where)
	}
	before := r.assumeRoles()
	outsider := enfInvoke(t, url, orgEvent(t, "444444444444", "us-east-1", orgWeb))
	if outsider.Decision.Kind != "ignored" || !strings.Contains(outsider.Decision.Reason, "not in the configured accounts") || r.assumeRoles() != before {
		t.Errorf("outsider: got %+v and %d AssumeRole; want ignored with a reason and none", outsider, r.assumeRoles()-before)
	}
	enfWaitLog(t, enforcer, `"reason":"account 444444444444 is not in the configured accounts"`)

	sweepURL, _ := enfStartLambda(t, r.m, "./functions/sweeper", env...)
	sweep := enfInvoke(t, sweepURL, enfSampleEvent(t, "scheduled.json"))
	if sweep.Enqueued != 8 || sweep.Result != nil {
		t.Fatalf("sweeper: got %+v; want 8 units enqueued (4 accounts x 2 regions) and no run", sweep)
	}

	workerURL, worker := enfStartLambda(t, r.m, "./functions/sweepworker", env...)
	bodies := orgDrain(t, sq, queue, func(ev events.SQSEvent) events.SQSEventResponse {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		orgInvokeRaw(t, workerURL, raw, &resp)
		return resp
	})
	var units []string
	for _, b := range bodies {
		var u fleet.Unit
		if err := json.Unmarshal([]byte(b), &u); err != nil {
			t.Fatalf("unit %q: %v", b, err)
		}
		units = append(units, u.Account+"/"+u.Region)
	}
	slices.Sort(units)
	want := orgLocations(append([]string{orgHub}, orgSpokes...)...)
	slices.Sort(want)
	if !slices.Equal(units, want) {
		t.Errorf("units: got %v; want %v", units, want)
	}
	if where, want := r.fixedWhere(t, orgWeb), orgLocations(orgHub, orgSpokes[0], orgSpokes[1]); !slices.Equal(where, want) {
		t.Errorf("after the sweep: web fixed in %v; want %v", where, want)
	}
	for _, loc := range want {
		account, region, _ := strings.Cut(loc, "/")
		enfWaitLog(t, worker, `"msg":"account summary","request_id":`)
		enfWaitLog(t, worker, `"account":"`+account+`","region":"`+region+`","processed":`)
	}
	enfWaitLog(t, worker, `"account":"333333333333","region":"eu-west-1","processed":1,"counts":{"error":1}`)
	enfWaitLog(t, worker, `"Account":"222222222222"`)
	enfWaitLog(t, worker, `"CloudWatchMetrics":[{"Dimensions":[["Function"]]`)
}

// TestOrgWorkerResumes runs a unit in process with too little time for it:
// the worker stops before the deadline, puts the rest of the unit back on
// the queue as a continuation, and a second delivery finishes it.
func TestOrgWorkerResumes(t *testing.T) {
	r := orgStart(t, []string{orgHub, "111111111111"}, []string{"us-east-1"}, 8)
	sq, queue := orgQueue(t, r)
	for _, kv := range r.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	org := fleet.OrgConfig{Accounts: []string{"111111111111"}, QueueURL: queue}
	org.Limits.Describe, org.Limits.Mutate = 1, 2
	cfg := engine.Config{StopBefore: time.Second, Concurrency: 1, MaxChanges: engine.MaxBudget} // the continuation, not the change budget, is under test
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	fl, err := fleet.NewFleet(enfCtxT(t), r.m.Config(t), org, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	w := &fleet.Worker{Fleet: fl, Queue: sq, QueueURL: queue, Log: log}
	unit, _ := json.Marshal(fleet.Unit{Account: "111111111111", Region: "us-east-1"})

	// 2.5 s: enough to start (twice StopBefore); listing and reading tags
	// at one describe call a second (3 calls) pass the stop at 1.5 s, so
	// the run stops before its first load balancer.
	ctx, cancel := contextWithTimeout(t, 2500*time.Millisecond)
	resp, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(unit)}}})
	cancel()
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("first delivery: got %+v, %v; want done with a continuation\n%s", resp, err, logs.String())
	}
	var parts []fleet.Unit
	orgDrain(t, sq, queue, func(ev events.SQSEvent) events.SQSEventResponse {
		for _, rec := range ev.Records {
			var u fleet.Unit
			if err := json.Unmarshal([]byte(rec.Body), &u); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, u)
		}
		// A Lambda's 15 minutes, not the test's minute: a listener swap
		// starts only with its whole 40 s left, and at 2 writes a second
		// (write-ahead records included) the first swaps take a while.
		ctx, cancel := contextWithTimeout(t, 5*time.Minute)
		defer cancel()
		resp, err := w.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) > 0 {
			t.Logf("worker log:\n%s", logs.String())
		}
		return resp
	})
	if len(parts) == 0 || parts[0].Part != 1 || parts[0].Remaining == nil || len(parts[0].Remaining.Classic) == 0 {
		t.Fatalf("continuations: got %+v; want part 1 naming the load balancers left\n%s", parts, logs.String())
	}
	t.Logf("continuation part 1 named %d of 10 load balancers", len(parts[0].Remaining.Classic))
	if !r.fixed(t, "111111111111", "us-east-1", orgWeb) || !r.fixed(t, "111111111111", "us-east-1", "web-007") {
		t.Errorf("after the continuation: not every load balancer fixed\n%s", logs.String())
	}
	if r.fixed(t, orgHub, "us-east-1", orgWeb) {
		t.Errorf("the hub's web was fixed by a unit of 111111111111")
	}
	harness.WaitContains(t, time.Second, "worker log", logs.String, `"msg":"unit continues"`)
}
