//go:build integration

package test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/cmd/elbguard/cli"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/test/harness"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata/")

// planFleet creates the Classic load balancers of the plan tests in moto:
// two that enforce changes, one the readiness gate holds (a registered
// instance without elbguard:proxy-ready), one in audit mode.
func planFleet(t *testing.T, m *harness.Moto) *elb.Client {
	t.Helper()
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	classic := elb.NewFromConfig(cfg)
	certPEM, keyPEM := enfSelfSignedPEM(t, "web.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload server certificate")(iam.NewFromConfig(cfg).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("plan-web"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	cert := aws.ToString(up.ServerCertificateMetadata.Arn)
	for _, lb := range []struct {
		name      string
		listeners []elbtypes.Listener
		tags      []elbtypes.Tag
	}{
		{"plan-web", []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTP", 81, cert)}, enfTags(enfModeTag, "enforce", enfIdleTag, "300", engine.TagReadiness, "skip")},
		{"plan-api", []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 8080, "")}, enfTags(enfModeTag, "enforce", engine.TagReadiness, "skip")},
		{"plan-held", []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, enfTags(enfModeTag, "enforce")},
		{"plan-audit", []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, enfTags(enfModeTag, "audit", engine.TagReadiness, "skip")},
	} {
		enfMust[*elb.CreateLoadBalancerOutput](t, "create "+lb.name)(classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName: aws.String(lb.name), AvailabilityZones: []string{"us-east-1a"}, Listeners: lb.listeners, Tags: lb.tags}))
	}
	run := enfMust[*ec2.RunInstancesOutput](t, "run instance")(ec2.NewFromConfig(cfg).RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(motoAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(classic.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String("plan-held"), Instances: []elbtypes.Instance{{InstanceId: run.Instances[0].InstanceId}}}))
	return classic
}

// planGolden compares out with testdata/NAME, instance ids and certificate
// account ids normalised; -update rewrites it.
func planGolden(t *testing.T, name, out string) {
	t.Helper()
	out = regexp.MustCompile(`i-[0-9a-f]{8,17}`).ReplaceAllString(out, "i-ID")
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if out != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, out, want)
	}
}

// plannedLines are the calls a report plans (or made), as plan lines.
func plannedLines(r engine.Report, status engine.ActionStatus) []string {
	var out []string
	for _, a := range r.Actions {
		if a.Status == status {
			out = append(out, a.Line())
		}
	}
	return out
}

// TestPlanCLI drives the real elbguard binary against moto: audit and the
// dry run print each load balancer's calls with their parameters, or
// held/deferred with the finding; remediate refuses to change everything
// without --yes and without a terminal; it exits 1 whenever something is
// left held, deferred, non_compliant or not found; its change budget
// defers the rest to the next run; and the calls it makes are the calls
// the dry run planned.
func TestPlanCLI(t *testing.T) {
	m := harness.StartMoto(t)
	classic := planFleet(t, m)
	listener80 := func(name string) string {
		out := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(classic.DescribeLoadBalancers(enfCtxT(t), &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}}))
		for _, ld := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
			if ld.Listener.LoadBalancerPort == 80 {
				return aws.ToString(ld.Listener.Protocol)
			}
		}
		return ""
	}

	audit := enfRunCLI(t, m, nil, "audit")
	if audit.Code != 1 {
		t.Fatalf("audit: got exit %d; want 1\n%s", audit.Code, audit.Stderr)
	}
	planGolden(t, "plan_audit.golden", audit.Stdout)
	dry := enfRunCLI(t, m, nil, "remediate", "--dry-run")
	if dry.Code != 1 || dry.Stdout != audit.Stdout {
		t.Errorf("remediate --dry-run: got exit %d and\n%s\nwant 1 and the audit's output", dry.Code, dry.Stdout)
	}
	plan := enfDecodeResult(t, enfRunCLI(t, m, nil, "remediate", "--dry-run", "--output", "json").Stdout)

	// Everything in scope without a terminal: only with --yes.
	if res := enfRunCLI(t, m, nil, "remediate"); res.Code != 2 || !strings.Contains(res.Stderr, "--yes") || listener80("plan-web") != "HTTP" {
		t.Fatalf("remediate without --yes or a terminal: got exit %d, stderr %q, plan-web listener 80 %s; want 2 naming --yes, nothing changed", res.Code, res.Stderr, listener80("plan-web"))
	}
	// Names: a missing one is not_found (exit 1); a malformed ARN is usage.
	nf := enfRunCLI(t, m, nil, "remediate", "--output", "json", "no-such-lb")
	if got := enfDecodeResult(t, nf.Stdout)["no-such-lb"]; nf.Code != 1 || got.Status != engine.StatusNotFound {
		t.Errorf("remediate no-such-lb: got exit %d, %+v; want 1 and not_found", nf.Code, got)
	}
	if res := enfRunCLI(t, m, nil, "remediate", "arn:aws:ec2:us-east-1:123456789012:instance/i-1"); res.Code != 2 || !strings.Contains(res.Stderr, "not a load balancer or target group ARN") {
		t.Errorf("remediate with an instance ARN: got exit %d, stderr %q; want 2", res.Code, res.Stderr)
	}
	one := enfRunCLI(t, m, nil, "audit", "--output", "json", "plan-audit", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/plan-api")
	if got := enfDecodeResult(t, one.Stdout); one.Code != 1 || len(got) != 2 || got["plan-audit"].Held == nil || got["plan-audit"].Held.Rule != engine.RuleAuditMode {
		t.Errorf("audit NAME ARN: got exit %d, %+v; want 1 with exactly the two, plan-audit held by audit_mode", one.Code, got)
	}

	// A person at a terminal who does not answer yes changes nothing.
	var out, errb bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader("no\n"), Stdout: &out, Stderr: &errb, Getenv: os.Getenv, Terminal: true}
	if code := cli.Run(enfCtxT(t), []string{"remediate"}, env); code != 1 || !strings.Contains(errb.String(), cli.Confirmation) ||
		!strings.Contains(errb.String(), "CreateLoadBalancerListeners SSL:443->TCP:81 cert=") || listener80("plan-web") != "HTTP" {
		t.Fatalf("remediate at a terminal, answered no: got exit %d, plan-web %s, stderr\n%s; want 1, the plan and the question, nothing changed", code, listener80("plan-web"), errb.String())
	}

	// --yes with a budget of one change: one changed, the other deferred.
	first := enfRunCLI(t, m, nil, "remediate", "--yes", "--max-changes", "1", "--output", "json")
	got := enfDecodeResult(t, first.Stdout)
	if first.Code != 1 || got["plan-api"].Status != engine.StatusRemediated || got["plan-web"].Status != engine.StatusDeferred ||
		got["plan-web"].Held == nil || got["plan-web"].Held.Rule != engine.RuleChangeBudget || got["plan-held"].Status != engine.StatusHeld {
		t.Fatalf("remediate --yes --max-changes 1: got exit %d, %+v; want 1, plan-api remediated, plan-web deferred (change_budget), plan-held held\n%s", first.Code, got, first.Stderr)
	}
	if made, planned := plannedLines(got["plan-api"], engine.ActionApplied), plannedLines(plan["plan-api"], engine.ActionPlanned); !slices.Equal(made, planned) {
		t.Errorf("plan-api: made %q; planned %q", made, planned)
	}
	// The next run takes the deferred one, confirmed at a terminal.
	out.Reset()
	errb.Reset()
	env.Stdin = strings.NewReader("yes\n")
	code := cli.Run(enfCtxT(t), []string{"remediate", "--output", "json"}, env)
	got = enfDecodeResult(t, out.String())
	if code != 1 || got["plan-web"].Status != engine.StatusRemediated || got["plan-held"].Status != engine.StatusHeld || got["plan-audit"].Status != engine.StatusNonCompliant {
		t.Fatalf("remediate at a terminal, answered yes: got exit %d, %+v; want 1 (held and audit left), plan-web remediated\n%s", code, got, errb.String())
	}
	if made, planned := plannedLines(got["plan-web"], engine.ActionApplied), plannedLines(plan["plan-web"], engine.ActionPlanned); !slices.Equal(made, planned) {
		t.Errorf("plan-web: made %q; planned %q", made, planned)
	}
	if listener80("plan-held") != "HTTP" || listener80("plan-audit") != "HTTP" {
		t.Errorf("held or audit changed: plan-held %s, plan-audit %s", listener80("plan-held"), listener80("plan-audit"))
	}
}
