package faultproxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// TestBucketsThrottleLikeAWS drains an emulated bucket through a real SDK
// client: Capacity calls pass, the next is answered Throttling without
// reaching the backend, and a second of refill admits Refill more.
func TestBucketsThrottleLikeAWS(t *testing.T) {
	p, b, c := start(t, 1)
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	if err := p.SetBuckets(&Buckets{Read: Bucket{Capacity: 3, Refill: 2}, Mutate: Bucket{Capacity: 1, Refill: 1}, Now: clock}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := describe(t, c); err != nil {
			t.Fatalf("call %d of a full bucket: %v", i+1, err)
		}
	}
	err := describe(t, c)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "Throttling" {
		t.Fatalf("call 4 of a bucket of 3: got %v; want Throttling", err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	for i := range 2 {
		if err := describe(t, c); err != nil {
			t.Fatalf("refilled call %d: %v", i+1, err)
		}
	}
	if err := describe(t, c); err == nil {
		t.Fatalf("call after the refill was spent: got nil; want Throttling")
	}
	st := p.Stats()[describeKey]
	if st.Requests != 7 || st.Forwarded != 5 || st.Faults[FaultBucket] != 2 || b.calls != 5 {
		t.Errorf("got %+v and %d backend calls; want 7 requests, 5 forwarded, 2 bucket faults", st, b.calls)
	}
}

// TestBucketKeys checks that callers, regions, API versions and call
// classes each have their own bucket.
func TestBucketKeys(t *testing.T) {
	auth := func(key, region string) string {
		return "AWS4-HMAC-SHA256 Credential=" + key + "/20261205/" + region + "/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=00"
	}
	tests := []struct {
		name, auth, version, action string
		wantKey                     string
		wantMutate                  bool
	}{
		{"read", auth("ASIAONE", "us-east-1"), VersionClassic, "DescribeTags", "ASIAONE/us-east-1/" + VersionClassic + "/read", false},
		{"mutate", auth("ASIAONE", "us-east-1"), VersionClassic, "CreateLoadBalancerListeners", "ASIAONE/us-east-1/" + VersionClassic + "/mutate", true},
		{"other region", auth("ASIAONE", "eu-west-1"), VersionClassic, "DescribeTags", "ASIAONE/eu-west-1/" + VersionClassic + "/read", false},
		{"other caller", auth("ASIATWO", "us-east-1"), VersionV2, "ModifyListener", "ASIATWO/us-east-1/" + VersionV2 + "/mutate", true},
		{"unsigned", "", VersionV2, "DescribeListeners", "anonymous/-/" + VersionV2 + "/read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(""))
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			key, mutate := bucketKey(r, tt.version, tt.action)
			if key != tt.wantKey || mutate != tt.wantMutate {
				t.Errorf("got %q, mutate %v; want %q, %v", key, mutate, tt.wantKey, tt.wantMutate)
			}
		})
	}
}

func TestBucketsValidate(t *testing.T) {
	p, _, _ := start(t, 1)
	if err := p.SetBuckets(&Buckets{Read: Bucket{Capacity: 0, Refill: 1}, Mutate: Bucket{Capacity: 1, Refill: 1}}); err == nil {
		t.Errorf("empty Read bucket: got nil; want an error")
	}
	if err := p.SetBuckets(nil); err != nil {
		t.Errorf("nil: got %v; want none", err)
	}
}
