//go:build integration

package test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/harness"
)

// TestOrgSecurityHubPerAccount: a hub's publisher imports each account's and
// region's findings with that location's credentials (the spoke role), so
// each account reads its own findings back with its own credentials; an
// account whose role cannot be assumed fails its findings only. moto keeps
// Security Hub per account and region of the caller's credentials, as AWS
// takes a default-product finding only from the account it names.
func TestOrgSecurityHubPerAccount(t *testing.T) {
	const spoke = "111111111111"
	accounts := []string{orgHub, spoke}
	rig := orgStart(t, accounts, orgRegions, 0)
	ctx := harness.Context(t, 5*time.Minute)
	t.Setenv("AWS_ENDPOINT_URL_STS", rig.stsURL) // AssumeRole into orgMissing is denied
	base, err := awsclient.LoadConfig(ctx, orgRegions[0])
	if err != nil {
		t.Fatal(err)
	}
	prov, err := awsclient.NewProvider(base, awsclient.ProviderConfig{Home: orgHub, Limits: awsclient.Limits{Describe: awsclient.MaxRate, Mutate: awsclient.MaxRate}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fl := &fleet.Fleet{Provider: prov, Config: engine.Config{DryRun: true}, Log: log}

	// Each location's audit, stamped with its account and region, as the
	// sweep workers' runs are.
	res := &engine.Result{}
	for _, a := range accounts {
		for _, r := range orgRegions {
			c, err := prov.Clients(ctx, a, r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := securityhubsdk.NewFromConfig(c.Config).EnableSecurityHub(ctx, &securityhubsdk.EnableSecurityHubInput{}); err != nil {
				t.Fatalf("enable Security Hub in %s/%s: %v", a, r, err)
			}
			eng, err := fl.Engine(ctx, a, r)
			if err != nil {
				t.Fatal(err)
			}
			out, err := eng.Sweep(ctx)
			if err != nil {
				t.Fatalf("sweep %s/%s: %v", a, r, err)
			}
			for _, rep := range out.Reports {
				if rep.Account != a || rep.Region != r {
					t.Fatalf("report %s of %s/%s located %s/%s", rep.Name, a, r, rep.Account, rep.Region)
				}
			}
			res.Reports = append(res.Reports, out.Reports...)
		}
	}
	// A report of an account whose spoke role is missing (as a run before
	// the role was removed would leave).
	res.Reports = append(res.Reports, engine.Report{Name: orgWeb, Type: engine.TypeClassic, Account: orgMissing, Region: orgRegions[0],
		Mode: engine.ModeAudit, Status: engine.StatusNonCompliant})

	hubClients := awsclient.FromConfig(base)
	pub := fleet.NewFleetPublisher(fleet.Sinks{SecurityHub: true}, hubClients, fl, log)
	totals := pub.Publish(ctx, res, compliance.Trigger{Kind: compliance.TriggerSweep})
	st := totals["securityhub"]
	// Two Classic load balancers (web, web-audit) and two controls per
	// location; the missing account's report has two controls.
	perLocation := 2 * 2
	if want := perLocation * len(accounts) * len(orgRegions); st.Sent != want || st.Failed != 2 {
		t.Errorf("sent %d failed %d; want %d sent and the missing account's 2 failed\n%s", st.Sent, st.Failed, want, logs.String())
	}
	if !strings.Contains(logs.String(), orgMissing) {
		t.Errorf("log does not name the account whose role could not be assumed:\n%s", logs.String())
	}

	// Each account reads back its own findings, with its own credentials, in
	// each region: all of them and none of another location.
	for _, a := range accounts {
		for _, r := range orgRegions {
			c, err := prov.Clients(ctx, a, r)
			if err != nil {
				t.Fatal(err)
			}
			got := compFindings(t, securityhubsdk.NewFromConfig(c.Config))
			if len(got) != perLocation {
				t.Errorf("%s/%s reads %d findings; want %d", a, r, len(got), perLocation)
			}
			for id, f := range got {
				if aws.ToString(f.AwsAccountId) != a || aws.ToString(f.Region) != r || !strings.Contains(id, ":"+r+":"+a+":") {
					t.Errorf("%s/%s holds finding %s of %s/%s", a, r, id, aws.ToString(f.AwsAccountId), aws.ToString(f.Region))
				}
			}
		}
	}
}

// TestOrgCLISecurityHub: `elbguard audit --securityhub` over several
// accounts and regions imports each location's findings into that
// location's Security Hub.
func TestOrgCLISecurityHub(t *testing.T) {
	const spoke = "111111111111"
	accounts := []string{orgHub, spoke}
	r := orgStart(t, accounts, orgRegions, 0)
	ctx := harness.Context(t, 5*time.Minute)
	for _, a := range accounts {
		for _, reg := range orgRegions {
			c, err := r.provider.Clients(ctx, a, reg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := securityhubsdk.NewFromConfig(c.Config).EnableSecurityHub(ctx, &securityhubsdk.EnableSecurityHubInput{}); err != nil {
				t.Fatalf("enable Security Hub in %s/%s: %v", a, reg, err)
			}
		}
	}
	audit := orgCLI(t, r, nil, "audit", "--securityhub", "--output", "json", "--accounts", orgHub+","+spoke, "--regions", strings.Join(orgRegions, ","))
	if audit.Code != 1 {
		t.Fatalf("audit: got exit %d; want 1 (non_compliant found)\n%s", audit.Code, audit.Stderr)
	}
	if strings.Contains(audit.Stderr, "not published") {
		t.Errorf("audit: findings not published:\n%s", audit.Stderr)
	}
	for _, a := range accounts {
		for _, reg := range orgRegions {
			c, err := r.provider.Clients(ctx, a, reg)
			if err != nil {
				t.Fatal(err)
			}
			got := compFindings(t, securityhubsdk.NewFromConfig(c.Config))
			if len(got) != 4 { // web and web-audit, two controls each
				t.Errorf("%s/%s reads %d findings; want 4\n%s", a, reg, len(got), audit.Stderr)
			}
			for id, f := range got {
				if aws.ToString(f.AwsAccountId) != a || aws.ToString(f.Region) != reg {
					t.Errorf("%s/%s holds finding %s of %s/%s", a, reg, id, aws.ToString(f.AwsAccountId), aws.ToString(f.Region))
				}
			}
		}
	}
}

// orgEnableSecurityHub turns Security Hub on in every account and region.
func orgEnableSecurityHub(t *testing.T, r *orgRig, accounts []string) {
	t.Helper()
	ctx := harness.Context(t, time.Minute)
	for _, a := range accounts {
		for _, reg := range orgRegions {
			c, err := r.provider.Clients(ctx, a, reg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := securityhubsdk.NewFromConfig(c.Config).EnableSecurityHub(ctx, &securityhubsdk.EnableSecurityHubInput{}); err != nil {
				t.Fatalf("enable Security Hub in %s/%s: %v", a, reg, err)
			}
		}
	}
}

// orgHubFindings reads account's findings in region with its credentials.
func orgHubFindings(t *testing.T, r *orgRig, account, region string) map[string]string {
	t.Helper()
	c, err := r.provider.Clients(harness.Context(t, time.Minute), account, region)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, f := range compFindings(t, securityhubsdk.NewFromConfig(c.Config)) {
		out[id] = aws.ToString(f.AwsAccountId) + "/" + aws.ToString(f.Region)
	}
	return out
}

// TestOrgLambdaSecurityHub: with ELBGUARD_SECURITY_HUB=true, the hub's
// enforcer and sweep worker Lambdas import a spoke's findings into the
// spoke's Security Hub, in the spoke's region, and nowhere else.
func TestOrgLambdaSecurityHub(t *testing.T) {
	const spoke = "111111111111"
	accounts := []string{orgHub, spoke}
	r := orgStart(t, accounts, orgRegions, 0)
	orgEnableSecurityHub(t, r, accounts)
	_, queue := orgQueue(t, r)
	env := r.env("ELBGUARD_ACCOUNTS="+spoke, "ELBGUARD_REGIONS="+strings.Join(orgRegions, ","),
		"ELBGUARD_SWEEP_QUEUE_URL="+queue, "ELBGUARD_SECURITY_HUB=true")

	url, enforcer := enfStartLambda(t, r.m, "./functions/enforcer", env...)
	out := enfInvoke(t, url, orgEvent(t, spoke, "us-east-1", orgWeb))
	if out.Result == nil || len(out.Result.Reports) != 1 || out.Result.Reports[0].Account != spoke {
		t.Fatalf("enforcer: got %+v; want web in %s/us-east-1", out.Result, spoke)
	}
	enfWaitLog(t, enforcer, `"FindingsImported":2`)

	workerURL, worker := enfStartLambda(t, r.m, "./functions/sweepworker", env...)
	body, err := json.Marshal(fleet.Unit{Account: spoke, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body),
		EventSourceARN: "arn:aws:sqs:us-east-1:" + orgHub + ":elbguard-sweep"}}})
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	orgInvokeRaw(t, workerURL, raw, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("worker: failures %+v", resp.BatchItemFailures)
	}
	enfWaitLog(t, worker, `"FindingsImported":4`)

	want := map[string]int{spoke + "/us-east-1": 2, spoke + "/eu-west-1": 4}
	for _, a := range accounts {
		for _, reg := range orgRegions {
			got := orgHubFindings(t, r, a, reg)
			if len(got) != want[a+"/"+reg] {
				t.Errorf("%s/%s reads %d findings; want %d", a, reg, len(got), want[a+"/"+reg])
			}
			for id, loc := range got {
				if loc != a+"/"+reg {
					t.Errorf("%s/%s holds finding %s of %s", a, reg, id, loc)
				}
			}
		}
	}
}
