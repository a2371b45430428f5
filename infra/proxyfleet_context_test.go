//go:build integration

package infra

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/test/harness"
)

// TestProxyFleetFromContext: the app deploys the proxy fleet from context
// alone (cdk deploy -c proxyFleet=true -c proxyFleetInstanceRoles=...).
func TestProxyFleetFromContext(t *testing.T) {
	harness.Tool(t, "node")
	ctx := map[string]any{CtxProxyFleet: "true", CtxProxyFleetInstanceRoles: "web-instance,api-instance",
		CtxProxyFleetTag: "team=web", CtxProxyFleetConfigParameter: "/elbguard/proxy.yaml", CtxProxyFleetMaxErrors: "2"}
	cfg, err := ConfigFromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ProxyFleet.Props.RepoRoot = harness.Root(t)
	cfg.ProxyFleet.Props.PackageDir = fakePackages(t)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	if err := buildProxyFleet(app, cfg); err != nil {
		t.Fatal(err)
	}
	stack, ok := app.Node().TryFindChild(jsii.String(ProxyFleetStackName)).(awscdk.Stack)
	if !ok {
		t.Fatalf("no %s stack", ProxyFleetStackName)
	}
	AddNagChecks(app)
	tpl := synthChecked(t, stack)
	_, assoc := only(t, tpl, "AWS::SSM::Association")
	if got := flat(dig(assoc, "Properties", "Targets")); !strings.Contains(got, "tag:team") || !strings.Contains(got, "web") {
		t.Errorf("association targets %s; want tag:team = web", got)
	}
	if got := dig(assoc, "Properties", "MaxErrors"); got != "2" {
		t.Errorf("MaxErrors %v; want 2", got)
	}
	pols := flat(resources(tpl, "AWS::IAM::ManagedPolicy"))
	for _, role := range []string{"web-instance", "api-instance"} {
		if !strings.Contains(pols, role) {
			t.Errorf("no policy attached to role %s: %s", role, pols)
		}
	}
}

func TestProxyFleetContextErrors(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"no roles", map[string]any{CtxProxyFleet: "true"}, "needs proxyFleetInstanceRoles=ROLE"},
		{"bad tag", map[string]any{CtxProxyFleet: "true", CtxProxyFleetTag: "team", CtxProxyFleetInstanceRoles: "r"}, "KEY=VALUE"},
		{"roles without the stack", map[string]any{CtxProxyFleetInstanceRoles: "r"}, "without proxyFleet=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromContext(func(k string) any { return tt.ctx[k] })
			if err == nil {
				err = buildProxyFleet(awscdk.NewApp(nil), cfg)
			}
			if err == nil || !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want an ErrInvalidProps error containing %q", err, tt.want)
			}
		})
	}
}
