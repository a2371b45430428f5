//go:build integration

package test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/faultproxy"
)

// faultSoak reports whether ELBGUARD_SOAK asks for the long runs.
func faultSoak() bool { return os.Getenv("ELBGUARD_SOAK") != "" }

// faultAction is one action the engine calls, by API.
type faultAction struct {
	version, action string
}

// faultActions is every action the engine calls for a Classic ELB and an NLB.
var faultActions = []faultAction{
	{faultproxy.VersionClassic, "DescribeLoadBalancers"},
	{faultproxy.VersionClassic, "DescribeTags"},
	{faultproxy.VersionClassic, "DescribeLoadBalancerPolicies"},
	{faultproxy.VersionClassic, "DescribeLoadBalancerAttributes"},
	{faultproxy.VersionClassic, "CreateLoadBalancerPolicy"},
	{faultproxy.VersionClassic, "SetLoadBalancerPoliciesForBackendServer"},
	{faultproxy.VersionClassic, "DeleteLoadBalancerListeners"},
	{faultproxy.VersionClassic, "CreateLoadBalancerListeners"},
	{faultproxy.VersionClassic, "SetLoadBalancerPoliciesOfListener"},
	{faultproxy.VersionClassic, "ModifyLoadBalancerAttributes"},
	{faultproxy.VersionV2, "DescribeLoadBalancers"},
	{faultproxy.VersionV2, "DescribeTags"},
	{faultproxy.VersionV2, "DescribeListeners"},
	{faultproxy.VersionV2, "DescribeTargetGroupAttributes"},
	{faultproxy.VersionV2, "ModifyTargetGroupAttributes"},
	{faultproxy.VersionV2, "DescribeListenerAttributes"},
	{faultproxy.VersionV2, "ModifyListenerAttributes"},
}

// faultTarget is one load balancer under test with its state before.
type faultTarget struct {
	name  string // Classic name or NLB ARN
	nlb   bool
	event []byte
	old   faultState
}

func (r *faultRig) target(t *testing.T, nlb bool, mode string) *faultTarget {
	t.Helper()
	if nlb {
		arn := r.addNLB(t, mode)
		return &faultTarget{name: arn, nlb: true, event: r.nlbEvent(t, arn), old: r.nlbState(t, arn)}
	}
	name := r.addClassic(t, mode)
	return &faultTarget{name: name, event: r.classicEvent(t, name), old: r.classicState(t, name)}
}

func (r *faultRig) state(t *testing.T, ft *faultTarget) faultState {
	t.Helper()
	if ft.nlb {
		return r.nlbState(t, ft.name)
	}
	return r.classicState(t, ft.name)
}

func (r *faultRig) want(ft *faultTarget) faultState {
	if ft.nlb {
		return r.refNLB
	}
	return r.refClassic
}

// settleRound settles ft and counts it as one round on one load balancer.
func (r *faultRig) settleRound(t *testing.T, ft *faultTarget, tally *faultTally) {
	t.Helper()
	tally.lost += r.settle(t, ft, tally)
	tally.rounds++
	tally.lbs++
}

// settle checks ft for damage after a faulty run, then runs the enforcer
// once more without faults and checks that it converges to the enforced
// state. It returns the number of facets lost.
func (r *faultRig) settle(t *testing.T, ft *faultTarget, tally *faultTally) int {
	t.Helper()
	lost := damage(ft.old, r.state(t, ft), r.want(ft))
	for _, d := range lost {
		t.Errorf("%s: %s", ft.name, d)
	}
	tally.add(r.proxy)
	if err := r.proxy.SetRules(); err != nil {
		t.Fatal(err)
	}
	h, _ := r.enforcer(t, engine.Config{})
	if out, err := h.Handle(r.lambdaCtx(t), ft.event); err != nil {
		t.Errorf("%s: clean run after the faults: %v (%+v)", ft.name, err, out)
	}
	if d := damage(r.want(ft), r.state(t, ft), r.want(ft)); len(d) > 0 {
		t.Errorf("%s: not converged after a clean run: %v", ft.name, d)
		lost = append(lost, d...)
	}
	r.proxy.Reset()
	r.emulateAWS()
	return len(lost)
}

// run runs the enforcer once on ft and returns its report.
func (r *faultRig) run(t *testing.T, h *fleet.Enforcer, ft *faultTarget) (engine.Report, error) {
	t.Helper()
	out, err := h.Handle(r.lambdaCtx(t), ft.event)
	if out == nil || out.Result == nil || len(out.Result.Reports) != 1 {
		return engine.Report{Status: engine.StatusError}, fmt.Errorf("run: got %+v, %w", out, err)
	}
	return out.Result.Reports[0], err
}

// TestEnforceFaults runs every fault scenario against one moto_server
// behind the fault proxy, with the SDK clients the Lambdas build. Each
// scenario logs a SUMMARY line: rounds, load balancers, requests by action,
// faults injected and what was lost (must be 0). ELBGUARD_SOAK=1 runs many
// more rounds.
func TestEnforceFaults(t *testing.T) {
	r := newFaultRig(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *faultRig)
	}{
		{"Transient", faultsTransient},
		{"Persistent", faultsPersistent},
		{"Rollback", faultsRollback},
		{"AllThrottled", faultsAllThrottled},
		{"Concurrent", faultsConcurrent},
		{"Gone", faultsGone},
		{"ReadOnly", faultsReadOnly},
		{"Random", faultsRandom},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, r) })
	}
}

var faultKinds = []faultproxy.Kind{faultproxy.Throttle, faultproxy.InternalError, faultproxy.Reset}

// faultsTransient faults each action the engine uses, rotating
// throttling, HTTP 500 and connection resets, for the first two attempts:
// the SDK's retries absorb them and the load balancer is remediated.
func faultsTransient(t *testing.T, r *faultRig) {
	tally := newTally("transient faults on each action (first attempts)")
	for i, fa := range faultActions {
		kind := faultKinds[i%len(faultKinds)]
		t.Run(fmt.Sprintf("%s %s %s", fa.version, fa.action, kind), func(t *testing.T) {
			ft := r.target(t, fa.version == faultproxy.VersionV2, "enforce")
			first := 2 // the SDK makes 3 attempts
			if kind == faultproxy.Throttle && !faultSoak() {
				first = 1 // throttling backs off from 1 s; keep the default run fast
			}
			if err := r.proxy.SetRules(faultproxy.Rule{Action: fa.action, Version: fa.version, Kind: kind, First: first}); err != nil {
				t.Fatal(err)
			}
			h, _ := r.enforcer(t, engine.Config{})
			rep, err := r.run(t, h, ft)
			if err != nil || rep.Status != engine.StatusRemediated {
				t.Errorf("got %s, %v (%+v); want remediated after retries", rep.Status, err, rep.Findings)
			}
			if n := r.proxy.Stats().Faults()[kind.String()]; n != first {
				t.Errorf("got %d %s faults injected; want %d (the action was not called?)", n, kind, first)
			}
			r.settleRound(t, ft, tally)
		})
	}
	tally.log(t)
}

// faultsPersistent fails each write the engine makes on every
// attempt (HTTP 500, and throttling on two of them): the load balancer is
// reported error, every listener, policy and attribute is either as it was
// or as enforced, and a later clean run converges. The listener swap's
// writes fail only on the new TCP/SSL listener, so the rollback can run.
func faultsPersistent(t *testing.T, r *faultRig) {
	tally := newTally("persistent faults on each write")
	newListener := func(form url.Values) bool {
		p := form.Get("Listeners.member.1.Protocol")
		return p == "TCP" || p == "SSL"
	}
	onNewListener := func(form url.Values) bool { // the listener on the port is already the TCP/SSL replacement
		ctx := enfCtxT(t)
		out, err := r.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{form.Get("LoadBalancerName")}})
		if err != nil {
			return false
		}
		for _, ld := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
			if fmt.Sprint(ld.Listener.LoadBalancerPort) == form.Get("LoadBalancerPort") {
				p := aws.ToString(ld.Listener.Protocol)
				return p == "TCP" || p == "SSL"
			}
		}
		return false
	}
	tests := []struct {
		fa    faultAction
		kind  faultproxy.Kind
		match func(url.Values) bool
	}{
		{faultAction{faultproxy.VersionClassic, "CreateLoadBalancerPolicy"}, faultproxy.InternalError, nil},
		{faultAction{faultproxy.VersionClassic, "SetLoadBalancerPoliciesForBackendServer"}, faultproxy.Throttle, nil},
		{faultAction{faultproxy.VersionClassic, "DeleteLoadBalancerListeners"}, faultproxy.InternalError, nil},
		{faultAction{faultproxy.VersionClassic, "CreateLoadBalancerListeners"}, faultproxy.InternalError, newListener},
		{faultAction{faultproxy.VersionClassic, "SetLoadBalancerPoliciesOfListener"}, faultproxy.Reset, onNewListener},
		{faultAction{faultproxy.VersionClassic, "ModifyLoadBalancerAttributes"}, faultproxy.InternalError, nil},
		{faultAction{faultproxy.VersionV2, "ModifyTargetGroupAttributes"}, faultproxy.Throttle, nil},
		{faultAction{faultproxy.VersionV2, "ModifyListenerAttributes"}, faultproxy.InternalError, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %s", tt.fa.version, tt.fa.action, tt.kind), func(t *testing.T) {
			ft := r.target(t, tt.fa.version == faultproxy.VersionV2, "enforce")
			if err := r.proxy.SetRules(faultproxy.Rule{Action: tt.fa.action, Version: tt.fa.version, Kind: tt.kind, Match: tt.match}); err != nil {
				t.Fatal(err)
			}
			h, _ := r.enforcer(t, engine.Config{})
			start := time.Now()
			rep, err := r.run(t, h, ft)
			if rep.Status != engine.StatusError || rep.Err() == nil {
				t.Errorf("got %s (%+v); want error", rep.Status, rep.Actions)
			}
			if err == nil || !fleet.Retryable(rep.Err()) {
				t.Errorf("handler: got %v; want a retryable error so that Lambda retries", err)
			}
			t.Logf("%s: %s in %s, actions %+v", tt.fa.action, rep.Status, time.Since(start).Round(time.Millisecond), rep.Actions)
			r.settleRound(t, ft, tally)
		})
	}
	tally.log(t)
}

// faultsRollback fails the creation of the SSL replacement of
// the HTTPS listener after the delete (every attempt, with 500s and with
// throttling): the original listener is back with the same IAM certificate
// and the same SSL negotiation policy.
func faultsRollback(t *testing.T, r *faultRig) {
	tally := newTally("CreateLoadBalancerListeners fails after the delete: rollback")
	kinds := []faultproxy.Kind{faultproxy.InternalError, faultproxy.Reset}
	if faultSoak() {
		kinds = append(kinds, faultproxy.Throttle) // 6 throttled attempts: about 8 s
	}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			ft := r.target(t, false, "enforce")
			if err := r.proxy.SetRules(faultproxy.Rule{Action: "CreateLoadBalancerListeners", Kind: kind,
				Match: func(form url.Values) bool { return form.Get("Listeners.member.1.Protocol") == "SSL" }}); err != nil {
				t.Fatal(err)
			}
			h, _ := r.enforcer(t, engine.Config{})
			rep, _ := r.run(t, h, ft)
			rolledBack := false
			for _, a := range rep.Actions {
				rolledBack = rolledBack || (a.Status == engine.ActionRolledBack && a.Target == ft.name+":443")
			}
			if rep.Status != engine.StatusError || !rolledBack {
				t.Errorf("got %s %+v; want error with %s:443 rolled_back", rep.Status, rep.Actions, ft.name)
			}
			mid := r.state(t, ft)
			if mid["listener:443"] != ft.old["listener:443"] {
				t.Errorf("listener 443: got %q; want the original %q (same certificate and policies)", mid["listener:443"], ft.old["listener:443"])
			}
			if got := r.proxy.Stats()[faultproxy.Key(faultproxy.VersionClassic, "CreateLoadBalancerListeners")]; got.Forwarded < 2 {
				t.Errorf("got %+v; want the rollback's create forwarded", got)
			}
			r.settleRound(t, ft, tally)
		})
	}
	tally.log(t)
}

// faultsAllThrottled throttles every request: each invocation ends
// well inside the Lambda timeout with a retryable error, and nothing
// changes. Repeated invocations on the same clients (a warm Lambda) drain
// the SDK's retry quota and then fail fast.
func faultsAllThrottled(t *testing.T, r *faultRig) {
	tally := newTally("100% throttling")
	targets := []*faultTarget{r.target(t, false, "enforce"), r.target(t, true, "enforce")}
	if err := r.proxy.SetRules(faultproxy.Rule{Kind: faultproxy.Throttle}); err != nil {
		t.Fatal(err)
	}
	h, _ := r.enforcer(t, engine.Config{})
	const bound = 20 * time.Second // per invocation; the enforcer Lambda has 60 s
	rounds := 1
	if faultSoak() {
		rounds = 40 // drains the clients' retry quota: later calls fail fast
	}
	var slowest time.Duration
	for i := range rounds {
		for _, ft := range targets {
			start := time.Now()
			out, err := h.Handle(r.lambdaCtx(t), ft.event)
			took := time.Since(start)
			slowest = max(slowest, took)
			if took > bound {
				t.Errorf("round %d: invocation took %s; want under %s", i, took, bound)
			}
			if err == nil || !fleet.Retryable(errors.Unwrap(err)) {
				t.Errorf("round %d: got %v (%+v); want a retryable error", i, err, out)
			}
		}
	}
	st := r.proxy.Stats()
	if n := len(st.ForwardedMutating()); n != 0 {
		t.Errorf("got mutating calls forwarded %v; want none", st.ForwardedMutating())
	}
	for _, ft := range targets {
		if d := damage(ft.old, r.state(t, ft), ft.old); len(d) > 0 {
			t.Errorf("%s changed under 100%% throttling: %v", ft.name, d)
			tally.lost += len(d)
		}
	}
	t.Logf("slowest invocation %s (bound %s)", slowest.Round(time.Millisecond), bound)
	tally.add(r.proxy)
	r.proxy.Reset()
	r.emulateAWS()
	tally.rounds, tally.lbs = rounds, len(targets)
	tally.log(t)
}

// faultsConcurrent runs ten enforcer invocations for the same
// load balancer at once, each with its own clients as ten Lambda execution
// environments have, with small delays on the writes to widen the races:
// the end state is enforced, with one proxy protocol policy and one listener
// per port.
func faultsConcurrent(t *testing.T, r *faultRig) {
	tally := newTally("10 concurrent invocations for one load balancer")
	rounds := 2
	if faultSoak() {
		rounds = 10
	}
	for round := range rounds {
		ft := r.target(t, false, "enforce")
		rules := []faultproxy.Rule{{Version: faultproxy.VersionClassic, Action: "DeleteLoadBalancerListeners", Kind: faultproxy.Delay, Delay: 30 * time.Millisecond},
			{Version: faultproxy.VersionClassic, Action: "CreateLoadBalancerListeners", Kind: faultproxy.Delay, Delay: 20 * time.Millisecond}}
		if round > 0 {
			rules = append(rules, faultproxy.Rule{Kind: faultproxy.InternalError, Probability: 0.05})
		}
		if err := r.proxy.SetRules(rules...); err != nil {
			t.Fatal(err)
		}
		const n = 10
		type result struct {
			rep engine.Report
			err error
		}
		results := make([]result, n)
		hs := make([]*fleet.Enforcer, n)
		for i := range hs {
			hs[i], _ = r.enforcer(t, engine.Config{})
		}
		var wg sync.WaitGroup
		for i := range n {
			ctx := r.lambdaCtx(t)
			wg.Go(func() {
				out, err := hs[i].Handle(ctx, ft.event)
				results[i].err = err
				if out != nil && out.Result != nil && len(out.Result.Reports) == 1 {
					results[i].rep = out.Result.Reports[0]
				}
			})
		}
		wg.Wait()
		counts := map[engine.Status]int{}
		for i, res := range results {
			counts[res.rep.Status]++
			if round == 0 && (res.err != nil || res.rep.Status != engine.StatusRemediated) {
				t.Errorf("round %d invocation %d: got %s, %v (%+v); want remediated", round, i, res.rep.Status, res.err, res.rep.Findings)
			}
		}
		mid := r.state(t, ft)
		t.Logf("round %d: statuses %v; listeners %s; policies %s", round, counts, mid["ports"], mid["policies"])
		r.settleRound(t, ft, tally)
	}
	tally.log(t)
}

// faultsGone deletes the load balancer while the run is reading
// or changing it: the report says gone and the handler returns no error.
func faultsGone(t *testing.T, r *faultRig) {
	tally := newTally("load balancer deleted mid-run")
	tests := []struct {
		fa  faultAction
		nlb bool
	}{
		{faultAction{faultproxy.VersionClassic, "DescribeLoadBalancerPolicies"}, false},
		{faultAction{faultproxy.VersionClassic, "SetLoadBalancerPoliciesForBackendServer"}, false},
		{faultAction{faultproxy.VersionClassic, "DeleteLoadBalancerListeners"}, false},
		{faultAction{faultproxy.VersionClassic, "DescribeLoadBalancerAttributes"}, false},
		{faultAction{faultproxy.VersionV2, "DescribeListeners"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.fa.action, func(t *testing.T) {
			ft := r.target(t, tt.nlb, "enforce")
			r.proxy.OnFirst(tt.fa.action, func(string) {
				ctx := enfCtxT(t)
				var err error
				if tt.nlb {
					_, err = r.v2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(ft.name)})
				} else {
					_, err = r.classic.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerName: aws.String(ft.name)})
				}
				if err != nil {
					t.Errorf("delete %s: %v", ft.name, err)
				}
			})
			h, _ := r.enforcer(t, engine.Config{})
			rep, err := r.run(t, h, ft)
			if err != nil || rep.Status != engine.StatusGone {
				t.Errorf("got %s, %v (%+v %+v); want gone and no error", rep.Status, err, rep.Findings, rep.Actions)
			}
			tally.add(r.proxy)
			r.proxy.Reset()
			r.emulateAWS()
			tally.rounds++
			tally.lbs++
		})
	}
	tally.log(t)
}

// faultsReadOnly runs dry-run (on enforce-tagged load balancers)
// and audit (on audit-tagged ones) under every fault pattern above: not one
// mutating call reaches moto.
func faultsReadOnly(t *testing.T, r *faultRig) {
	tally := newTally("dry-run and audit under faults")
	patterns := []struct {
		name  string
		rules []faultproxy.Rule
	}{
		{"transient", []faultproxy.Rule{{Kind: faultproxy.Throttle, Every: 7}, {Kind: faultproxy.InternalError, Every: 3}, {Kind: faultproxy.Reset, Every: 4}}},
		{"all throttled", []faultproxy.Rule{{Kind: faultproxy.Throttle}}},
		{"random", []faultproxy.Rule{{Kind: faultproxy.InternalError, Probability: 0.2}, {Kind: faultproxy.Reset, Probability: 0.1}}},
	}
	for _, p := range patterns {
		for _, mode := range []string{"dry-run", "audit"} {
			t.Run(p.name+" "+mode, func(t *testing.T) {
				tag, cfg := "audit", engine.Config{}
				if mode == "dry-run" {
					tag, cfg = "enforce", engine.Config{DryRun: true}
				}
				targets := []*faultTarget{r.target(t, false, tag), r.target(t, true, tag)}
				if err := r.proxy.SetRules(p.rules...); err != nil {
					t.Fatal(err)
				}
				// Several at once, and one whose load balancer is deleted mid-run.
				var wg sync.WaitGroup
				for i := range 6 {
					h, _ := r.enforcer(t, cfg)
					ctx := r.lambdaCtx(t)
					wg.Go(func() { _, _ = h.Handle(ctx, targets[i%2].event) })
				}
				wg.Wait()
				gone := r.target(t, false, tag)
				r.proxy.OnFirst("DescribeLoadBalancerPolicies", func(string) {
					_, _ = r.classic.DeleteLoadBalancer(enfCtxT(t), &elb.DeleteLoadBalancerInput{LoadBalancerName: aws.String(gone.name)})
				})
				h, _ := r.enforcer(t, cfg)
				_, _ = h.Handle(r.lambdaCtx(t), gone.event)
				st := r.proxy.Stats()
				if m := st.ForwardedMutating(); len(m) != 0 {
					t.Errorf("got mutating calls forwarded %v; want none", m)
					tally.lost += len(m)
				}
				for _, ft := range targets {
					if d := damage(ft.old, r.state(t, ft), ft.old); len(d) > 0 {
						t.Errorf("%s changed: %v", ft.name, d)
						tally.lost += len(d)
					}
				}
				tally.add(r.proxy)
				r.proxy.Reset()
				r.emulateAWS()
				tally.rounds++
				tally.lbs += 3
			})
		}
	}
	tally.log(t)
}

// faultsRandom sweeps several load balancers with random fault
// probabilities on every action, then checks for damage and converges them
// with a clean run. ELBGUARD_SOAK=1 runs 20 rounds of 8 load balancers.
func faultsRandom(t *testing.T, r *faultRig) {
	rounds, perRound := 2, 2
	if faultSoak() {
		rounds, perRound = 20, 8
	}
	tally := newTally("random faults on every action")
	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	for range rounds {
		var targets []*faultTarget
		for i := range perRound {
			targets = append(targets, r.target(t, i%2 == 1, "enforce"))
		}
		rules := []faultproxy.Rule{
			{Kind: faultproxy.Throttle, Probability: rnd.Float64() * 0.15},
			{Kind: faultproxy.InternalError, Probability: rnd.Float64() * 0.15},
			{Kind: faultproxy.Reset, Probability: rnd.Float64() * 0.1},
			{Kind: faultproxy.Delay, Delay: 10 * time.Millisecond, Probability: rnd.Float64() * 0.2},
		}
		if err := r.proxy.SetRules(rules...); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, ft := range targets {
			h, _ := r.enforcer(t, engine.Config{})
			ctx := r.lambdaCtx(t)
			wg.Go(func() { _, _ = h.Handle(ctx, ft.event) })
		}
		wg.Wait()
		tally.add(r.proxy)
		r.proxy.Reset()
		r.emulateAWS()
		for _, ft := range targets {
			tally.lost += r.settle(t, ft, tally)
		}
		tally.rounds++
		tally.lbs += perRound
	}
	tally.log(t)
}
