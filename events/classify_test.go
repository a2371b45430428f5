package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenOptions are the options every golden classification uses: the
// enforcer's role and the default tag keys.
var goldenOptions = Options{
	SelfARN: "arn:aws:iam::123456789012:role/ElbGuard-EnforcerRole1234",
	TagKeys: []string{"elbguard:proxy-protocol", "elbguard:idle-timeout"},
}

func TestClassifyGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Classify(raw, goldenOptions)
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			checkGolden(t, file, d)
		})
	}
}

// TestRoundTrip checks that every sample survives decode → encode: the
// envelope exactly, and our typed detail stably (decode(encode(x)) == x).
func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("decode envelope: %v", err)
			}
			again, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var a, b map[string]any
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("envelope round trip:\ngot  %v\nwant %v", b, a)
			}
			if ev.DetailType != DetailTypeCloudTrail {
				return
			}
			var d1, d2 CloudTrailDetail
			if err := json.Unmarshal(ev.Detail, &d1); err != nil {
				t.Fatalf("decode detail: %v", err)
			}
			enc, err := json.Marshal(d1)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(enc, &d2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d1, d2) {
				t.Errorf("detail round trip:\ngot  %+v\nwant %+v", d2, d1)
			}
			if d1.EventName == "" || d1.UserIdentity.ARN == "" {
				t.Errorf("detail lost fields: eventName %q, userIdentity.arn %q", d1.EventName, d1.UserIdentity.ARN)
			}
		})
	}
}

func TestClassifyMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not json", "{nope"},
		{"array", "[]"},
		{"no detail type", `{"source":"aws.elasticloadbalancing","detail":{}}`},
		{"no detail", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.elasticloadbalancing"}`},
		{"detail not object", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.elasticloadbalancing","detail":"x"}`},
		{"wrong field type", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.elasticloadbalancing","detail":{"requestParameters":{"loadBalancerNames":"web"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Classify([]byte(tt.in), Options{})
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v; want ErrMalformed", err)
			}
		})
	}
}

func TestClassifyCloudTrailCases(t *testing.T) {
	const nlb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/a/1"
	tests := []struct {
		name       string
		detail     string
		opts       Options
		wantKind   Kind
		wantReason string
	}{
		{"classic without apiVersion", `{"eventName":"AddTags","requestParameters":{"loadBalancerNames":["x"]}}`, Options{}, KindReconcile, ""},
		{"no names", `{"eventName":"CreateLoadBalancerListeners","apiVersion":"2012-06-01","requestParameters":{}}`, Options{}, KindIgnored, "CreateLoadBalancerListeners names no load balancer"},
		{"null request", `{"eventName":"AddTags","requestParameters":null}`, Options{}, KindIgnored, "AddTags names no load balancer"},
		{"tag on target group only", `{"eventName":"AddTags","apiVersion":"2015-12-01","requestParameters":{"resourceArns":["arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1"],"tags":[{"key":"elbguard:proxy-protocol"}]}}`, Options{}, KindIgnored, "AddTags names no load balancer"},
		{"self by user arn", `{"eventName":"CreateListener","apiVersion":"2015-12-01","userIdentity":{"arn":"arn:aws:iam::1:user/moto"},"requestParameters":{"loadBalancerArn":"` + nlb + `"}}`, Options{SelfARN: "arn:aws:iam::1:user/moto"}, KindIgnored, "caused by elbguard itself"},
		{"other role", `{"eventName":"CreateListener","apiVersion":"2015-12-01","userIdentity":{"arn":"arn:aws:sts::1:assumed-role/Other/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/Other"}}},"requestParameters":{"loadBalancerArn":"` + nlb + `"}}`, Options{SelfARN: "arn:aws:iam::1:role/ElbGuard"}, KindReconcile, ""},
		{"bad listener arn", `{"eventName":"ModifyListener","apiVersion":"2015-12-01","requestParameters":{"listenerArn":"nope"}}`, Options{}, KindIgnored, "ModifyListener names no load balancer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := `{"detail-type":"AWS API Call via CloudTrail","source":"aws.elasticloadbalancing","detail":` + tt.detail + `}`
			d, err := Classify([]byte(raw), tt.opts)
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if d.Kind != tt.wantKind || d.Reason != tt.wantReason {
				t.Errorf("got %s %q; want %s %q", d.Kind, d.Reason, tt.wantKind, tt.wantReason)
			}
		})
	}
}

func TestHandledEventNamesAreHandled(t *testing.T) {
	for _, name := range HandledEventNames {
		raw := `{"detail-type":"AWS API Call via CloudTrail","source":"aws.elasticloadbalancing","detail":{"eventName":"` + name + `"}}`
		d, err := Classify([]byte(raw), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasPrefix(d.Reason, "unhandled") {
			t.Errorf("%s: got reason %q; want it handled", name, d.Reason)
		}
	}
}

// checkGolden compares d, as indented JSON, with the .golden file beside the
// sample file (written anew with -update).
func checkGolden(t *testing.T, file string, d any) {
	t.Helper()
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := strings.TrimSuffix(file, ".json") + ".golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run go test ./events -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("classification of %s:\ngot  %s\nwant %s", file, got, want)
	}
}
