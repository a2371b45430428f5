//go:build integration

package test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
	"github.com/elbguard/elbguard/test/harness"
)

// Names and ARNs used in events/testdata that enfSampleEvent rewrites.
const (
	enfSampleClassic = "web-classic"
	enfSampleNLB     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge-nlb/50dc6c495c0c9188"
	enfSampleTG      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-tcp/73e2d6bc24d8a067"
	enfSampleSelf    = "arn:aws:iam::123456789012:role/service-role/ElbGuard-EnforcerRole1234"
)

// enfSampleEvent loads a realistic CloudTrail event from events/testdata and
// points it at the enfFleet's resources.
func enfSampleEvent(t *testing.T, file string, replace ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.Root(t), "events", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(raw)))
}

// TestEnforceHandler calls the enforcer handler in process with realistic
// events against moto, and counts the API calls of one event on an already
// compliant Classic ELB.
func TestEnforceHandler(t *testing.T) {
	m := harness.StartMoto(t)
	f := enfCreateFleet(t, m)
	counter := awscount.New()
	clients := awsclient.FromConfig(m.Config(t), counter.Instrument)
	eng, err := fleet.NewEngine(clients, engine.Config{}, nil) // as the Lambdas build it: readiness gate included
	if err != nil {
		t.Fatal(err)
	}
	self, err := fleet.SelfARN(enfCtxT(t), "", clients.STS)
	if err != nil {
		t.Fatal(err)
	}
	var logs, metrics bytes.Buffer
	h := &fleet.Enforcer{Engine: eng, SelfARN: self, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &metrics}
	ctx := lambdacontext.NewContext(enfCtxT(t), &lambdacontext.LambdaContext{AwsRequestID: "11111111-2222-3333-4444-555555555555"})

	tests := []struct {
		name       string
		event      []byte
		wantKind   events.Kind
		wantStatus map[string]engine.Status
	}{
		{"classic create", enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, enfWebEnforce), events.KindReconcile,
			map[string]engine.Status{enfWebEnforce: engine.StatusRemediated}},
		{"classic add enfTags on untagged", enfSampleEvent(t, "classic_add_tags.json", enfSampleClassic, enfWebUntagged), events.KindReconcile,
			map[string]engine.Status{enfWebUntagged: engine.StatusSkipped}},
		{"nlb create", enfSampleEvent(t, "v2_create_nlb.json", enfSampleNLB, f.nlb), events.KindReconcile,
			map[string]engine.Status{"edge-nlb": engine.StatusRemediated}},
		{"alb create", enfSampleEvent(t, "v2_create_alb.json", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-alb/8e4497da625e2d8a", f.alb), events.KindReconcile,
			map[string]engine.Status{"web-alb": engine.StatusNotApplicable}},
		{"target group attributes resolve the target group", enfSampleEvent(t, "v2_modify_target_group_attributes.json", enfSampleTG, f.tgs["edge-tls"]), events.KindReconcile,
			map[string]engine.Status{"edge-nlb": engine.StatusCompliant}},
		// Registering a target re-checks the readiness gate; without a
		// recheck queue (in process) at once, its load balancer compliant.
		{"register targets resolve the target group", enfSampleEvent(t, "v2_register_targets.json", enfSampleTG, f.tgs["edge-tls"]), events.KindReconcile,
			map[string]engine.Status{"edge-nlb": engine.StatusCompliant}},
		{"tag change on resource", enfSampleEvent(t, "tag_change_classic.json", enfSampleClassic, enfWebSSL), events.KindReconcile,
			map[string]engine.Status{enfWebSSL: engine.StatusRemediated}},
		{"deleted load balancer", enfSampleEvent(t, "classic_delete_listeners.json", enfSampleClassic, "deleted-lb"), events.KindReconcile,
			map[string]engine.Status{"deleted-lb": engine.StatusGone}},
		{"own call (moto's caller identity)", enfSampleEvent(t, "classic_create_listeners.json", enfSampleClassic, enfWebAudit,
			`"arn": "arn:aws:iam::123456789012:role/PlatformAdmin"`, `"arn": "`+self+`"`), events.KindIgnored, nil},
		{"failed call", enfSampleEvent(t, "classic_failed_call.json", enfSampleClassic, enfWebAudit), events.KindIgnored, nil},
		{"unknown event", enfSampleEvent(t, "unknown_ec2.json"), events.KindIgnored, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counter.Reset()
			out, err := h.Handle(ctx, tt.event)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if out.Decision.Kind != tt.wantKind {
				t.Fatalf("got decision %+v; want %s", out.Decision, tt.wantKind)
			}
			if tt.wantKind == events.KindIgnored {
				if calls, _ := counter.Totals(); calls != 0 {
					t.Errorf("ignored event made %d calls: %s", calls, counter)
				}
				return
			}
			got := map[string]engine.Status{}
			for _, r := range out.Result.Reports {
				got[r.Name] = r.Status
			}
			for name, want := range tt.wantStatus {
				if got[name] != want {
					t.Errorf("%s: got %s; want %s (all %v)", name, got[name], want, got)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), `"request_id":"11111111-2222-3333-4444-555555555555"`) {
		t.Errorf("logs lack the request id:\n%s", logs.String())
	}
	var emf map[string]any
	if line, _, _ := strings.Cut(metrics.String(), "\n"); json.Unmarshal([]byte(line), &emf) != nil || emf["_aws"] == nil {
		t.Errorf("metrics: got %q; want EMF lines", metrics.String())
	}

	// The number for the closing note: one event on an already compliant
	// Classic ELB (target: at most 4 reads, 0 writes).
	for _, lb := range []string{enfWebEnforce, enfWebSSL} {
		counter.Reset()
		out, err := h.Handle(ctx, enfSampleEvent(t, "classic_add_tags.json", enfSampleClassic, lb))
		if err != nil || out.Result.Reports[0].Status != engine.StatusCompliant {
			t.Fatalf("%s: got %+v, %v; want compliant", lb, out, err)
		}
		calls, mutating := counter.Totals()
		t.Logf("one AddTags event on compliant Classic ELB %s: %d calls (%d mutating):\n%s", lb, calls, mutating, counter)
		if calls > 4 || mutating != 0 {
			t.Errorf("%s: got %d calls, %d mutating; want at most 4 reads and 0 writes", lb, calls, mutating)
		}
	}
}

// TestEnforceCLIHandle runs `elbguard handle` on event files and stdin: the
// Lambda's own code path in the real binary.
func TestEnforceCLIHandle(t *testing.T) {
	m := harness.StartMoto(t)
	enfCreateFleet(t, m)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	create := write("create.json", enfSampleEvent(t, "classic_create_load_balancer.json", enfSampleClassic, enfWebEnforce))

	dry := enfRunCLI(t, m, nil, "handle", "--dry-run", "--output", "json", create)
	var out fleet.Outcome
	if err := json.Unmarshal([]byte(dry.Stdout), &out); err != nil || dry.Code != 0 {
		t.Fatalf("handle --dry-run: exit %d, %v\n%s\n%s", dry.Code, err, dry.Stdout, dry.Stderr)
	}
	if out.Result.Reports[0].Status != engine.StatusNonCompliant {
		t.Errorf("dry run: got %s; want non_compliant", out.Result.Reports[0].Status)
	}

	res := enfRunCLI(t, m, nil, "handle", create)
	if res.Code != 0 || !strings.Contains(res.Stdout, "remediated") {
		t.Errorf("handle: got exit %d\n%s\n%s; want 0 and remediated", res.Code, res.Stdout, res.Stderr)
	}

	// The enforcer's own role, from ELBGUARD_SELF_ROLE_ARN: ignored.
	self := enfRunCLI(t, m, []string{"ELBGUARD_SELF_ROLE_ARN=" + enfSampleSelf}, "handle", "--output", "json",
		write("self.json", enfSampleEvent(t, "classic_self_caused.json", enfSampleClassic, enfWebAudit)))
	if self.Code != 0 || !strings.Contains(self.Stdout, "caused by elbguard itself") {
		t.Errorf("self-caused: got exit %d\n%s\n%s", self.Code, self.Stdout, self.Stderr)
	}

	// Standard input, an unhandled event.
	bin := harness.Build(t, "./cmd/elbguard")
	stdin := harness.Run(t, enfCtxTimeout, bin, []string{"handle", "-"}, harness.WithEnv(m.Env()...), harness.WithStdin(enfSampleEvent(t, "v2_delete_load_balancer.json")))
	if stdin.Code != 0 || !strings.Contains(stdin.Stdout, "ignored") {
		t.Errorf("stdin: got exit %d\n%s\n%s", stdin.Code, stdin.Stdout, stdin.Stderr)
	}

	// Malformed input: exit 2, nothing changed.
	bad := enfRunCLI(t, m, nil, "handle", write("bad.json", []byte(`{"detail-type": 42`)))
	if bad.Code != 2 || !strings.Contains(bad.Stderr, "malformed event") {
		t.Errorf("malformed: got exit %d\n%s", bad.Code, bad.Stderr)
	}
}
