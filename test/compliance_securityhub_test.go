//go:build integration

package test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/engine"
)

// TestSecurityHubFirstSeenAndGone: the real binary's audits keep a
// finding's CreatedAt (when elbguard first saw the problem) while
// UpdatedAt moves; then, with the load balancer deleted, the real enforcer
// bootstrap archives the findings it had and creates no other, and an event
// naming a load balancer never seen creates none.
func TestSecurityHubFirstSeenAndGone(t *testing.T) {
	r := orgStart(t, []string{orgHub}, []string{"us-east-1"}, 0)
	orgEnableSecurityHub(t, r, []string{orgHub})
	c, err := r.provider.Clients(enfCtxT(t), orgHub, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	hub := securityhubsdk.NewFromConfig(c.Config)
	lb := compliance.ClassicARN("us-east-1", orgHub, orgWeb)
	id := securityhub.FindingID(lb, securityhub.ControlListenerProtocol)

	if res := orgCLI(t, r, nil, "audit", "--securityhub"); res.Code != 1 {
		t.Fatalf("first audit: got exit %d; want 1\n%s", res.Code, res.Stderr)
	}
	first := compFindings(t, hub)[id]
	time.Sleep(1100 * time.Millisecond) // CreatedAt and UpdatedAt are in milliseconds
	if res := orgCLI(t, r, nil, "audit", "--securityhub"); res.Code != 1 {
		t.Fatalf("second audit: got exit %d; want 1\n%s", res.Code, res.Stderr)
	}
	second := compFindings(t, hub)[id]
	if aws.ToString(first.CreatedAt) == "" || aws.ToString(second.CreatedAt) != aws.ToString(first.CreatedAt) ||
		aws.ToString(second.UpdatedAt) == aws.ToString(first.UpdatedAt) {
		t.Errorf("second audit: CreatedAt %s -> %s, UpdatedAt %s -> %s; want CreatedAt kept and UpdatedAt moved",
			aws.ToString(first.CreatedAt), aws.ToString(second.CreatedAt), aws.ToString(first.UpdatedAt), aws.ToString(second.UpdatedAt))
	}
	before := len(compFindings(t, hub))

	if _, err := c.Classic.DeleteLoadBalancer(enfCtxT(t), &elb.DeleteLoadBalancerInput{LoadBalancerName: aws.String(orgWeb)}); err != nil {
		t.Fatal(err)
	}
	url, _ := enfStartLambda(t, r.m, "./functions/enforcer", "ELBGUARD_SECURITY_HUB=true")
	for _, name := range []string{orgWeb, "never-seen"} {
		out := enfInvoke(t, url, orgEvent(t, orgHub, "us-east-1", name))
		if out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != engine.StatusGone {
			t.Fatalf("event for %s: got %+v; want gone", name, out.Result)
		}
	}
	after := compFindings(t, hub)
	for fid, f := range after {
		if strings.Contains(fid, "/"+orgWeb+"/") && f.RecordState != shtypes.RecordStateArchived {
			t.Errorf("%s: %s; want archived", fid, f.RecordState)
		}
		if strings.Contains(fid, "never-seen") || strings.HasSuffix(fid, "/exempt") {
			t.Errorf("finding %s created for a load balancer that is gone", fid)
		}
	}
	if len(after) != before {
		t.Errorf("got %d findings after the deletion; want the %d there were", len(after), before)
	}
	if got := after[id]; aws.ToString(got.CreatedAt) != aws.ToString(first.CreatedAt) {
		t.Errorf("archived finding: CreatedAt %s; want the first %s", aws.ToString(got.CreatedAt), aws.ToString(first.CreatedAt))
	}
}
