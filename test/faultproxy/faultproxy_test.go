package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/smithy-go"
)

// backend answers every Classic DescribeLoadBalancers with an empty list and
// counts the requests it receives.
type backend struct {
	mu    sync.Mutex
	calls int
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	if !strings.Contains(string(body), "Action=DescribeLoadBalancers") {
		WriteError(w, http.StatusBadRequest, "Sender", "InvalidAction", "backend: unexpected "+string(body))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprint(w, `<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"><DescribeLoadBalancersResult><LoadBalancerDescriptions/></DescribeLoadBalancersResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>`)
}

// start runs a backend and a proxy in front of it, and returns the proxy and
// a real SDK client pointed at it whose retries do not wait.
func start(t *testing.T, maxAttempts int) (*Proxy, *backend, *elb.Client) {
	t.Helper()
	b := &backend{}
	bs := httptest.NewServer(b)
	t.Cleanup(bs.Close)
	p, err := New(bs.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	c := elb.New(elb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ps.URL),
		Credentials:  aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
	return p, b, c
}

func describe(t *testing.T, c *elb.Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	return err
}

var describeKey = Key(VersionClassic, "DescribeLoadBalancers")

// TestFaultsAreRetriedBySDK proves each fault is one the SDK's standard
// retryer retries: the call succeeds once the faults stop, and fails with a
// retryable error while they last.
func TestFaultsAreRetriedBySDK(t *testing.T) {
	tests := []struct {
		name      string
		rule      Rule
		attempts  int
		wantErr   string // substring of the error, "" for success
		wantFault string
		wantReqs  int
		wantFwd   int
	}{
		{"throttle then success", Rule{Action: "DescribeLoadBalancers", Kind: Throttle, First: 2}, 3, "", "throttle", 3, 1},
		{"throttle exhausts attempts", Rule{Kind: Throttle}, 3, "Throttling", "throttle", 3, 0},
		{"500 then success", Rule{Action: "DescribeLoadBalancers", Version: VersionClassic, Kind: InternalError, First: 1}, 3, "", "500", 2, 1},
		{"500 exhausts attempts", Rule{Kind: InternalError}, 2, "InternalFailure", "500", 2, 0},
		{"reset then success", Rule{Kind: Reset, First: 2}, 3, "", "reset", 3, 1},
		{"reset exhausts attempts", Rule{Kind: Reset}, 2, "connection reset", "reset", 2, 0},
		{"delay forwards", Rule{Kind: Delay, Delay: 20 * time.Millisecond}, 1, "", "delay", 1, 1},
		{"other version untouched", Rule{Version: VersionV2, Kind: Throttle}, 1, "", "", 1, 1},
		{"other action untouched", Rule{Action: "CreateLoadBalancerListeners", Kind: Throttle}, 1, "", "", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, b, c := start(t, tt.attempts)
			if err := p.SetRules(tt.rule); err != nil {
				t.Fatal(err)
			}
			err := describe(t, c)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v; want success after the SDK's retries", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v; want an error containing %q", err, tt.wantErr)
			case tt.wantErr != "":
				var max *retry.MaxAttemptsError
				if !errors.As(err, &max) {
					t.Errorf("got %T %v; want the SDK to have retried to its maximum", err, err)
				}
			}
			st := p.Stats()[describeKey]
			if st.Requests != tt.wantReqs || st.Forwarded != tt.wantFwd || b.calls != tt.wantFwd {
				t.Errorf("got %d requests, %d forwarded, backend saw %d; want %d, %d, %d", st.Requests, st.Forwarded, b.calls, tt.wantReqs, tt.wantFwd, tt.wantFwd)
			}
			if tt.wantFault != "" && st.Faults[tt.wantFault] != tt.wantReqs-boolInt(tt.wantErr == "" && tt.rule.Kind != Delay) {
				t.Errorf("got faults %v; want %s on every faulted attempt", st.Faults, tt.wantFault)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestThrottlingCodeIsSDKThrottle checks that the injected error code is in
// the SDK's throttle set (cheaper retry tokens, 1 s base backoff) and
// retryable, as Classic ELB's and ELBv2's real "Throttling" is.
func TestThrottlingCodeIsSDKThrottle(t *testing.T) {
	p, _, c := start(t, 1)
	if err := p.SetRules(Rule{Kind: Throttle}); err != nil {
		t.Fatal(err)
	}
	err := describe(t, c)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "Throttling" {
		t.Fatalf("got %v; want API error Throttling", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("got %v; want the SDK to classify it as throttling", err)
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Errorf("got %v; want the SDK to classify it as retryable", err)
	}
}

func TestEveryFirstAndProbability(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want int // faults in 20 requests
	}{
		{"every 4th", Rule{Kind: Throttle, Every: 4}, 5},
		{"first 3", Rule{Kind: Throttle, First: 3}, 3},
		{"every 2nd of the first 10", Rule{Kind: Throttle, Every: 2, First: 10}, 5},
		{"never", Rule{Kind: Throttle, Probability: 1e-9}, 0},
		{"always", Rule{Kind: Throttle, Probability: 1}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, c := start(t, 1)
			if err := p.SetRules(tt.rule); err != nil {
				t.Fatal(err)
			}
			for range 20 {
				_ = describe(t, c)
			}
			if got := p.Stats()[describeKey].Faults["throttle"]; got != tt.want {
				t.Errorf("got %d faults; want %d", got, tt.want)
			}
		})
	}
	// A probability of one half faults about half of many requests.
	p, _, c := start(t, 1)
	if err := p.SetRules(Rule{Kind: InternalError, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		_ = describe(t, c)
	}
	if got := p.Stats()[describeKey].Faults["500"]; got < 60 || got > 140 {
		t.Errorf("got %d faults in 200 at p=0.5; want about 100", got)
	}
}

func TestOnFirstAndIntercept(t *testing.T) {
	p, b, c := start(t, 1)
	var mu sync.Mutex
	hooks := 0
	p.OnFirst("DescribeLoadBalancers", func(action string) {
		mu.Lock()
		hooks++
		mu.Unlock()
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.calls != 0 {
			t.Errorf("got %d requests forwarded before the hook ran; want 0", b.calls)
		}
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = describe(t, c) })
	}
	wg.Wait()
	if hooks != 1 {
		t.Errorf("got %d hook runs; want 1", hooks)
	}

	p.Intercept("DescribeLoadBalancers", func(w http.ResponseWriter, r *http.Request, form url.Values, forward http.Handler) {
		if form.Get("PageSize") == "7" {
			WriteError(w, http.StatusBadRequest, "Sender", "LoadBalancerNotFound", "emulated")
			return
		}
		forward.ServeHTTP(w, r)
	})
	ctx := context.Background()
	if _, err := c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(7)}); err == nil || !strings.Contains(err.Error(), "LoadBalancerNotFound") {
		t.Errorf("got %v; want the interceptor's error", err)
	}
	if _, err := c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); err != nil {
		t.Errorf("got %v; want the interceptor to forward", err)
	}
	st := p.Stats()[describeKey]
	if st.Requests != 10 || st.Forwarded != 9 || st.Faults["intercepted"] != 2 {
		t.Errorf("got %+v; want 10 requests, 9 forwarded, 2 intercepted", st)
	}
	p.Reset()
	if len(p.Stats()) != 0 {
		t.Errorf("got %v after Reset; want no counts", p.Stats())
	}
}

func TestStatsHelpers(t *testing.T) {
	s := Stats{
		Key(VersionClassic, "DescribeTags"):                {Requests: 3, Forwarded: 2, Faults: map[string]int{"throttle": 1}},
		Key(VersionClassic, "CreateLoadBalancerListeners"): {Requests: 2, Forwarded: 1, Faults: map[string]int{"500": 1}},
		Key(VersionV2, "ModifyTargetGroupAttributes"):      {Requests: 1, Faults: map[string]int{"reset": 1}},
	}
	if r, f, n := s.Totals(); r != 6 || f != 3 || n != 3 {
		t.Errorf("got totals %d, %d, %d; want 6, 3, 3", r, f, n)
	}
	if got := s.ForwardedMutating(); len(got) != 1 || got[Key(VersionClassic, "CreateLoadBalancerListeners")] != 1 {
		t.Errorf("got %v; want only the forwarded CreateLoadBalancerListeners", got)
	}
	want := "elb:CreateLoadBalancerListeners=2/1 elb:DescribeTags=3/2 elbv2:ModifyTargetGroupAttributes=1/0"
	if got := s.String(); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	for _, r := range []Rule{{}, {Kind: Throttle, First: -1}, {Kind: Throttle, Every: -2}, {Kind: Reset, Probability: 1.5}, {Kind: Delay, Delay: -time.Second}} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v: got no error; want one", r)
		}
	}
	if _, err := New("127.0.0.1:5000", 0); err == nil {
		t.Errorf("got no error for a URL without scheme; want one")
	}
}
