//go:build integration

package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/test/harness"
)

// fakePackages writes four small files named as make package names them:
// the construct only uploads them.
func fakePackages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"elbguard-proxy_1.0.0-1_amd64.deb", "elbguard-proxy_1.0.0-1_arm64.deb",
		"elbguard-proxy-1.0.0-1.x86_64.rpm", "elbguard-proxy-1.0.0-1.aarch64.rpm"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("package "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fleetStack(t *testing.T, props ProxyFleetProps) (map[string]any, *ProxyFleet, awscdk.App) {
	t.Helper()
	harness.Tool(t, "node")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := awscdk.NewStack(app, jsii.String("ProxyFleetTest"), nil)
	role := awsiam.NewRole(stack, jsii.String("InstanceRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
	})
	props.RepoRoot = harness.Root(t)
	props.InstanceRoles = []awsiam.IRole{role}
	f, err := NewProxyFleet(stack, "ProxyFleet", &props)
	if err != nil {
		t.Fatalf("NewProxyFleet: %v", err)
	}
	AddNagChecks(app)
	return synthChecked(t, stack), f, app
}

func TestProxyFleetSynth(t *testing.T) {
	tpl, _, app := fleetStack(t, ProxyFleetProps{PackageDir: fakePackages(t), ConfigParameter: "/elbguard/proxy.yaml"})

	_, doc := only(t, tpl, "AWS::SSM::Document")
	if got := dig(doc, "Properties", "DocumentType"); got != "Command" {
		t.Errorf("DocumentType %v; want Command", got)
	}
	content := dig(doc, "Properties", "Content")
	if got := dig(content, "schemaVersion"); got != "2.2" {
		t.Errorf("schemaVersion %v; want 2.2", got)
	}
	if got := dig(content, "parameters", "ConfigParameter", "default"); got != "/elbguard/proxy.yaml" {
		t.Errorf("ConfigParameter default %v; want /elbguard/proxy.yaml", got)
	}
	steps, _ := dig(content, "mainSteps").([]any)
	if len(steps) != 1 || dig(steps[0], "action") != "aws:runShellScript" {
		t.Fatalf("mainSteps %v; want one aws:runShellScript", steps)
	}
	cmds, _ := dig(steps[0], "inputs", "runCommand").([]any)
	var lines []string
	for _, c := range cmds {
		lines = append(lines, flat(c))
	}
	run := strings.Join(lines, "\n")
	// The whole install script, line for line, after the exports.
	script, err := os.ReadFile(filepath.Join(harness.Root(t), ProxyInstallScriptFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(run, strings.TrimRight(string(script), "\n")) {
		t.Errorf("runCommand does not embed %s verbatim", ProxyInstallScriptFile)
	}
	for _, want := range []string{"export ELBGUARD_CONFIG_PARAMETER='{{ConfigParameter}}'", "export ELBGUARD_READY_TAG='elbguard:proxy-ready'",
		"export ELBGUARD_PKG_DEB_AMD64=s3://", "export ELBGUARD_PKG_DEB_ARM64=s3://", "export ELBGUARD_PKG_RPM_AMD64=s3://", "export ELBGUARD_PKG_RPM_ARM64=s3://"} {
		if !strings.Contains(run, want) {
			t.Errorf("runCommand lacks %q", want)
		}
	}

	_, assoc := only(t, tpl, "AWS::SSM::Association")
	for k, want := range map[string]string{"MaxConcurrency": "10%", "MaxErrors": "1"} {
		if got := dig(assoc, "Properties", k); got != want {
			t.Errorf("association %s = %v; want %s", k, got, want)
		}
	}
	targets, _ := dig(assoc, "Properties", "Targets").([]any)
	if len(targets) != 1 || dig(targets[0], "Key") != "tag:elbguard:proxy" || fmt.Sprint(dig(targets[0], "Values")) != "[managed]" {
		t.Errorf("association targets %v; want tag:elbguard:proxy = managed", targets)
	}
	if _, ok := dig(assoc, "Properties", "ScheduleExpression").(string); ok {
		t.Errorf("association has a schedule by default; want none")
	}

	_, pol := only(t, tpl, "AWS::IAM::ManagedPolicy")
	stmts, _ := dig(pol, "Properties", "PolicyDocument", "Statement").([]any)
	bySid := map[string]any{}
	for _, s := range stmts {
		bySid[dig(s, "Sid").(string)] = s
	}
	tag := bySid["TagOwnInstanceReady"]
	if flat(dig(tag, "Action")) != "ec2:CreateTags" || !strings.HasSuffix(flat(dig(tag, "Resource")), ":instance/*") ||
		dig(tag, "Condition", "StringEquals", "aws:ARN") != "${ec2:SourceInstanceARN}" {
		t.Errorf("tag statement %v; want ec2:CreateTags on instances, only the one whose credentials sign (aws:ARN = ${ec2:SourceInstanceARN})", tag)
	}
	if fmt.Sprint(dig(tag, "Condition", "ForAllValues:StringEquals", "aws:TagKeys")) != "[elbguard:proxy-ready]" {
		t.Errorf("tag statement conditions %v; want only the ready tag", dig(tag, "Condition"))
	}
	read := bySid["ReadProxyPackages"]
	if res, _ := dig(read, "Resource").([]any); flat(dig(read, "Action")) != "s3:GetObject" || len(res) != 4 {
		t.Errorf("package statement %v; want s3:GetObject on the 4 package objects", read)
	}
	if cfg := flat(dig(bySid["ReadProxyConfig"], "Resource")); !strings.Contains(cfg, ":parameter/elbguard/proxy.yaml") {
		t.Errorf("config statement resource %s; want the one parameter", cfg)
	}
	roleID, _ := only(t, tpl, "AWS::IAM::Role")
	_, mp := only(t, tpl, "AWS::IAM::ManagedPolicy")
	if !strings.Contains(flat(dig(mp, "Properties", "Roles")), roleID) {
		t.Errorf("the fleet policy is not attached to the instance role %s: %v", roleID, dig(mp, "Properties", "Roles"))
	}

	// cfn-lint on the synthesized template.
	lint := harness.Tool(t, "cfn-lint")
	asm := app.Synth(nil)
	tplPath := filepath.Join(*asm.Directory(), "ProxyFleetTest.template.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, lint, tplPath).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", tplPath, err, out)
	}
}

func TestProxyFleetProps(t *testing.T) {
	tests := []struct {
		name  string
		props ProxyFleetProps
		want  string // error substring; empty: valid
	}{
		{"defaults", ProxyFleetProps{}, ""},
		{"count and percent", ProxyFleetProps{MaxConcurrency: "25%", MaxErrors: "5%"}, ""},
		{"zero errors", ProxyFleetProps{MaxErrors: "0"}, ""},
		{"bad concurrency", ProxyFleetProps{MaxConcurrency: "ten"}, "MaxConcurrency"},
		{"bad errors", ProxyFleetProps{MaxErrors: "-1"}, "MaxErrors"},
		{"parameter with quotes", ProxyFleetProps{ConfigParameter: "x'; rm -rf /"}, "ConfigParameter"},
		{"remote health", ProxyFleetProps{HealthURL: "http://10.0.0.1:9901/healthz"}, "HealthURL"},
		{"bad schedule", ProxyFleetProps{Schedule: "every hour"}, "Schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.props.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v; want an error naming %s", err, tt.want)
			}
		})
	}
	if _, err := findPackages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "make package") {
		t.Errorf("findPackages on an empty dir: %v; want a pointer to make package", err)
	}
}

// The document must be valid JSON for SSM: a content map that survives the
// round trip.
func TestProxyFleetDocumentJSON(t *testing.T) {
	tpl, _, _ := fleetStack(t, ProxyFleetProps{PackageDir: fakePackages(t), Schedule: "rate(30 minutes)", MaxConcurrency: "2"})
	_, doc := only(t, tpl, "AWS::SSM::Document")
	if _, err := json.Marshal(dig(doc, "Properties", "Content")); err != nil {
		t.Errorf("document content: %v", err)
	}
	_, assoc := only(t, tpl, "AWS::SSM::Association")
	if got := dig(assoc, "Properties", "ScheduleExpression"); got != "rate(30 minutes)" {
		t.Errorf("ScheduleExpression %v; want rate(30 minutes)", got)
	}
	if got := dig(assoc, "Properties", "MaxConcurrency"); got != "2" {
		t.Errorf("MaxConcurrency %v; want 2", got)
	}
	if got := dig(doc, "Properties", "Content", "parameters", "ConfigParameter", "default"); got != "" {
		t.Errorf("ConfigParameter default %v; want empty (keep the instance's config)", got)
	}
}
