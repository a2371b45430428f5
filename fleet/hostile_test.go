package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
)

// exposedAccount holds one Classic Load Balancer, web-classic, opted in to
// enforcement and without a ProxyProtocol policy: a valid event naming it
// makes the engine write. Every call is counted by name; writes succeed.
type exposedAccount struct {
	mu    sync.Mutex
	calls map[string]int
}

func (a *exposedAccount) count(action string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls = map[string]int{}
	}
	a.calls[action]++
}

// writes is the number of calls that are not Describe*.
func (a *exposedAccount) writes() (n int, names []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.calls {
		if !strings.HasPrefix(strings.TrimPrefix(k, "v2."), "Describe") {
			n += c
			names = append(names, k)
		}
	}
	return n, names
}

func (a *exposedAccount) DescribeLoadBalancers(_ context.Context, in *elb.DescribeLoadBalancersInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	a.count("DescribeLoadBalancers")
	out := &elb.DescribeLoadBalancersOutput{}
	for _, n := range in.LoadBalancerNames {
		if n == "web-classic" {
			out.LoadBalancerDescriptions = append(out.LoadBalancerDescriptions, elbtypes.LoadBalancerDescription{
				LoadBalancerName: aws.String(n), Policies: &elbtypes.Policies{},
				ListenerDescriptions: []elbtypes.ListenerDescription{{Listener: &elbtypes.Listener{
					Protocol: aws.String("TCP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(80)}}},
			})
		}
	}
	return out, nil
}

func (a *exposedAccount) DescribeTags(_ context.Context, in *elb.DescribeTagsInput, _ ...func(*elb.Options)) (*elb.DescribeTagsOutput, error) {
	a.count("DescribeTags")
	out := &elb.DescribeTagsOutput{}
	for _, n := range in.LoadBalancerNames {
		out.TagDescriptions = append(out.TagDescriptions, elbtypes.TagDescription{LoadBalancerName: aws.String(n),
			// readiness=skip: it has no instances, which the gate holds.
			Tags: []elbtypes.Tag{{Key: aws.String(engine.DefaultTagKey), Value: aws.String("enforce")}, {Key: aws.String(engine.TagReadiness), Value: aws.String("skip")}}})
	}
	return out, nil
}

func (a *exposedAccount) DescribeLoadBalancerPolicies(context.Context, *elb.DescribeLoadBalancerPoliciesInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancerPoliciesOutput, error) {
	a.count("DescribeLoadBalancerPolicies")
	return &elb.DescribeLoadBalancerPoliciesOutput{}, nil
}

func (a *exposedAccount) DescribeLoadBalancerAttributes(context.Context, *elb.DescribeLoadBalancerAttributesInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancerAttributesOutput, error) {
	a.count("DescribeLoadBalancerAttributes")
	return &elb.DescribeLoadBalancerAttributesOutput{LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{
		ConnectionSettings: &elbtypes.ConnectionSettings{IdleTimeout: aws.Int32(60)}}}, nil
}

func (a *exposedAccount) CreateLoadBalancerPolicy(context.Context, *elb.CreateLoadBalancerPolicyInput, ...func(*elb.Options)) (*elb.CreateLoadBalancerPolicyOutput, error) {
	a.count("CreateLoadBalancerPolicy")
	return &elb.CreateLoadBalancerPolicyOutput{}, nil
}

func (a *exposedAccount) SetLoadBalancerPoliciesForBackendServer(context.Context, *elb.SetLoadBalancerPoliciesForBackendServerInput, ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesForBackendServerOutput, error) {
	a.count("SetLoadBalancerPoliciesForBackendServer")
	return &elb.SetLoadBalancerPoliciesForBackendServerOutput{}, nil
}

func (a *exposedAccount) DeleteLoadBalancerListeners(context.Context, *elb.DeleteLoadBalancerListenersInput, ...func(*elb.Options)) (*elb.DeleteLoadBalancerListenersOutput, error) {
	a.count("DeleteLoadBalancerListeners")
	return &elb.DeleteLoadBalancerListenersOutput{}, nil
}

func (a *exposedAccount) CreateLoadBalancerListeners(context.Context, *elb.CreateLoadBalancerListenersInput, ...func(*elb.Options)) (*elb.CreateLoadBalancerListenersOutput, error) {
	a.count("CreateLoadBalancerListeners")
	return &elb.CreateLoadBalancerListenersOutput{}, nil
}

func (a *exposedAccount) SetLoadBalancerPoliciesOfListener(context.Context, *elb.SetLoadBalancerPoliciesOfListenerInput, ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesOfListenerOutput, error) {
	a.count("SetLoadBalancerPoliciesOfListener")
	return &elb.SetLoadBalancerPoliciesOfListenerOutput{}, nil
}

func (a *exposedAccount) ModifyLoadBalancerAttributes(context.Context, *elb.ModifyLoadBalancerAttributesInput, ...func(*elb.Options)) (*elb.ModifyLoadBalancerAttributesOutput, error) {
	a.count("ModifyLoadBalancerAttributes")
	return &elb.ModifyLoadBalancerAttributesOutput{}, nil
}

// exposedV2 is an ELBv2 side with nothing in it; any other call panics.
type exposedV2 struct {
	engine.V2API
	a *exposedAccount
}

func (v exposedV2) DescribeLoadBalancers(context.Context, *elbv2.DescribeLoadBalancersInput, ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	v.a.count("v2.DescribeLoadBalancers")
	return &elbv2.DescribeLoadBalancersOutput{}, nil
}

// sample reads an event from events/testdata.
func sample(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return raw
}

// reshape decodes raw, applies edit to the generic JSON and re-encodes it.
func reshape(t *testing.T, raw []byte, edit func(ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
	edit(ev)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("encode sample: %v", err)
	}
	return out
}

func detail(ev map[string]any) map[string]any { return ev["detail"].(map[string]any) }

func TestHostileEventsAreLoggedIgnoredAndChangeNothing(t *testing.T) {
	addTags := sample(t, "classic_add_tags.json") // names web-classic, opted in: a valid copy makes the engine write
	tagChange := sample(t, "tag_change_classic.json")

	// Positive control: the untouched event does make the engine write, so
	// zero writes below mean the input was refused, not that nothing was due.
	{
		acct := &exposedAccount{}
		e, err := engine.New(acct, exposedV2{a: acct}, engine.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Enforcer{Engine: e}).Handle(context.Background(), addTags); err != nil {
			t.Fatalf("control: %v", err)
		}
		if n, _ := acct.writes(); n == 0 {
			t.Fatalf("control: the valid event made no write; the fake no longer exposes web-classic")
		}
	}

	padded := reshape(t, addTags, func(ev map[string]any) { ev["padding"] = strings.Repeat("x", events.MaxEventBytes) })
	tests := []struct {
		name string
		raw  []byte
		// wantBad: rejected as undecodable (logged at error as bad input);
		// otherwise decoded but ignored (logged at info as event ignored).
		wantBad bool
		// why appears in the logged reason.
		why string
	}{
		{"empty", nil, true, "unexpected end of JSON input"},
		{"null", []byte("null"), true, "missing detail-type or source"},
		{"array", []byte(`[{"detail-type":"AWS API Call via CloudTrail"}]`), true, "cannot unmarshal array"},
		{"string", []byte(`"AWS API Call via CloudTrail"`), true, "cannot unmarshal string"},
		{"number", []byte(`1e999`), true, "cannot unmarshal number"},
		{"binary", []byte("\x00\xff\xfe{"), true, "invalid character"},
		{"truncated", addTags[:len(addTags)/2], true, "unexpected end of JSON input"},
		{"truncated tag change", tagChange[:len(tagChange)-3], true, "unexpected end of JSON input"},
		{"trailing garbage", append(append([]byte{}, addTags...), "{}"...), true, "invalid character"},
		{"oversized valid event", padded, true, "over the 262144-byte EventBridge limit"},
		{"oversized garbage", bytes.Repeat([]byte("["), events.MaxEventBytes+1), true, "over the 262144-byte EventBridge limit"},
		{"detail is a string", reshape(t, addTags, func(ev map[string]any) { ev["detail"] = "AddTags web-classic" }), true, "cannot unmarshal string"},
		{"detail is an array", reshape(t, addTags, func(ev map[string]any) { ev["detail"] = []any{ev["detail"]} }), true, "cannot unmarshal array"},
		{"detail is null", reshape(t, addTags, func(ev map[string]any) { ev["detail"] = nil }), true, "missing detail"},
		{"detail-type is a number", reshape(t, addTags, func(ev map[string]any) { ev["detail-type"] = 1 }), true, "cannot unmarshal number"},
		{"source missing", reshape(t, addTags, func(ev map[string]any) { delete(ev, "source") }), true, "missing detail-type or source"},
		{"eventName is a number", reshape(t, addTags, func(ev map[string]any) { detail(ev)["eventName"] = 7 }), true, "cannot unmarshal number"},
		{"requestParameters is a string", reshape(t, addTags, func(ev map[string]any) { detail(ev)["requestParameters"] = "web-classic" }), true, "cannot unmarshal string"},
		{"loadBalancerNames is a string", reshape(t, addTags, func(ev map[string]any) {
			detail(ev)["requestParameters"].(map[string]any)["loadBalancerNames"] = "web-classic"
		}), true, "cannot unmarshal string"},
		{"loadBalancerNames holds objects", reshape(t, addTags, func(ev map[string]any) {
			detail(ev)["requestParameters"].(map[string]any)["loadBalancerNames"] = []any{map[string]any{"name": "web-classic"}}
		}), true, "cannot unmarshal object"},
		{"tags is an object", reshape(t, addTags, func(ev map[string]any) {
			detail(ev)["requestParameters"].(map[string]any)["tags"] = map[string]any{"elbguard:proxy-protocol": "enforce"}
		}), true, "cannot unmarshal object"},
		{"userIdentity is an array", reshape(t, addTags, func(ev map[string]any) { detail(ev)["userIdentity"] = []any{} }), true, "cannot unmarshal array"},
		{"resources is a string", reshape(t, tagChange, func(ev map[string]any) {
			ev["resources"] = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/web-classic"
		}), true, "cannot unmarshal string"},
		{"changed-tag-keys is a string", reshape(t, tagChange, func(ev map[string]any) { detail(ev)["changed-tag-keys"] = "elbguard:proxy-protocol" }), true, "cannot unmarshal string"},
		// Well-typed but empty or foreign: decoded, then ignored with a reason.
		{"loadBalancerNames holds nulls", reshape(t, addTags, func(ev map[string]any) {
			detail(ev)["requestParameters"].(map[string]any)["loadBalancerNames"] = []any{nil, ""}
		}), false, "AddTags names no load balancer"},
		{"ARN of another service", reshape(t, tagChange, func(ev map[string]any) { ev["resources"] = []any{"arn:aws:ec2:us-east-1:123456789012:instance/i-0"} }), false, "tag change names no load balancer"},
		{"source spoofed as another service", reshape(t, addTags, func(ev map[string]any) { ev["source"] = "aws.ec2" }), false, "unhandled event"},
		{"failed call", reshape(t, addTags, func(ev map[string]any) { detail(ev)["errorCode"] = "AccessDenied" }), false, "failed call: AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := &exposedAccount{}
			e, err := engine.New(acct, exposedV2{a: acct}, engine.Config{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			h := &Enforcer{Engine: e, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &bytes.Buffer{}}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-hostile"})
			out, err := h.Handle(ctx, tt.raw)
			if err != nil {
				t.Fatalf("got error %v; want none (Lambda must not retry a poison event)", err)
			}
			if out.Decision.Kind != events.KindIgnored || out.BadInput != tt.wantBad || out.Result != nil {
				t.Errorf("got %+v; want ignored, bad input %v, no run", out, tt.wantBad)
			}
			if !strings.Contains(out.Decision.Reason, tt.why) {
				t.Errorf("reason %q; want it to contain %q", out.Decision.Reason, tt.why)
			}
			if n, names := acct.writes(); n != 0 {
				t.Errorf("got %d mutating calls %v; want 0", n, names)
			}
			if n := len(acct.calls); n != 0 {
				t.Errorf("got AWS calls %v; want none", acct.calls)
			}
			// One log line, at the right level, saying it was not handled and why.
			var line struct {
				Level, Msg, Error, Reason string
				RequestID                 string `json:"request_id"`
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("got %d log lines %q; want 1", len(lines), lines)
			}
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatalf("log line %q: %v", lines[0], err)
			}
			wantLevel, wantMsg, why := "INFO", "event ignored", line.Reason
			if tt.wantBad {
				wantLevel, wantMsg, why = "ERROR", "bad input: event not handled and not retried", line.Error
			}
			if line.Level != wantLevel || line.Msg != wantMsg || !strings.Contains(why, tt.why) || line.RequestID != "req-hostile" {
				t.Errorf("log %s; want level %s, msg %q, the reason containing %q and the request id", lines[0], wantLevel, wantMsg, tt.why)
			}
		})
	}
}
