package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var alice = compliance.Trigger{Kind: compliance.TriggerEvent, EventName: "AddTags",
	Caller: "arn:aws:sts::123456789012:assumed-role/PlatformAdmin/alice"}

func reports(t *testing.T) map[string]engine.Report {
	t.Helper()
	raw, err := os.ReadFile("testdata/reports.json")
	if err != nil {
		t.Fatal(err)
	}
	var rs map[string]engine.Report
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestCompose(t *testing.T) {
	rs := reports(t)
	failed := rs["classic_remediated"]
	failed.Status = engine.StatusError
	failed.Actions = append(failed.Actions, engine.Action{API: "CreateLoadBalancerListeners", Target: "web-classic:listener/80",
		Status: engine.ActionFailed, Error: "Throttling: Rate exceeded"})
	rs["classic_failed"] = failed
	sweep := compliance.Trigger{Kind: compliance.TriggerSweep}
	tests := []struct {
		report   string
		trigger  compliance.Trigger
		wantType string // "" for no message
	}{
		{report: "classic_remediated", trigger: alice, wantType: TypeRemediated},
		{report: "classic_remediated", trigger: sweep, wantType: TypeRemediated},
		{report: "classic_non_compliant", trigger: alice}, // planned only (audit)
		{report: "nlb_compliant", trigger: sweep},         // unchanged
		{report: "classic_skipped", trigger: alice},       // out of scope
		{report: "classic_exempt", trigger: alice},        // left alone on purpose
		{report: "classic_rolled_back", trigger: sweep, wantType: TypeRolledBack},
		{report: "classic_failed", trigger: sweep, wantType: TypeFailed},
		{report: "nlb_blocked", trigger: alice, wantType: TypeBlocked},
		{report: "nlb_blocked", trigger: sweep}, // announced by its event; not every hour
	}
	for _, tt := range tests {
		name := tt.report + "/" + tt.trigger.Kind
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(rs[tt.report], tt.trigger, "123456789012", "us-east-1")
			if ok != (tt.wantType != "") || m.Attributes["type"] != tt.wantType {
				t.Fatalf("got message %v type %q; want type %q", ok, m.Attributes["type"], tt.wantType)
			}
			if !ok {
				return
			}
			if len(m.Subject) >= 100 || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q: want under 100 characters on one line", m.Subject)
			}
			if m.Attributes["account"] != "123456789012" || m.Attributes["status"] != string(rs[tt.report].Status) {
				t.Errorf("got attributes %v; want account and status", m.Attributes)
			}
			golden(t, strings.ReplaceAll(name, "/", ".")+".txt", []byte("Subject: "+m.Subject+"\n\n"+m.Body))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test ./compliance/notify -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "elbguard: remediated classic web", want: "elbguard: remediated classic web"},
		{name: "control and non-ASCII", in: "a\nb\u00e9c", want: "a?b?c"},
		{name: "long", in: strings.Repeat("x", 150), want: strings.Repeat("x", 96) + "..."},
	}
	for _, tt := range tests {
		if got := Subject(tt.in); got != tt.want {
			t.Errorf("%s: Subject(%q) = %q; want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

type fakeSNS struct {
	in  []*sns.PublishInput
	err error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.in = append(f.in, in)
	return &sns.PublishOutput{}, f.err
}

func TestSinkPublish(t *testing.T) {
	remediated := func(n int) *engine.Result {
		res := &engine.Result{}
		for i := range n {
			res.Reports = append(res.Reports, engine.Report{Account: "123456789012", Region: "us-east-1",
				Name: fmt.Sprintf("web-%d", i), Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusRemediated,
				Actions: []engine.Action{{API: "SetLoadBalancerPoliciesForBackendServer", Target: "x", Status: engine.ActionApplied}}})
		}
		res.Reports = append(res.Reports, engine.Report{Account: "123456789012", Name: "quiet", Type: engine.TypeClassic, Status: engine.StatusCompliant})
		return res
	}
	tests := []struct {
		name                string
		n, max              int
		err                 error
		wantCalls, wantSent int
		wantFailed          int
	}{
		{name: "one per remediation, none for the compliant", n: 3, wantCalls: 3, wantSent: 3},
		{name: "capped with a summary", n: 5, max: 2, wantCalls: 3, wantSent: 3},
		{name: "denied counted, not retried", n: 2, err: errors.New("AuthorizationError: not authorized"), wantCalls: 2, wantFailed: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSNS{err: tt.err}
			s := &Sink{Client: f, TopicARN: "arn:aws:sns:us-east-1:123456789012:elbguard", Locator: &compliance.Locator{Region: "us-east-1"}, MaxMessages: tt.max}
			st, err := s.Publish(context.Background(), remediated(tt.n), alice)
			if len(f.in) != tt.wantCalls || st.Sent != tt.wantSent || st.Failed != tt.wantFailed {
				t.Errorf("got %d calls, %+v; want %d calls, %d sent, %d failed", len(f.in), st, tt.wantCalls, tt.wantSent, tt.wantFailed)
			}
			if (err != nil) != (tt.wantFailed > 0) {
				t.Errorf("got error %v; want one only when something failed", err)
			}
			for _, in := range f.in {
				for _, k := range []string{"status", "type", "account"} {
					if in.MessageAttributes[k].StringValue == nil {
						t.Errorf("message %q lacks attribute %s", *in.Subject, k)
					}
				}
			}
		})
	}
}

// A restore (elbguard:restore:PORT) is reported rolled_back too, but it put
// back a listener left dark by an earlier failed swap: the message must say
// so, not that the back ends suffered.
func TestComposeRestoreIsNotAHealthDrop(t *testing.T) {
	r := engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusRolledBack,
		Findings: []engine.Finding{{Rule: engine.RuleListenerRestore, Detail: "listener 80 restored from tag elbguard:restore:80: HTTP:80 -> HTTP:80 policies []"}},
		Actions:  []engine.Action{{API: "CreateLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied}}}
	m, ok := Compose(r, compliance.Trigger{Kind: compliance.TriggerSweep}, "123456789012", "us-east-1")
	if !ok {
		t.Fatal("no message for a restore")
	}
	if strings.Contains(m.Body, "back ends suffer") || !strings.Contains(m.Body, "restored") {
		t.Errorf("body says %q; want a restored listener, not a health drop", strings.SplitN(m.Body, "\n", 2)[0])
	}
	if !strings.Contains(m.Subject, "restored") {
		t.Errorf("subject %q; want it to say a listener was restored", m.Subject)
	}
}

// A change that was made while something else failed (a read of another
// target group, the verification not queued) leaves status error with no
// failed action: people must still hear that the load balancer changed.
func TestComposeAppliedWithError(t *testing.T) {
	r := engine.Report{Name: "edge", ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge/1", Type: engine.TypeNetwork,
		Mode: engine.ModeEnforce, Status: engine.StatusError,
		Findings: []engine.Finding{
			{Rule: engine.RuleTargetGroupProxy, Detail: "target group tg-0 does not have proxy_protocol_v2.enabled=true"},
			{Rule: engine.RuleVerifyNotScheduled, Detail: "proxy protocol was turned on for 1 target groups but their health check could not be queued"}},
		Actions: []engine.Action{{API: "ModifyTargetGroupAttributes", Target: "arn:tg-0", Status: engine.ActionApplied}}}
	m, ok := Compose(r, compliance.Trigger{Kind: compliance.TriggerSweep}, "123456789012", "us-east-1")
	if !ok || m.Attributes["type"] != TypeFailed {
		t.Errorf("got %v %+v; want a %s message", ok, m.Attributes, TypeFailed)
	}
}

// A run that changed a load balancer but left part of it alone (a listener
// held for its certificate, a secure back end) ends non_compliant with
// applied calls: people must hear of the change.
func TestComposeAppliedButNonCompliant(t *testing.T) {
	r := engine.Report{Name: "web", Type: engine.TypeClassic, Mode: engine.ModeEnforce, Status: engine.StatusNonCompliant,
		Findings: []engine.Finding{
			{Rule: engine.RuleCertificateUnverified, Detail: "listener 443 not replaced: certificate not verifiable"},
			{Rule: engine.RuleListenerProtocol, Detail: "listener 80 is HTTP:80 -> HTTP:80; want TCP:80 -> TCP:80"}},
		Actions: []engine.Action{{API: "DeleteLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied},
			{API: "CreateLoadBalancerListeners", Target: "web:80", Status: engine.ActionApplied}}}
	if m, ok := Compose(r, compliance.Trigger{Kind: compliance.TriggerSweep}, "123456789012", "us-east-1"); !ok || m.Attributes["type"] != TypeRemediated {
		t.Errorf("got %v %+v; want a %s message", ok, m.Attributes, TypeRemediated)
	}
}
