package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// deadFleet is a fleet whose every AWS call reaches a server that counts
// and refuses it.
func deadFleet(t testing.TB) (*Fleet, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}}
	p, err := awsclient.NewProvider(base, awsclient.ProviderConfig{Home: "999999999999"})
	if err != nil {
		t.Fatal(err)
	}
	scope, err := NewScope(OrgConfig{Accounts: []string{"111111111111"}}, "999999999999", "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Fleet{Provider: p, Scope: scope}, &calls
}

// TestWorkerDropsBadUnits: malformed and out-of-scope units are logged and
// dropped (not redelivered), with no AWS call.
func TestWorkerDropsBadUnits(t *testing.T) {
	fleet, calls := deadFleet(t)
	var logs bytes.Buffer
	w := &Worker{Fleet: fleet, Queue: &fakeQueue{}, QueueURL: "https://q", Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	bodies := map[string]string{
		"not json":         "{",
		"array":            `[1]`,
		"outsider":         `{"account":"444444444444","region":"us-east-1"}`,
		"malformed":        `{"account":"1","region":"us-east-1"}`,
		"unguarded region": `{"account":"111111111111","region":"eu-west-1"}`,
		"huge":             strings.Repeat(" ", 300_000) + "{}",
	}
	var ev awsevents.SQSEvent
	for id, b := range bodies {
		ev.Records = append(ev.Records, awsevents.SQSMessage{MessageId: id, Body: b})
	}
	resp, err := w.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("got %+v, %v; want every bad unit dropped", resp, err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("got %d AWS calls; want none", n)
	}
	for _, want := range []string{"bad input: unit not handled and not retried", "account 444444444444 is not in the configured accounts", `malformed account id \"1\"`, "region eu-west-1 is not guarded"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

// TestWorkerUnreachableSpokeIsAReport: a spoke whose role cannot be assumed
// is an error report for it, not a redelivery.
func TestWorkerUnreachableSpokeIsAReport(t *testing.T) {
	fleet, _ := deadFleet(t)
	var logs, metrics bytes.Buffer
	w := &Worker{Fleet: fleet, Queue: &fakeQueue{}, QueueURL: "https://q", Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &metrics}
	resp, err := w.Handle(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{{MessageId: "m", Body: `{"account":"111111111111","region":"us-east-1"}`}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("got %+v, %v; want done", resp, err)
	}
	if !strings.Contains(logs.String(), `"account":"111111111111","region":"us-east-1","processed":1,"counts":{"error":1}`) {
		t.Errorf("logs lack the account summary with one error:\n%s", logs.String())
	}
	if !strings.Contains(metrics.String(), `"Account":"111111111111"`) || !strings.Contains(metrics.String(), `"Error":1`) {
		t.Errorf("metrics %s; want one error for 111111111111", metrics.String())
	}
}

func TestRest(t *testing.T) {
	if rest(&engine.Result{}) != nil {
		t.Errorf("complete run: got a continuation")
	}
	res := &engine.Result{Incomplete: true, Remaining: &engine.Targets{Classic: []string{"c"}}, Reports: []engine.Report{
		{Name: "done", Type: engine.TypeClassic, Status: engine.StatusRemediated},
	}}
	got := rest(res)
	if got == nil || len(got.Classic) != 1 || got.Classic[0] != "c" {
		t.Errorf("got %+v; want the one unreached", got)
	}
}

// FuzzWorkerUnit feeds arbitrary message bodies to the sweep worker: it must
// never panic, and must never ask for a redelivery of a body it cannot use.
func FuzzWorkerUnit(f *testing.F) {
	for _, s := range []string{`{"account":"111111111111","region":"us-east-1"}`, `{"account":"111111111111","region":"us-east-1","remaining":{"Classic":["a"]},"part":3}`,
		`{"account":"1","region":"x"}`, `{}`, `null`, `[]`, `"s"`, `{"account":["x"]}`, `{"remaining":{"Classic":"a"}}`} {
		f.Add(s)
	}
	fleet, _ := deadFleet(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := &Worker{Fleet: fleet, Queue: &fakeQueue{}, QueueURL: "https://q"}
		resp, err := w.Handle(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{{MessageId: "m", Body: body}}})
		if err != nil {
			t.Fatalf("got %v; want no error", err)
		}
		var u Unit
		if json.Unmarshal([]byte(body), &u) != nil && len(resp.BatchItemFailures) != 0 {
			t.Errorf("undecodable body %q redelivered", body)
		}
	})
}
