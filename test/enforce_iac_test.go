//go:build integration

package test

import (
	"strings"
	"testing"

	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"

	"github.com/elbguard/elbguard/engine"
)

// TestIaCOwnerTags: a load balancer Terraform manages carries only the
// team's own ManagedBy=terraform. Named in --iac-tags (the real binary) or
// ELBGUARD_IAC_TAGS (the real sweeper bootstrap) it is held as
// managed_by_iac and left unchanged; without either it is remediated.
func TestIaCOwnerTags(t *testing.T) {
	r := orgStart(t, []string{orgHub}, []string{"us-east-1"}, 0)
	c, err := r.provider.Clients(enfCtxT(t), orgHub, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Classic.AddTags(enfCtxT(t), &elb.AddTagsInput{LoadBalancerNames: []string{orgWeb}, Tags: enfTags("ManagedBy", "Terraform")}); err != nil {
		t.Fatal(err)
	}
	held := func(t *testing.T, rep engine.Report) {
		t.Helper()
		d := ""
		for _, f := range rep.Findings {
			if f.Rule == engine.RuleManagedByIaC {
				d = f.Detail
			}
		}
		if rep.Status != engine.StatusHeld || !strings.Contains(d, "tag ManagedBy=Terraform") {
			t.Errorf("web: got %s %+v; want held, managed_by_iac naming the tag", rep.Status, rep.Findings)
		}
		if r.fixed(t, orgHub, "us-east-1", orgWeb) {
			t.Fatalf("web was changed although Terraform owns it")
		}
	}

	res := orgCLI(t, r, nil, "remediate", "--yes", "--output", "json", "--iac-tags", "ManagedBy=terraform,crossplane.io/claim-name")
	held(t, orgReports(t, res.Stdout)["//"+orgWeb])

	url, _ := enfStartLambda(t, r.m, "./functions/sweeper", "ELBGUARD_IAC_TAGS=ManagedBy=terraform")
	out := enfInvoke(t, url, enfSampleEvent(t, "scheduled.json"))
	if out.Result == nil {
		t.Fatalf("sweeper: got %+v; want a result", out)
	}
	for _, rep := range out.Result.Reports {
		if rep.Name == orgWeb {
			held(t, rep)
		}
	}

	// Exit 1 is expected: the rig has load balancers the run leaves held.
	if res := orgCLI(t, r, nil, "remediate", "--yes", "--output", "json"); res.Code > 1 || !r.fixed(t, orgHub, "us-east-1", orgWeb) {
		t.Errorf("without IaC owner tags: got exit %d, web fixed %v; want web remediated\n%s", res.Code, r.fixed(t, orgHub, "us-east-1", orgWeb), res.Stderr)
	}
}
