//go:build integration

package test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/harness"
)

// orgCLI runs the real elbguard binary with the rig's environment.
func orgCLI(t *testing.T, r *orgRig, stdin []byte, args ...string) harness.Result {
	t.Helper()
	bin := harness.Build(t, "./cmd/elbguard")
	opts := []harness.Option{harness.WithEnv(append(r.m.Env(), r.env()...)...)}
	if stdin != nil {
		opts = append(opts, harness.WithStdin(stdin))
	}
	return harness.Run(t, enfCtxTimeout, bin, args, opts...)
}

// orgReports decodes JSON reports by "account/region/name".
func orgReports(t *testing.T, out string) map[string]engine.Report {
	t.Helper()
	var res engine.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode elbguard json: %v\n%s", err, out)
	}
	got := map[string]engine.Report{}
	for _, rep := range res.Reports {
		got[rep.Account+"/"+rep.Region+"/"+rep.Name] = rep
	}
	return got
}

// TestOrgCLI drives the real elbguard binary over a hub and three spokes in
// two regions: audit covers every account and region (the spoke without a
// role failing alone), handle fixes the load balancer an event names in the
// event's account and region and nowhere else, bad locations are ignored
// with a reason and no AssumeRole, and remediate fixes every reachable
// location.
func TestOrgCLI(t *testing.T) {
	r := orgStart(t, nil, nil, 0)
	// --accounts is exactly the accounts named: the caller's (the hub) too.
	org := []string{"--accounts", strings.Join(append([]string{orgHub}, orgSpokes...), ","), "--regions", strings.Join(orgRegions, ",")}

	audit := orgCLI(t, r, nil, append([]string{"audit", "--output", "json", "--stats"}, org...)...)
	if audit.Code != 1 {
		t.Fatalf("audit: got exit %d; want 1 (non_compliant found)\n%s", audit.Code, audit.Stderr)
	}
	got := orgReports(t, audit.Stdout)
	for _, loc := range orgLocations(orgHub, orgSpokes[0], orgSpokes[1]) {
		for _, name := range []string{orgWeb, orgAudit} {
			if rep, ok := got[loc+"/"+name]; !ok || rep.Status != engine.StatusNonCompliant {
				t.Errorf("audit %s/%s: got %+v; want non_compliant with account and region", loc, name, rep)
			}
		}
	}
	for _, loc := range orgLocations(orgMissing) {
		rep := got[loc+"/"+loc]
		if rep.Status != engine.StatusError || len(rep.Findings) != 1 || rep.Findings[0].Rule != fleet.RuleAssumeRole ||
			!strings.Contains(rep.Findings[0].Detail, "AccessDenied") {
			t.Errorf("audit %s: got %+v; want one error report, assume_role_failed, AccessDenied", loc, rep)
		}
	}
	if want := 6*2 + 2; len(got) != want {
		t.Errorf("audit: got %d reports; want %d (2 per reachable location, 1 per unreachable)", len(got), want)
	}
	// AssumeRole is the only non-read call: once per spoke with a role (its
	// credentials serve both regions), once or twice (its two regions may
	// share one failed attempt) for the one without.
	if w := enfMutatingCalls(audit.Stderr); !slices.Equal(w, []string{"sts:AssumeRole=3"}) && !slices.Equal(w, []string{"sts:AssumeRole=4"}) {
		t.Errorf("audit: got non-read calls %v; want only sts:AssumeRole, 3 or 4", w)
	}

	table := orgCLI(t, r, nil, append([]string{"audit"}, org...)...)
	header := strings.Fields(strings.SplitN(table.Stdout, "\n", 2)[0])
	if !slices.Equal(header, []string{"ACCOUNT", "REGION", "TYPE", "NAME", "MODE", "STATUS", "CHANGES"}) {
		t.Errorf("audit table header: got %q; want ACCOUNT and REGION first\n%s", header, table.Stdout)
	}
	if !strings.Contains(table.Stdout, "222222222222  eu-west-1") {
		t.Errorf("audit table: no row for 222222222222 eu-west-1:\n%s", table.Stdout)
	}

	// An event from a spoke: fixed there, nowhere else.
	before := r.assumeRoles()
	h := orgCLI(t, r, orgEvent(t, "222222222222", "eu-west-1", orgWeb), append([]string{"handle", "--output", "json", "-"}, org...)...)
	if h.Code != 0 {
		t.Fatalf("handle: got exit %d; want 0\n%s\n%s", h.Code, h.Stdout, h.Stderr)
	}
	var out fleet.Outcome
	if err := json.Unmarshal([]byte(h.Stdout), &out); err != nil {
		t.Fatalf("decode handle output: %v\n%s", err, h.Stdout)
	}
	if out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != engine.StatusRemediated ||
		out.Result.Reports[0].Account != "222222222222" || out.Result.Reports[0].Region != "eu-west-1" {
		t.Fatalf("handle: got %+v; want web remediated in 222222222222/eu-west-1", out.Result)
	}
	if where := r.fixedWhere(t, orgWeb); !slices.Equal(where, []string{"222222222222/eu-west-1"}) {
		t.Errorf("after the event: web fixed in %v; want 222222222222/eu-west-1 only", where)
	}
	if n := r.assumeRoles() - before; n != 1 {
		t.Errorf("handle: got %d AssumeRole; want 1", n)
	}

	// Bad locations: ignored with a reason, no AssumeRole, no change.
	bad := []struct {
		name, account, region, why string
	}{
		{"account outside the configuration", "444444444444", "us-east-1", "account 444444444444 is not in the configured accounts"},
		{"malformed account", "12345", "us-east-1", `malformed account id "12345"`},
		{"account with a path", "111111111111/../x", "us-east-1", "malformed account id"},
		{"region not configured", "111111111111", "ap-south-1", "region ap-south-1 is not guarded"},
		{"malformed region", "111111111111", "us-east-1; rm -rf", "malformed region"},
	}
	before = r.assumeRoles()
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			res := orgCLI(t, r, orgEvent(t, tt.account, tt.region, orgWeb), append([]string{"handle", "--output", "json", "-"}, org...)...)
			var out fleet.Outcome
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("exit %d, decode: %v\n%s\n%s", res.Code, err, res.Stdout, res.Stderr)
			}
			if res.Code != 0 || out.Decision.Kind != "ignored" || !strings.Contains(out.Decision.Reason, tt.why) || out.Result != nil {
				t.Errorf("got exit %d, %+v; want exit 0, ignored because %q", res.Code, out, tt.why)
			}
		})
	}
	if n := r.assumeRoles() - before; n != 0 {
		t.Errorf("bad locations: got %d AssumeRole; want none", n)
	}

	// The spoke without a role: an error for it alone.
	miss := orgCLI(t, r, orgEvent(t, orgMissing, "us-east-1", orgWeb), append([]string{"handle", "--output", "json", "-"}, org...)...)
	if err := json.Unmarshal([]byte(miss.Stdout), &out); err != nil {
		t.Fatalf("decode: %v\n%s", err, miss.Stdout)
	}
	if miss.Code != 1 || out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Status != engine.StatusError ||
		out.Result.Reports[0].Account != orgMissing {
		t.Errorf("handle from %s: got exit %d, %+v; want exit 1 and one error report for it", orgMissing, miss.Code, out.Result)
	}

	// remediate: every reachable location, the missing spoke failing alone.
	rem := orgCLI(t, r, nil, append([]string{"remediate", "--yes", "--output", "json"}, org...)...)
	if rem.Code != 1 {
		t.Errorf("remediate: got exit %d; want 1 (the missing spoke)\n%s", rem.Code, rem.Stderr)
	}
	if where, want := r.fixedWhere(t, orgWeb), orgLocations(orgHub, orgSpokes[0], orgSpokes[1]); !slices.Equal(where, want) {
		t.Errorf("after remediate: web fixed in %v; want %v", where, want)
	}
	if where := r.fixedWhere(t, orgAudit); len(where) != 0 {
		t.Errorf("after remediate: web-audit changed in %v; want nowhere", where)
	}
}
