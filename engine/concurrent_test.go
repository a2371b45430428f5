package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// webClassic adds the web shape: HTTP:80, HTTPS:443->81 with a certificate
// and an SSL policy, TCP:9000, a backend policy on 81.
func webClassic(f *fake) *fakeClassic {
	c := f.addClassic("web", map[string]string{tag: "enforce"},
		listener("HTTP", 80, "HTTP", 80),
		elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::1:server-certificate/web")},
		listener("TCP", 9000, "TCP", 9000))
	c.policies = []elbtypes.PolicyDescription{
		{PolicyName: aws.String("auth"), PolicyTypeName: aws.String("BackendServerAuthenticationPolicyType")},
		{PolicyName: aws.String("tls"), PolicyTypeName: aws.String(sslNegotiationType)},
	}
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(81), PolicyNames: []string{"auth"}}}
	c.desc.ListenerDescriptions[1].PolicyNames = []string{"tls"}
	return c
}

// checkWeb fails unless c is the enforced web shape with one proxy policy.
func checkWeb(t *testing.T, c *fakeClassic) {
	t.Helper()
	n := 0
	for _, p := range c.policies {
		if aws.ToString(p.PolicyName) == ProxyPolicyName {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d %s policies; want 1", n, ProxyPolicyName)
	}
	got := map[int32]string{}
	for _, ld := range c.desc.ListenerDescriptions {
		l := ld.Listener
		if _, dup := got[l.LoadBalancerPort]; dup {
			t.Errorf("got two listeners on port %d", l.LoadBalancerPort)
		}
		got[l.LoadBalancerPort] = aws.ToString(l.Protocol) + "/" + aws.ToString(l.InstanceProtocol) + "/" + aws.ToString(l.SSLCertificateId) + "/" + slices.Concat([]string{""}, ld.PolicyNames)[len(ld.PolicyNames)]
	}
	want := map[int32]string{80: "TCP/TCP//", 443: "SSL/TCP/arn:aws:iam::1:server-certificate/web/tls", 9000: "TCP/TCP//"}
	for port, w := range want {
		if got[port] != w {
			t.Errorf("listener %d: got %q; want %q", port, got[port], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got listeners %v; want %v", got, want)
	}
}

// barrier holds every run's first policy read until all n runs made it, so
// that they all plan from the same state, as concurrent invocations that
// start together do.
type barrier struct {
	*fake
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrier) DescribeLoadBalancerPolicies(ctx context.Context, in *elb.DescribeLoadBalancerPoliciesInput, o ...func(*elb.Options)) (*elb.DescribeLoadBalancerPoliciesOutput, error) {
	if len(in.PolicyNames) == 0 {
		b.mu.Lock()
		b.waiting--
		if b.waiting == 0 {
			close(b.release)
		}
		b.mu.Unlock()
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.fake.DescribeLoadBalancerPolicies(ctx, in, o...)
}

// TestConcurrentRunsConverge: ten runs that plan from the same state (ten
// concurrent Lambda invocations for one load balancer) end with one proxy
// protocol policy, one listener per port as enforced, and no error: the
// policy a concurrent run created is reused (AWS answers DuplicatePolicyName),
// and a listener already replaced is not replaced again.
func TestConcurrentRunsConverge(t *testing.T) {
	const runs = 10
	f := newFake()
	c := webClassic(f)
	b := &barrier{fake: f, waiting: runs, release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background()) // no deadline: StopBefore would apply
	defer cancel()
	reports := make([]Report, runs)
	var wg sync.WaitGroup
	for i := range runs {
		e, err := New(b, fakeV2{f}, Config{}, nil, allCerts(), WithInstances(fakeEC2{f}))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			res, err := e.Reconcile(ctx, Targets{Classic: []string{"web"}})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			reports[i] = res.Reports[0]
		})
	}
	wg.Wait()
	for i, r := range reports {
		if r.Status != StatusRemediated || r.Err() != nil {
			t.Errorf("run %d: got %s (%v) %+v; want remediated", i, r.Status, r.Err(), r.Findings)
		}
	}
	checkWeb(t, c)
}

// interfere runs a change to the fake just before the n-th call of one
// action, as a concurrent run or a person would.
type interfere struct {
	*fake
	action string
	n      int
	change func(c *fakeClassic)
	calls  int
}

func (w *interfere) hit(action string) {
	if action != w.action {
		return
	}
	w.calls++
	if w.calls == w.n {
		w.mu.Lock()
		w.change(w.classic["web"])
		w.mu.Unlock()
	}
}

func (w *interfere) DescribeLoadBalancers(ctx context.Context, in *elb.DescribeLoadBalancersInput, o ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	w.hit("DescribeLoadBalancers")
	return w.fake.DescribeLoadBalancers(ctx, in, o...)
}

func (w *interfere) CreateLoadBalancerListeners(ctx context.Context, in *elb.CreateLoadBalancerListenersInput, o ...func(*elb.Options)) (*elb.CreateLoadBalancerListenersOutput, error) {
	w.hit("CreateLoadBalancerListeners")
	return w.fake.CreateLoadBalancerListeners(ctx, in, o...)
}

func (w *interfere) SetLoadBalancerPoliciesOfListener(ctx context.Context, in *elb.SetLoadBalancerPoliciesOfListenerInput, o ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesOfListenerOutput, error) {
	w.hit("SetLoadBalancerPoliciesOfListener")
	return w.fake.SetLoadBalancerPoliciesOfListener(ctx, in, o...)
}

func setListener(c *fakeClassic, port int32, ld *elbtypes.ListenerDescription) {
	c.desc.ListenerDescriptions = slices.DeleteFunc(c.desc.ListenerDescriptions, func(x elbtypes.ListenerDescription) bool { return x.Listener.LoadBalancerPort == port })
	if ld != nil {
		c.desc.ListenerDescriptions = append(c.desc.ListenerDescriptions, *ld)
	}
}

// TestListenerSwapUnderInterference covers each conflict a listener swap can
// meet from a concurrent run or a person.
func TestListenerSwapUnderInterference(t *testing.T) {
	https := elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"),
		InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::1:server-certificate/web")}, PolicyNames: []string{"tls"}}
	ssl := elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"),
		InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::1:server-certificate/web")}, PolicyNames: []string{"tls"}}
	tests := []struct {
		name       string
		action     string
		n          int
		change     func(c *fakeClassic)
		wantStatus Status
		wantWeb    bool // the enforced shape
		want443    string
	}{
		{"original restored by another run after our delete", "CreateLoadBalancerListeners", 2,
			func(c *fakeClassic) { setListener(c, 443, &https) }, StatusRemediated, true, ""},
		{"replacement deleted by another run before our policies", "SetLoadBalancerPoliciesOfListener", 1,
			func(c *fakeClassic) { setListener(c, 443, nil) }, StatusRemediated, true, ""},
		{"already replaced by another run", "DescribeLoadBalancers", 3,
			func(c *fakeClassic) { setListener(c, 443, &ssl) }, StatusRemediated, true, ""},
		{"changed by a person since read", "DescribeLoadBalancers", 3,
			func(c *fakeClassic) {
				l := https
				l.Listener = &elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(8443), SSLCertificateId: https.Listener.SSLCertificateId}
				setListener(c, 443, &l)
			}, StatusError, false, "HTTPS/8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := webClassic(f)
			e := newEngine(t, f, Config{})
			e.classic = &interfere{fake: f, action: tt.action, n: tt.n, change: tt.change}
			res, err := e.Reconcile(context.Background(), Targets{Classic: []string{"web"}})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Reports[0]
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s (%v) %+v; want %s", r.Status, r.Err(), r.Actions, tt.wantStatus)
			}
			if tt.wantWeb {
				checkWeb(t, c)
				return
			}
			for _, ld := range c.desc.ListenerDescriptions {
				if ld.Listener.LoadBalancerPort == 443 {
					if got := aws.ToString(ld.Listener.Protocol) + "/" + fmt.Sprint(aws.ToInt32(ld.Listener.InstancePort)); got != tt.want443 {
						t.Errorf("listener 443: got %s; want %s left alone", got, tt.want443)
					}
				}
			}
		})
	}
}
