//go:build integration

package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/test/harness"
	"github.com/elbguard/elbguard/test/peer"
)

// These tests drive the real CDK (through jsii, one node process per test
// binary) and cdk-nag. They need node, hence the integration build tag; when
// CI=true a missing node fails them.

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	if assetRoot != "" {
		os.RemoveAll(assetRoot)
	}
	os.Exit(code)
}

var (
	assetOnce sync.Once
	assetRoot string
	assetDirs testAssets
	assetErr  error
)

// testAssets are the deployment artifacts the stacks package.
type testAssets struct {
	lambdaDir    string // enforcer/bootstrap, sweeper/bootstrap, sweepworker/bootstrap
	proxyPackage string // the linux/arm64 .rpm, as make build-assets builds it
	// placeholders names the artifacts that are placeholders because their
	// code did not compile (outside CI only).
	placeholders []string
}

// assets builds the Lambda bootstraps and the proxy for linux/arm64 once per
// test binary, exactly as make build-assets does, so the tests do not depend
// on make having run.
func assets(t *testing.T) testAssets {
	t.Helper()
	harness.Tool(t, "node") // jsii runs the CDK in node
	root := harness.Root(t)
	assetOnce.Do(func() {
		assetRoot, assetErr = os.MkdirTemp("", "elbguard-infra-assets-")
		if assetErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		assetDirs.lambdaDir = filepath.Join(assetRoot, "lambda")
		assetDirs.proxyPackage = filepath.Join(assetRoot, "proxy", "elbguard-proxy.rpm")
		arm := []string{"GOOS=linux", "GOARCH=arm64"}
		builds := []struct {
			pkg, out string
			tags     []string
		}{
			{"./functions/enforcer", filepath.Join(assetDirs.lambdaDir, "enforcer", "bootstrap"), []string{"lambda.norpc"}},
			{"./functions/sweeper", filepath.Join(assetDirs.lambdaDir, "sweeper", "bootstrap"), []string{"lambda.norpc"}},
			{"./functions/sweepworker", filepath.Join(assetDirs.lambdaDir, "sweepworker", "bootstrap"), []string{"lambda.norpc"}},
			{"./functions/configrule", filepath.Join(assetDirs.lambdaDir, "configrule", "bootstrap"), []string{"lambda.norpc"}},
		}
		if assetErr = buildProxyPackage(ctx, root, assetDirs.proxyPackage); assetErr != nil {
			return
		}
		for _, b := range builds {
			if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
				assetErr = err
				return
			}
			err := peer.Build(ctx, root, b.pkg, b.out, peer.BuildOptions{Tags: b.tags, Env: arm})
			if err == nil {
				continue
			}
			if harness.InCI() {
				assetErr = err
				return
			}
			assetDirs.placeholders = append(assetDirs.placeholders, fmt.Sprintf("%s (%v)", b.pkg, err))
			if err := os.WriteFile(b.out, []byte("placeholder: "+b.pkg+" did not compile\n"), 0o755); err != nil {
				assetErr = err
				return
			}
		}
	})
	if assetErr != nil {
		t.Fatalf("build assets: %v", assetErr)
	}
	for _, p := range assetDirs.placeholders {
		t.Logf("NOTE: placeholder asset used because the code does not compile yet: %s", p)
	}
	return assetDirs
}

// buildProxyPackage builds the linux/arm64 .rpm into out, as make
// build-assets does (deploy/package, its own module).
func buildProxyPackage(ctx context.Context, root, out string) error {
	dir := filepath.Dir(out)
	cmd := exec.CommandContext(ctx, "go", "run", ".", "-root", root, "-out", dir, "-arch", "arm64", "-formats", "rpm", "-version", "0.0.0-1")
	cmd.Dir = filepath.Join(root, "deploy/package")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the proxy package: %w\n%s", err, b)
	}
	if err := os.Rename(filepath.Join(dir, "elbguard-proxy-0.0.0-1.aarch64.rpm"), out); err != nil {
		return fmt.Errorf("build the proxy package: %w", err)
	}
	return nil
}

// enforcerStack synthesizes an ElbGuard stack with props (asset dir filled
// in) under the cdk-nag checks, and fails the test on any unsuppressed
// cdk-nag error.
func enforcerStack(t *testing.T, props EnforcerProps) (map[string]any, *Enforcer) {
	t.Helper()
	props.LambdaAssetDir = assets(t).lambdaDir
	app := awscdk.NewApp(nil)
	stack, e, err := NewElbGuardStack(app, StackName, nil, &props)
	if err != nil {
		t.Fatalf("NewElbGuardStack: %v", err)
	}
	AddNagChecks(app)
	return synthChecked(t, stack), e
}

// edgeStack synthesizes an ElbGuardEdgeDemo stack from the repository's proxy
// files under the cdk-nag checks.
func edgeStack(t *testing.T, props EdgeDemoProps) (map[string]any, *EdgeDemo) {
	t.Helper()
	props.ProxyPackage = assets(t).proxyPackage
	props.RepoRoot = harness.Root(t)
	app := awscdk.NewApp(nil)
	d, err := NewEdgeDemoStack(app, EdgeDemoStack, nil, &props)
	if err != nil {
		t.Fatalf("NewEdgeDemoStack: %v", err)
	}
	AddNagChecks(app)
	return synthChecked(t, d.Stack), d
}

// synthChecked returns the stack's template (assertions.Template_FromStack)
// as plain JSON values, after checking cdk-nag: no unsuppressed AwsSolutions
// error, and every suppression gives a reason.
func synthChecked(t *testing.T, stack awscdk.Stack) map[string]any {
	t.Helper()
	tpl := assertions.Template_FromStack(stack, nil)
	annotations := assertions.Annotations_FromStack(stack)
	for _, m := range *annotations.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag error at %s: %v", *m.Id, m.Entry.Data) //nolint:staticcheck // Id (the construct path) is the only field that says where; the assertions API still returns this type
	}
	for _, m := range *annotations.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Logf("cdk-nag warning at %s: %v", *m.Id, m.Entry.Data) //nolint:staticcheck // see above
	}
	b, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	checkSuppressionReasons(t, out)
	return out
}

// checkSuppressionReasons fails the test for a cdk-nag suppression without a
// real reason.
func checkSuppressionReasons(t *testing.T, tpl map[string]any) {
	t.Helper()
	for id, r := range resources(tpl, "") {
		nag, _ := dig(r, "Metadata", "cdk_nag", "rules_to_suppress").([]any)
		for _, s := range nag {
			rule, _ := dig(s, "id").(string)
			reason, _ := dig(s, "reason").(string)
			if !strings.HasPrefix(rule, "AwsSolutions-") || len(strings.Fields(reason)) < 8 {
				t.Errorf("%s: suppression of %q has reason %q; want an AwsSolutions rule and a reason of at least 8 words", id, rule, reason)
			}
		}
	}
}

// resources returns the template's resources of type typ (all when empty)
// by logical id.
func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	all, _ := tpl["Resources"].(map[string]any)
	for id, r := range all {
		m, _ := r.(map[string]any)
		if typ == "" || m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// only returns the single resource of type typ, failing otherwise.
func only(t *testing.T, tpl map[string]any, typ string) (string, map[string]any) {
	t.Helper()
	rs := resources(tpl, typ)
	if len(rs) != 1 {
		t.Fatalf("got %d %s resources; want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

// withIDPrefix returns the resource whose logical id starts with prefix.
func withIDPrefix(t *testing.T, tpl map[string]any, typ, prefix string) map[string]any {
	t.Helper()
	var found []string
	var res map[string]any
	for id, r := range resources(tpl, typ) {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
			res = r
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %s resources %v with id prefix %q; want exactly 1", typ, found, prefix)
	}
	return res
}

// dig walks nested maps.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// flat renders a CloudFormation value as a string: Fn::Join and Fn::Sub are
// evaluated, Ref becomes <Ref:X>, GetAtt <GetAtt:X.Y>, anything else JSON.
func flat(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64, bool:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = flat(p)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			items, _ := j[1].([]any)
			parts := make([]string, len(items))
			for i, p := range items {
				parts[i] = flat(p)
			}
			return strings.Join(parts, sep)
		}
		if r, ok := x["Ref"].(string); ok {
			return "<Ref:" + r + ">"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("<GetAtt:%v.%v>", g[0], g[1])
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return s
		}
		if b, ok := x["Fn::Base64"]; ok {
			return flat(b)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// strs converts a JSON string or list of strings to a sorted []string.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, s := range x {
			out = append(out, flat(s))
		}
	case nil:
	default:
		out = []string{flat(x)}
	}
	sort.Strings(out)
	return out
}

var logicalID = regexp.MustCompile(`^<(?:Ref|GetAtt):([A-Za-z0-9]+)`)

// refID returns the logical id a Ref or GetAtt value points at.
func refID(v any) string {
	m := logicalID.FindStringSubmatch(flat(v))
	if m == nil {
		return ""
	}
	return m[1]
}
