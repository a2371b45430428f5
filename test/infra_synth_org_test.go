//go:build integration

package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/harness"
)

const orgHubRole = "arn:aws:iam::111111111111:role/ElbGuardHub-EnforcerRole-AbCdEf"

// orgContext deploys the hub for an organization in two regions with the
// spoke StackSet, and the spoke stack for one account by hand.
var orgContext = []string{
	"-c", "hub=true", "-c", "orgId=o-a1b2c3d4e5", "-c", "regions=us-east-1,eu-west-1",
	"-c", "orgUnits=ou-ab12-cdef3456", "-c", "hubRoleArn=" + orgHubRole,
	"-c", "defaultMode=enforce",
}

// TestInfraSynthOrg runs scripts/synth.sh (real cdk CLI, cdk-nag, cfn-lint)
// with the organization contexts: ElbGuardHub with its StackSet and
// ElbGuardSpoke come out next to ElbGuard and the demo, every template
// (the StackSet's inline spoke included) passes cfn-lint, and the spoke
// carries no Lambda code and no asset.
func TestInfraSynthOrg(t *testing.T) {
	synthTools(t)
	root := harness.Root(t)
	out := t.TempDir()
	start := time.Now()
	res := harness.Run(t, 8*time.Minute, "bash", append([]string{"scripts/synth.sh"}, orgContext...),
		harness.WithDir(root), harness.WithEnv(append([]string{"CDK_OUT=" + out}, noCredentials...)...))
	if res.Code != 0 {
		t.Fatalf("scripts/synth.sh exited %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	t.Logf("synth + cfn-lint of 4 stacks and the StackSet body took %v", time.Since(start).Round(time.Second))
	if !strings.Contains(res.Stdout, "ElbGuardHub.SpokeStackSet.stackset.json") || !strings.Contains(res.Stdout, "cfn-lint found nothing") {
		t.Errorf("synth.sh did not lint the StackSet body:\n%s", res.Stdout)
	}

	checkAssembly(t, out, "ElbGuard", "ElbGuardEdgeDemo", "ElbGuardHub", "ElbGuardSpoke")

	for stack, types := range map[string][]string{
		"ElbGuardHub": {"AWS::Events::EventBus", "AWS::Events::EventBusPolicy", "AWS::CloudFormation::StackSet",
			"AWS::Lambda::EventSourceMapping", "AWS::Lambda::Function"},
		"ElbGuardSpoke": {"AWS::IAM::Role", "AWS::Events::Rule"},
	} {
		body := readTemplate(t, out, stack)
		t.Logf("%s.template.json: %d bytes", stack, len(body))
		for _, typ := range types {
			if !strings.Contains(body, `"Type": "`+typ+`"`) {
				t.Errorf("%s template has no %s", stack, typ)
			}
		}
	}
	spoke := readTemplate(t, out, "ElbGuardSpoke")
	for _, bad := range []string{"AWS::Lambda::Function", "BootstrapVersion", "cdk-hnb659fds"} {
		if strings.Contains(spoke, bad) {
			t.Errorf("ElbGuardSpoke template contains %q; want no code and no bootstrap dependency", bad)
		}
	}
	if a, err := os.ReadFile(filepath.Join(out, "ElbGuardSpoke.assets.json")); err == nil && strings.Contains(string(a), `"source"`) {
		t.Errorf("ElbGuardSpoke has assets: %s", a)
	}

	// The spoke templates deploy: moto's CloudFormation creates them as the
	// StackSet would in each account and region, and as cdk deploy would.
	t.Run("deploy in moto", func(t *testing.T) { checkSpokesDeployInMoto(t, out, orgHubRole) })
}

// TestInfraSynthRejectsBadOrgContext: a malformed organization context
// stops the real synthesis with a message naming the field.
func TestInfraSynthRejectsBadOrgContext(t *testing.T) {
	synthTools(t)
	root := harness.Root(t)
	res := harness.Run(t, 8*time.Minute, "bash", []string{"scripts/synth.sh", "-c", "hub=true", "-c", "orgId=o-a1b2c3d4e5",
		"-c", "regions=us-east-1,eu-west-1a"},
		harness.WithDir(root), harness.WithEnv(append([]string{"CDK_OUT=" + t.TempDir()}, noCredentials...)...))
	want := `Hub.Regions[1] "eu-west-1a": want a region name`
	if res.Code == 0 || !strings.Contains(res.Stderr+res.Stdout, want) {
		t.Errorf("synth exited %d; want a failure saying %q\nstdout:\n%s\nstderr:\n%s", res.Code, want, res.Stdout, res.Stderr)
	}
}
