package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// queue is a Scheduler that keeps what it is given.
type queue struct {
	got []Verification
	err error
}

func (q *queue) Schedule(_ context.Context, v Verification) error {
	q.got = append(q.got, v)
	return q.err
}

func TestVerifyRollsBackOnHealthDrop(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"},
		v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	tgs := []string{forwardTargets(n.listeners[0].DefaultActions)[0], forwardTargets(n.listeners[1].DefaultActions)[0], forwardTargets(n.listeners[2].DefaultActions)[0]}
	for _, tg := range tgs {
		f.targets[tg] = nil // only the targets below
	}
	f.addTarget(tgs[0], "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(tgs[1], "i-b", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(tgs[2], "i-c", 80, v2types.TargetHealthStateEnumUnhealthy) // nothing healthy to lose
	q := &queue{}
	e := newReadyEngine(t, f, Config{}, WithVerifier(q))
	if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r)
	}
	if len(q.got) != 1 || len(q.got[0].TargetGroups) != 2 || !slices.Equal(q.got[0].TargetGroups[0].Healthy, []string{"i-a:80"}) {
		t.Fatalf("got verifications %+v; want one for the 2 target groups with healthy targets", q.got)
	}
	f.setHealth(tgs[0], v2types.TargetHealthStateEnumUnhealthy) // the back end cannot read the header
	r := e.Verify(context.Background(), q.got[0])
	if r.Status != StatusRolledBack || !hasRule(r, RuleHealthDropped) {
		t.Fatalf("got %s %+v; want rolled_back with health_dropped", r.Status, r.Findings)
	}
	if got := []string{f.tgs[tgs[0]][attrProxyProtocolV2], f.tgs[tgs[1]][attrProxyProtocolV2]}; !slices.Equal(got, []string{"false", "true"}) {
		t.Errorf("got proxy protocol %v; want off on the dropped group only", got)
	}
	if _, ok := n.tags[TagHealthDropped]; !ok {
		t.Errorf("got tags %v; want %s", n.tags, TagHealthDropped)
	}
	// The next run does not turn it on again.
	before := f.writes()
	r = reportOf(t, sweep(t, e), "edge")
	if r.Status != StatusNonCompliant || !hasRule(r, RuleHealthDropped) || f.writes() != before {
		t.Errorf("next run: got %s %+v, %d writes; want non_compliant, health_dropped, none", r.Status, r.Findings, f.writes()-before)
	}
}

func TestVerifyHealthyStays(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp)
	tg := forwardTargets(n.listeners[0].DefaultActions)[0]
	f.addTarget(tg, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	q := &queue{}
	e := newReadyEngine(t, f, Config{}, WithVerifier(q))
	sweep(t, e)
	before := f.writes()
	if r := e.Verify(context.Background(), q.got[0]); r.Status != StatusCompliant || f.writes() != before {
		t.Errorf("got %s %+v, %d writes; want compliant and none", r.Status, r, f.writes()-before)
	}
}

func TestVerifyNotScheduledIsAnError(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp)
	f.addTarget(forwardTargets(n.listeners[0].DefaultActions)[0], "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	e := newReadyEngine(t, f, Config{}, WithVerifier(&queue{err: errors.New("queue down")}))
	if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusError || !hasRule(r, RuleVerifyNotScheduled) {
		t.Errorf("got %s %+v; want error with %s", r.Status, r.Findings, RuleVerifyNotScheduled)
	}
}

func TestVerifyRollbackFailureIsAnError(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp)
	tg := forwardTargets(n.listeners[0].DefaultActions)[0]
	f.addTarget(tg, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	q := &queue{}
	e := newReadyEngine(t, f, Config{}, WithVerifier(q))
	sweep(t, e)
	f.setHealth(tg, v2types.TargetHealthStateEnumUnhealthy)
	f.fail["v2.ModifyTargetGroupAttributes"] = errors.New("throttled")
	r := e.Verify(context.Background(), q.got[0])
	if r.Status != StatusError || !hasRule(r, RuleHealthDropped) || r.Err() == nil {
		t.Errorf("got %s %+v; want error with health_dropped and the API error kept", r.Status, r.Findings)
	}
}

// TestVerifyBlindWithTCPHealthCheck: a TCP health check only opens a
// connection, which succeeds whatever the server makes of the PROXY header,
// so no target turns unhealthy and the verification cannot see harm. The
// report says so for each target group turned on with one.
func TestVerifyBlindWithTCPHealthCheck(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	tcp, http := forwardTargets(n.listeners[0].DefaultActions)[0], forwardTargets(n.listeners[1].DefaultActions)[0]
	f.hcProto = map[string]v2types.ProtocolEnum{tcp: v2types.ProtocolEnumTcp, http: v2types.ProtocolEnumHttp}
	f.addTarget(tcp, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(http, "i-b", 80, v2types.TargetHealthStateEnumHealthy)
	q := &queue{}
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{}, WithVerifier(q))), "edge")
	if r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r.Findings)
	}
	d := detailOf(r, RuleVerifyBlind)
	if !strings.Contains(d, nameFromARN(tcp)) || strings.Contains(d, nameFromARN(http)) {
		t.Errorf("got %s %q; want it naming %s only", RuleVerifyBlind, d, nameFromARN(tcp))
	}
}

// TestVerifyWaitsForHealthChecks: the verification asks to run no sooner
// than the slowest target group it checks can mark a target unhealthy:
// interval x (unhealthy threshold + 1), the +1 for the check already under
// way when the change lands.
func TestVerifyWaitsForHealthChecks(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	a, b := forwardTargets(n.listeners[0].DefaultActions)[0], forwardTargets(n.listeners[1].DefaultActions)[0]
	f.hcTiming = map[string][2]int32{a: {30, 2}, b: {30, 10}}
	f.addTarget(a, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	f.addTarget(b, "i-b", 80, v2types.TargetHealthStateEnumHealthy)
	q := &queue{}
	reportOf(t, sweep(t, newReadyEngine(t, f, Config{}, WithVerifier(q))), "edge")
	if len(q.got) != 1 || q.got[0].MinDelaySeconds != 330 {
		t.Fatalf("got %+v; want one verification with min_delay_seconds 330", q.got)
	}
}

// TestVerifyTooSlowHealthChecks: health checks slower than the longest
// delay a verification can have are reported.
func TestVerifyTooSlowHealthChecks(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp)
	a := forwardTargets(n.listeners[0].DefaultActions)[0]
	f.hcTiming = map[string][2]int32{a: {300, 10}}
	f.addTarget(a, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
	r := reportOf(t, sweep(t, newReadyEngine(t, f, Config{}, WithVerifier(&queue{}))), "edge")
	if d := detailOf(r, RuleVerifyBlind); !strings.Contains(d, "3300 s") {
		t.Errorf("got %q; want %s naming the 3300 s the health checks need", d, RuleVerifyBlind)
	}
}

// TestVerifyUnmarkedRollbackHolds: a roll back whose mark cannot be written
// on the load balancer (denied, throttled) must not flap: proxy protocol
// stays off, and no later run turns it on again.
func TestVerifyUnmarkedRollbackHolds(t *testing.T) {
	tests := []struct {
		name string
		// fail makes v2.AddTags fail: "lb" the first call (the load
		// balancer's mark), "all" every call until the redelivery.
		fail       string
		wantStatus Status
	}{
		{"load balancer mark denied: the target group is marked", "lb", StatusRolledBack},
		{"every mark denied: error, retried, then marked", "all", StatusError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagReadiness: "skip"}, v2types.ProtocolEnumTcp)
			tg := forwardTargets(n.listeners[0].DefaultActions)[0]
			f.addTarget(tg, "i-a", 80, v2types.TargetHealthStateEnumHealthy)
			q := &queue{}
			e := newReadyEngine(t, f, Config{}, WithVerifier(q))
			if r := reportOf(t, sweep(t, e), "edge"); r.Status != StatusRemediated || len(q.got) != 1 {
				t.Fatalf("got %s, %d verifications; want remediated and one", r.Status, len(q.got))
			}
			f.setHealth(tg, v2types.TargetHealthStateEnumUnhealthy)
			denied := errors.New("AccessDenied: not authorized to perform elasticloadbalancing:AddTags")
			if tt.fail == "lb" {
				f.failNth["v2.AddTags"] = f.calls["v2.AddTags"] + 1
			} else {
				f.fail["v2.AddTags"] = denied
			}
			r := e.Verify(context.Background(), q.got[0])
			if r.Status != tt.wantStatus || f.tgs[tg][attrProxyProtocolV2] != "false" {
				t.Fatalf("got %s %+v, proxy protocol %q; want %s and off", r.Status, r.Findings, f.tgs[tg][attrProxyProtocolV2], tt.wantStatus)
			}
			if tt.fail == "all" {
				if r.Err() == nil || !slices.ContainsFunc(r.Findings, func(f Finding) bool { return strings.Contains(f.Detail, "roll back could not be marked") }) {
					t.Fatalf("got err %v, findings %+v; want the error kept (the message is retried) and the missing mark reported", r.Err(), r.Findings)
				}
				// SQS delivers the verification again; tagging works now.
				// The targets are healthy again (proxy protocol is off):
				// the redelivery must mark, not call it compliant.
				delete(f.fail, "v2.AddTags")
				f.setHealth(tg, v2types.TargetHealthStateEnumHealthy)
				r = e.Verify(context.Background(), q.got[0])
				if r.Status != StatusRolledBack || n.tags[TagHealthDropped] == "" || f.tgs[tg][attrProxyProtocolV2] != "false" {
					t.Fatalf("redelivery: got %s %+v, tags %v; want rolled_back, the load balancer marked, proxy protocol still off", r.Status, r.Findings, n.tags)
				}
			}
			// No later run turns it on again.
			f.setHealth(tg, v2types.TargetHealthStateEnumHealthy)
			before := f.calls["v2.ModifyTargetGroupAttributes"]
			r = reportOf(t, sweep(t, e), "edge")
			if f.tgs[tg][attrProxyProtocolV2] != "false" || f.calls["v2.ModifyTargetGroupAttributes"] != before || !hasRule(r, RuleHealthDropped) {
				t.Errorf("next run: got %s %+v, proxy protocol %q; want it left off with health_dropped", r.Status, r.Findings, f.tgs[tg][attrProxyProtocolV2])
			}
			if r.Status == StatusCompliant || r.Status == StatusRemediated {
				t.Errorf("next run: got %s; want not compliant", r.Status)
			}
		})
	}
}
