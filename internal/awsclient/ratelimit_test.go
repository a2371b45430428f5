package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// TestLimiterPacesELBCalls sends ELB calls through a client with the
// limiter installed: reads and mutations have their own buckets at their
// own rates, and other services are not limited.
func TestLimiterPacesELBCalls(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml")
		if strings.Contains(string(body), "Action=DescribeLoadBalancers") {
			fmt.Fprint(w, `<DescribeLoadBalancersResponse><DescribeLoadBalancersResult><LoadBalancerDescriptions/></DescribeLoadBalancersResult></DescribeLoadBalancersResponse>`)
			return
		}
		fmt.Fprint(w, `<ModifyLoadBalancerAttributesResponse><ModifyLoadBalancerAttributesResult/></ModifyLoadBalancerAttributesResponse>`)
	}))
	t.Cleanup(srv.Close)
	l := NewLimiter(Limits{Describe: 50, Mutate: 10, DescribeBurst: 1, MutateBurst: 1})
	c := FromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}}, l.Option)
	ctx := context.Background()
	timeIt := func(n int, call func() error) time.Duration {
		start := time.Now()
		for range n {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	// 11 reads at 50/s: the first is free, 10 more take 200 ms.
	read := timeIt(11, func() error {
		_, err := c.Classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
		return err
	})
	// 4 mutations at 10/s: 300 ms, not slowed by the reads before.
	mutate := timeIt(4, func() error {
		_, err := c.Classic.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerName: aws.String("x"), LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{}})
		return err
	})
	if read < 180*time.Millisecond || read > 2*time.Second {
		t.Errorf("11 reads at 50/s took %s; want about 200ms", read)
	}
	if mutate < 280*time.Millisecond || mutate > 2*time.Second {
		t.Errorf("4 mutations at 10/s took %s; want about 300ms", mutate)
	}
	// Re-creating a listener never waits, but takes its token: the next
	// mutation waits for two.
	start := time.Now()
	for range 3 {
		if err := l.Wait(ctx, "Elastic Load Balancing", "CreateLoadBalancerListeners"); err != nil {
			t.Fatal(err)
		}
	}
	// Waiting would take 100 ms a create (the mutations above emptied the
	// bucket): 300 ms for the three. The bound leaves a stalled test
	// goroutine 250 ms.
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("3 listener re-creations waited %s; want no wait (300ms if each waited for its token)", d)
	}
	if err := l.Wait(ctx, "Elastic Load Balancing", "DeleteLoadBalancerListeners"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("a delete after 3 unwaited creates at 10/s came after %s; want about 300ms (the creates' tokens repaid)", d)
	}
	if err := l.Wait(ctx, "STS", "AssumeRole"); err != nil {
		t.Errorf("STS: got %v; want no limit", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_ = l.Wait(short, "Elastic Load Balancing", "ModifyLoadBalancerAttributes")
	err := l.Wait(short, "Elastic Load Balancing", "ModifyLoadBalancerAttributes")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait past the deadline: got %v; want DeadlineExceeded", err)
	}
}

func TestIsRead(t *testing.T) {
	for op, want := range map[string]bool{"DescribeTags": true, "GetX": true, "ListY": true, "CreateLoadBalancerListeners": false, "AddTags": false} {
		if IsRead(op) != want {
			t.Errorf("IsRead(%q) = %v; want %v", op, !want, want)
		}
	}
}
