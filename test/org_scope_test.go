//go:build integration

package test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/harness"
)

// orgCreateWeb creates the rig's web (tagged enforce, HTTP:80) in account
// and region.
func orgCreateWeb(t *testing.T, r *orgRig, account, region string) {
	t.Helper()
	ctx := harness.Context(t, 30*time.Second)
	c, err := r.provider.Clients(ctx, account, region)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(orgWeb),
		AvailabilityZones: []string{region + "a"},
		Listeners:         []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")},
		Tags:              enfTags(enfModeTag, "enforce", "elbguard:readiness", "skip"), // no instances: a hand-run fleet
	}); err != nil {
		t.Fatalf("create web in %s/%s: %v", account, region, err)
	}
}

// orgTree is an organization in moto, managed by the hub (moto answers
// Organizations listings only in the management account):
//
//	root: the hub (management account)
//	  workloads: inOU
//	    prod: nested, noSpoke (its role denied)
//	  sandbox: outside
type orgTree struct {
	workloads                      string
	inOU, nested, noSpoke, outside string
}

func orgCreateTree(t *testing.T, r *orgRig) orgTree {
	t.Helper()
	ctx := harness.Context(t, 30*time.Second)
	c := organizations.NewFromConfig(r.m.Config(t))
	if _, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("list roots: %v, %+v", err, roots)
	}
	root := aws.ToString(roots.Roots[0].Id)
	ou := func(parent, name string) string {
		out, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.OrganizationalUnit.Id)
	}
	account := func(name, parent string) string {
		out, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(root),
			DestinationParentId: aws.String(parent)}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	var o orgTree
	o.workloads = ou(root, "workloads")
	prod, sandbox := ou(o.workloads, "prod"), ou(root, "sandbox")
	o.inOU, o.nested, o.noSpoke, o.outside = account("a", o.workloads), account("b", prod), account("d", prod), account("c", sandbox)
	orgDenyRoles(r.sts, o.noSpoke)
	for _, a := range []string{o.inOU, o.nested, o.noSpoke, o.outside} {
		for _, reg := range orgRegions {
			orgCreateWeb(t, r, a, reg)
		}
	}
	return o
}

// TestOrgSweepOrgUnits runs the real sweeper bootstrap of a hub whose
// StackSet targets one organizational unit: the sweep covers the accounts
// of that unit and of the unit under it, plus the one account listed; an
// account of another unit is not touched; an account of the unit without a
// spoke is reported once, not_applicable with the reason, while the listed
// account without one is an error in each region. With the whole
// organization (ELBGUARD_ACCOUNTS=org) nothing is an error at all.
func TestOrgSweepOrgUnits(t *testing.T) {
	r := orgStart(t, []string{orgHub}, orgRegions, 0)
	o := orgCreateTree(t, r)
	regions := "ELBGUARD_REGIONS=" + strings.Join(orgRegions, ",")

	url, _ := enfStartLambda(t, r.m, "./functions/sweeper", r.env("ELBGUARD_ACCOUNTS="+orgMissing, "ELBGUARD_ORG_UNITS="+o.workloads, regions)...)
	out := enfInvoke(t, url, enfSampleEvent(t, "scheduled.json"))
	if out.Result == nil {
		t.Fatalf("sweeper: got %+v; want a result", out)
	}
	got := map[string]engine.Report{}
	for _, rep := range out.Result.Reports {
		got[rep.Account+"/"+rep.Region+"/"+rep.Name] = rep
	}
	for _, loc := range orgLocations(orgHub, o.inOU, o.nested) {
		if rep := got[loc+"/"+orgWeb]; rep.Status != engine.StatusRemediated {
			t.Errorf("%s/web: got %q; want remediated", loc, rep.Status)
		}
	}
	if where := r.fixedWhere2(t, o.outside); len(where) != 0 {
		t.Errorf("the account of another unit was changed in %v; want untouched", where)
	}
	var noSpoke []engine.Report
	for _, rep := range out.Result.Reports {
		if rep.Account == o.noSpoke {
			noSpoke = append(noSpoke, rep)
		}
		if rep.Account == o.outside {
			t.Errorf("report for the account of another unit: %+v", rep)
		}
	}
	if len(noSpoke) != 1 || noSpoke[0].Status != engine.StatusNotApplicable || noSpoke[0].Findings[0].Rule != fleet.RuleNoSpoke ||
		!strings.Contains(noSpoke[0].Findings[0].Detail, "AccessDenied") || !strings.Contains(noSpoke[0].Findings[0].Detail, "management account") {
		t.Errorf("account without a spoke: got %+v; want one not_applicable report, no_spoke, with the reason", noSpoke)
	}
	for _, reg := range orgRegions {
		loc := orgMissing + "/" + reg
		if rep := got[loc+"/"+loc]; rep.Status != engine.StatusError || rep.Findings[0].Rule != fleet.RuleAssumeRole {
			t.Errorf("listed account without a spoke in %s: got %+v; want error, assume_role_failed", reg, rep)
		}
	}
	if n := out.Result.Counts[engine.StatusError]; n != 2 {
		t.Errorf("errors: got %d; want 2 (the listed account's two regions)", n)
	}

	// The whole organization, nothing listed: the management account's
	// sibling without a spoke never keeps the error alarm on.
	url, _ = enfStartLambda(t, r.m, "./functions/sweeper", r.env("ELBGUARD_ACCOUNTS=org", regions)...)
	out = enfInvoke(t, url, enfSampleEvent(t, "scheduled.json"))
	if out.Result == nil || out.Result.Counts[engine.StatusError] != 0 || out.Result.Counts[engine.StatusNotApplicable] != 1 {
		t.Fatalf("org sweep: got %+v; want no error and one not_applicable", out.Result)
	}
	if where := r.fixedWhere2(t, o.outside); !slices.Equal(where, orgLocations(o.outside)) {
		t.Errorf("org sweep: the sandbox account fixed in %v; want %v", where, orgLocations(o.outside))
	}
}

// fixedWhere2 lists the account/region pairs of account where web is fixed.
func (r *orgRig) fixedWhere2(t *testing.T, account string) []string {
	t.Helper()
	var out []string
	for _, reg := range orgRegions {
		if r.fixed(t, account, reg, orgWeb) {
			out = append(out, account+"/"+reg)
		}
	}
	return out
}

// TestOrgCLIAccountsExact: --accounts 111111111111 covers that account
// alone; the caller's own account is neither reported nor changed.
func TestOrgCLIAccountsExact(t *testing.T) {
	r := orgStart(t, []string{orgHub, "111111111111"}, []string{"us-east-1"}, 0)
	res := orgCLI(t, r, nil, "remediate", "--yes", "--output", "json", "--accounts", "111111111111", "--regions", "us-east-1")
	if res.Code > 1 { // 1: the rig's audit-mode load balancer is left non_compliant
		t.Fatalf("remediate: got exit %d; want 0 or 1\n%s\n%s", res.Code, res.Stderr, res.Stdout)
	}
	for key := range orgReports(t, res.Stdout) {
		if !strings.HasPrefix(key, "111111111111/") {
			t.Errorf("report %s; want only 111111111111's", key)
		}
	}
	if !r.fixed(t, "111111111111", "us-east-1", orgWeb) {
		t.Errorf("111111111111's web not fixed")
	}
	if r.fixed(t, orgHub, "us-east-1", orgWeb) {
		t.Errorf("the caller's own web was fixed although its account was not named")
	}
}

// TestCLIHandleForeignEvent: handle without --accounts refuses (exit 2, the
// reason on stderr, nothing reported) an event for another account or
// region, which it would otherwise report gone; its own still works.
func TestCLIHandleForeignEvent(t *testing.T) {
	r := orgStart(t, []string{orgHub, "111111111111"}, orgRegions, 0)
	for _, tt := range []struct {
		name, account, region, why string
	}{
		{"other account", "111111111111", "us-east-1", "the event is for account 111111111111 but these credentials are account " + orgHub},
		{"other region", orgHub, "eu-west-1", "the event is for region eu-west-1 but this run is in us-east-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := orgCLI(t, r, orgEvent(t, tt.account, tt.region, orgWeb), "handle", "--output", "json", "-")
			if res.Code != 2 || !strings.Contains(res.Stderr, tt.why) || strings.Contains(res.Stdout, `"gone"`) {
				t.Errorf("got exit %d\n%s\n%s; want exit 2 because %q, nothing gone", res.Code, res.Stdout, res.Stderr, tt.why)
			}
			if r.fixed(t, tt.account, tt.region, orgWeb) {
				t.Errorf("web changed in %s/%s", tt.account, tt.region)
			}
		})
	}
	res := orgCLI(t, r, orgEvent(t, orgHub, "us-east-1", orgWeb), "handle", "--output", "json", "-")
	if res.Code != 0 || !r.fixed(t, orgHub, "us-east-1", orgWeb) {
		t.Errorf("own event: got exit %d\n%s; want 0 and web fixed", res.Code, res.Stderr)
	}
}
