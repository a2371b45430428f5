//go:build integration

package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/elbguard/elbguard/test/harness"
)

const synthCert = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"

// noCredentials makes sure the synthesis cannot use AWS credentials: none in
// the environment, no config files, no instance metadata.
var noCredentials = []string{
	"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
	"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1", "CDK_DISABLE_CLI_TELEMETRY=true",
}

// synthTools checks for everything scripts/synth.sh runs.
func synthTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "cdk", "cfn-lint"} {
		harness.Tool(t, tool)
	}
	if _, err := exec.LookPath("make"); err != nil {
		harness.Missing(t, "make (cdk.json's app runs make build-assets): apt-get install make")
	}
}

// TestInfraSynth runs `make synth`'s script, scripts/synth.sh, exactly as CI
// does: the pinned cdk CLI synthesizes the CDK app (cdk.json builds the
// Lambda and proxy assets and runs go run ./infra/app, cdk-nag included)
// without AWS credentials, then cfn-lint checks every template. The default
// variant goes to the repository's cdk.out/ (what `make synth` leaves
// behind), the others to temporary directories. Each must synthesize both
// stacks with no cdk-nag error and no cfn-lint finding, and make no context
// lookup.
func TestInfraSynth(t *testing.T) {
	synthTools(t)
	root := harness.Root(t)
	tests := []struct {
		name      string
		out       string // output directory; empty: a temporary one
		args      []string
		wantTypes map[string][]string // stack -> resource types that must be present
		wantNot   map[string][]string // stack -> strings the template must not contain
	}{
		{
			name: "defaults: opt-in, Classic ELB without certificate",
			out:  filepath.Join(root, "cdk.out"),
			wantTypes: map[string][]string{
				"ElbGuard":         {"AWS::Lambda::Function", "AWS::Events::Rule", "AWS::SQS::Queue", "AWS::CloudWatch::Alarm"},
				"ElbGuardEdgeDemo": {"AWS::ElasticLoadBalancing::LoadBalancer", "AWS::AutoScaling::AutoScalingGroup"},
			},
			wantNot: map[string][]string{"ElbGuard": {"AWS::CloudTrail::Trail", "AWS::SNS::Subscription"}},
		},
		{
			name: "NLB with certificate, trail, e-mail, default mode enforce",
			args: []string{"-c", "lb=nlb", "-c", "certificateArn=" + synthCert, "-c", "createTrail=true",
				"-c", "alarmEmail=ops@example.com", "-c", "defaultMode=enforce"},
			wantTypes: map[string][]string{
				"ElbGuard":         {"AWS::CloudTrail::Trail", "AWS::SNS::Subscription"},
				"ElbGuardEdgeDemo": {"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup"},
			},
			wantNot: map[string][]string{"ElbGuardEdgeDemo": {"AWS::ElasticLoadBalancing::LoadBalancer\""}},
		},
		{
			name: "Classic ELB with certificate, dry run, custom tag key and schedule",
			args: []string{"-c", "certificateArn=" + synthCert, "-c", "dryRun=true", "-c", "tagKey=team:pp",
				"-c", "sweepSchedule=rate(15 minutes)"},
			wantTypes: map[string][]string{"ElbGuardEdgeDemo": {"AWS::ElasticLoadBalancing::LoadBalancer"}},
			wantNot:   map[string][]string{"ElbGuard": {"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:CreateLoadBalancerListeners"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.out
			if out == "" {
				out = t.TempDir()
			}
			start := time.Now()
			res := harness.Run(t, 8*time.Minute, "bash", append([]string{"scripts/synth.sh"}, tt.args...),
				harness.WithDir(root), harness.WithEnv(append([]string{"CDK_OUT=" + out}, noCredentials...)...))
			if res.Code != 0 {
				t.Fatalf("scripts/synth.sh %v exited %d\nstdout:\n%s\nstderr:\n%s", tt.args, res.Code, res.Stdout, res.Stderr)
			}
			t.Logf("synth + cfn-lint took %v", time.Since(start).Round(time.Second))
			if !strings.Contains(res.Stdout, "cfn-lint found nothing") {
				t.Errorf("synth.sh output lacks its cfn-lint verdict:\n%s", res.Stdout)
			}
			checkAssembly(t, out, "ElbGuard", "ElbGuardEdgeDemo")
			for stack, types := range tt.wantTypes {
				body := readTemplate(t, out, stack)
				for _, typ := range types {
					if !strings.Contains(body, `"Type": "`+typ+`"`) {
						t.Errorf("%s template has no %s", stack, typ)
					}
				}
			}
			for stack, bad := range tt.wantNot {
				body := readTemplate(t, out, stack)
				for _, s := range bad {
					if strings.Contains(body, s) {
						t.Errorf("%s template contains %q; want it absent in this variant", stack, s)
					}
				}
			}
		})
	}
}

// checkAssembly: exactly the stacks want synthesized, and the cloud assembly
// records no missing context (a lookup would need credentials at synth time).
func checkAssembly(t *testing.T, dir string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Artifacts map[string]struct {
			Type string `json:"type"`
		} `json:"artifacts"`
		Missing []any `json:"missing"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode manifest.json: %v", err)
	}
	var stacks []string
	for name, a := range m.Artifacts {
		if a.Type == "aws:cloudformation:stack" {
			stacks = append(stacks, name)
		}
	}
	sort.Strings(stacks)
	if !slices.Equal(stacks, want) {
		t.Errorf("stacks = %v; want %v", stacks, want)
	}
	if len(m.Missing) != 0 {
		t.Errorf("manifest lists missing context %v; want no context lookups", m.Missing)
	}
}

func readTemplate(t *testing.T, dir, stack string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stack+".template.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInfraSynthRejectsBadContext: an invalid context value stops the real
// synthesis with a message naming the property and its allowed values.
func TestInfraSynthRejectsBadContext(t *testing.T) {
	synthTools(t)
	root := harness.Root(t)
	res := harness.Run(t, 8*time.Minute, "bash", []string{"scripts/synth.sh", "-c", "defaultMode=sometimes"},
		harness.WithDir(root), harness.WithEnv(append([]string{"CDK_OUT=" + t.TempDir()}, noCredentials...)...))
	want := `DefaultMode "sometimes": allowed values are off, audit, enforce`
	if res.Code == 0 || !strings.Contains(res.Stderr+res.Stdout, want) {
		t.Errorf("synth with defaultMode=sometimes exited %d; want a failure saying %q\nstdout:\n%s\nstderr:\n%s", res.Code, want, res.Stdout, res.Stderr)
	}
}

// TestInfraSynthStdoutIsTheTemplate: `cdk synth ElbGuard > t.yaml` writes
// the template alone (the app's build progress goes to stderr), and an
// unknown context key is refused with the key it most likely misspells.
func TestInfraSynthStdoutIsTheTemplate(t *testing.T) {
	synthTools(t)
	root := harness.Root(t)
	env := harness.WithEnv(noCredentials...)
	res := harness.Run(t, 8*time.Minute, filepath.Join(root, "node_modules/.bin/cdk"),
		[]string{"synth", "--no-notices", "--output", t.TempDir(), "ElbGuard"}, harness.WithDir(root), env)
	var tpl struct {
		Description string         `yaml:"Description"`
		Resources   map[string]any `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(res.Stdout), &tpl); res.Code != 0 || err != nil || len(tpl.Resources) == 0 {
		t.Fatalf("cdk synth ElbGuard: exit %d, stdout does not parse as the template (%v):\n%.2000s\nstderr:\n%.2000s", res.Code, err, res.Stdout, res.Stderr)
	}
	typo := harness.Run(t, 8*time.Minute, filepath.Join(root, "node_modules/.bin/cdk"),
		[]string{"synth", "--no-notices", "--output", t.TempDir(), "-c", "securityhub=true", "ElbGuard"}, harness.WithDir(root), env)
	want := `unknown context key "securityhub"; did you mean "securityHub"?`
	if typo.Code == 0 || !strings.Contains(typo.Stderr+typo.Stdout, want) {
		t.Errorf("cdk synth -c securityhub=true: exit %d; want a failure saying %q\nstderr:\n%.2000s", typo.Code, want, typo.Stderr)
	}
}
