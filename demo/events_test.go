package demo

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/events"
)

// TestEventTemplates checks that every CloudTrail event the demo sends, once
// patched with moto's identifiers, classifies as the enforcer will see it.
func TestEventTemplates(t *testing.T) {
	s := &seed{
		certARN: "arn:aws:iam::123456789012:server-certificate/" + CertName,
		vpcID:   "vpc-1111",
		subnets: []string{"subnet-aaaa", "subnet-bbbb"},
		nlbARN:  "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge-nlb/0123456789abcdef",
		tgARN:   "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-tcp/fedcba9876543210",
	}
	at := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	evs, err := patchEvents(s, at)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		name    string
		kind    events.Kind
		classic []string
		v2      []string
		targets string
	}{
		{"01-create-web-classic.json", "CreateLoadBalancer", events.KindReconcile, []string{ClassicName}, nil, "web-classic [elbguard:proxy-protocol=enforce]"},
		{"02-create-web-legacy.json", "CreateLoadBalancer", events.KindReconcile, []string{LegacyName}, nil, "web-legacy"},
		{"03-create-edge-nlb.json", "CreateLoadBalancer", events.KindReconcile, nil, []string{s.nlbARN}, "edge-nlb"},
		{"04-tag-edge-nlb.json", "AddTags", events.KindReconcile, nil, []string{s.nlbARN}, "loadbalancer/net/edge-nlb, targetgroup/edge-tcp [elbguard:proxy-protocol=enforce]"},
		{"05-tag-web-legacy-costcenter.json", "AddTags", events.KindIgnored, nil, nil, "web-legacy [CostCenter=1234]"},
	}
	if len(evs) != len(tests) {
		t.Fatalf("got %d events; want %d", len(evs), len(tests))
	}
	for i, tt := range tests {
		ev := evs[i]
		t.Run(tt.file, func(t *testing.T) {
			if ev.File != tt.file || ev.Name != tt.name || ev.Targets != tt.targets {
				t.Errorf("got %s %s %q; want %s %s %q", ev.File, ev.Name, ev.Targets, tt.file, tt.name, tt.targets)
			}
			body := string(ev.Body)
			for _, sample := range []string{sampleNLBARN, sampleTGARN, sampleVPC, sampleSubnetA, sampleSubnetB, "2026-11-20T"} {
				if strings.Contains(body, sample) {
					t.Errorf("patched event still holds the sample %q", sample)
				}
			}
			if !strings.Contains(body, `"time": "2026-11-27T01:02:0`) {
				t.Errorf("patched event time not set to the run's time:\n%s", body)
			}
			d, err := events.Classify(ev.Body, events.Options{SelfARN: SelfRoleARN, TagKeys: []string{TagKey, "elbguard:idle-timeout"}})
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			if d.Kind != tt.kind || !slices.Equal(d.Classic, tt.classic) || !slices.Equal(d.LoadBalancers, tt.v2) {
				t.Errorf("got %s classic=%q v2=%q (%s); want %s classic=%q v2=%q",
					d.Kind, d.Classic, d.LoadBalancers, d.Reason, tt.kind, tt.classic, tt.v2)
			}
		})
	}
}

func TestShortARN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-classic", "web-classic"},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-tcp/73e2d6bc24d8a067", "targetgroup/edge-tcp"},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge-nlb/50dc6c495c0c9188", "loadbalancer/net/edge-nlb"},
		{"arn:aws:iam::123456789012:server-certificate/demo.elbguard.test", "server-certificate/demo.elbguard.test"},
		{"arn:short", "arn:short"},
	}
	for _, tt := range tests {
		if got := shortARN(tt.in); got != tt.want {
			t.Errorf("shortARN(%q): got %q; want %q", tt.in, got, tt.want)
		}
	}
}
