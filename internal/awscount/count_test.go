package awscount

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
)

// TestCountsRealClient drives a real SDK client against a local server that
// answers DescribeTags, and checks calls and attempts.
func TestCountsRealClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<DescribeTagsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"><DescribeTagsResult><TagDescriptions/></DescribeTagsResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeTagsResponse>`)
	}))
	defer srv.Close()
	c := New()
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}
	c.Instrument(&cfg)
	client := elb.NewFromConfig(cfg)
	for range 3 {
		if _, err := client.DescribeTags(context.Background(), &elb.DescribeTagsInput{LoadBalancerNames: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Calls()["elb:DescribeTags"]; got != 3 {
		t.Errorf("got %d calls; want 3 (%v)", got, c.Calls())
	}
	if got := c.Attempts()["elb:DescribeTags"]; got != 3 {
		t.Errorf("got %d attempts; want 3", got)
	}
	if calls, mutating := c.Totals(); calls != 3 || mutating != 0 {
		t.Errorf("got totals %d/%d; want 3/0", calls, mutating)
	}
	if got, want := c.String(), "elb:DescribeTags=3\n"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
	c.Reset()
	if calls, _ := c.Totals(); calls != 0 {
		t.Errorf("after Reset got %d calls; want 0", calls)
	}
}

func TestIsMutating(t *testing.T) {
	tests := map[string]bool{"elb:DescribeTags": false, "sts:GetCallerIdentity": false, "elbv2:ModifyListenerAttributes": true, "elb:CreateLoadBalancerListeners": true}
	for k, want := range tests {
		if got := IsMutating(k); got != want {
			t.Errorf("IsMutating(%q) = %v; want %v", k, got, want)
		}
	}
}

func ExampleKey() {
	fmt.Println(Key("Elastic Load Balancing v2", "ModifyTargetGroupAttributes"))
	// Output: elbv2:ModifyTargetGroupAttributes
}
