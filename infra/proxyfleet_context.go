package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// ProxyFleetStackName is the stack `cdk deploy -c proxyFleet=true` adds: the
// ProxyFleet construct (packages, SSM document and association) on its own.
const ProxyFleetStackName = "ElbGuardProxyFleet"

// Context keys of the proxy fleet stack; the values are ProxyFleetProps'.
const (
	CtxProxyFleet                = "proxyFleet"                // true: add ElbGuardProxyFleet
	CtxProxyFleetTag             = "proxyFleetTag"             // KEY=VALUE of the targeted instances (default elbguard:proxy=managed)
	CtxProxyFleetInstanceRoles   = "proxyFleetInstanceRoles"   // the instances' IAM role names, comma-separated
	CtxProxyFleetConfigParameter = "proxyFleetConfigParameter" // SSM parameter holding proxy.yaml
	CtxProxyFleetSchedule        = "proxyFleetSchedule"        // rate(...) or cron(...) of the association
	CtxProxyFleetMaxConcurrency  = "proxyFleetMaxConcurrency"  // 10 or 10%
	CtxProxyFleetMaxErrors       = "proxyFleetMaxErrors"       // 1 or 5%
)

// ProxyFleetConfig is the proxy fleet stack's part of Config.
type ProxyFleetConfig struct {
	// Enabled adds the stack.
	Enabled bool
	// Props are the construct's; InstanceRoles come from RoleNames.
	Props ProxyFleetProps
	// RoleNames are the instances' existing IAM roles, by name.
	RoleNames []string
}

// readProxyFleetContext reads the proxy fleet keys.
func readProxyFleetContext(r *ctxReader, cfg *Config) {
	f := &cfg.ProxyFleet
	f.Enabled = r.boolean(CtxProxyFleet)
	if tag := r.str(CtxProxyFleetTag); tag != "" {
		k, v, ok := strings.Cut(tag, "=")
		if !ok || k == "" || v == "" {
			r.fail(CtxProxyFleetTag, tag, "KEY=VALUE, e.g. elbguard:proxy=managed")
		}
		f.Props.TargetTagKey, f.Props.TargetTagValue = k, v
	}
	f.RoleNames = r.list(CtxProxyFleetInstanceRoles)
	f.Props.ConfigParameter = r.str(CtxProxyFleetConfigParameter)
	f.Props.Schedule = r.str(CtxProxyFleetSchedule)
	f.Props.MaxConcurrency = r.str(CtxProxyFleetMaxConcurrency)
	f.Props.MaxErrors = r.str(CtxProxyFleetMaxErrors)
}

// buildProxyFleet adds ElbGuardProxyFleet when asked for.
func buildProxyFleet(app awscdk.App, cfg Config) error {
	f := cfg.ProxyFleet
	if !f.Enabled {
		if len(f.RoleNames) > 0 || f.Props.ConfigParameter != "" {
			return fmt.Errorf("%w: context %s or %s given without %s=true", ErrInvalidProps, CtxProxyFleetInstanceRoles, CtxProxyFleetConfigParameter, CtxProxyFleet)
		}
		return nil
	}
	if len(f.RoleNames) == 0 {
		return fmt.Errorf("%w: context %s=true needs %s=ROLE[,ROLE]: the IAM roles of the instances that run the proxy (they get read access to the packages)", ErrInvalidProps, CtxProxyFleet, CtxProxyFleetInstanceRoles)
	}
	stack := awscdk.NewStack(app, jsii.String(ProxyFleetStackName), &awscdk.StackProps{
		Description: jsii.String("elbguard-proxy on a fleet: packages, SSM document and State Manager association"),
	})
	props := f.Props
	for i, name := range f.RoleNames {
		props.InstanceRoles = append(props.InstanceRoles, awsiam.Role_FromRoleName(stack, jsii.Sprintf("InstanceRole%d", i), jsii.String(name), nil))
	}
	if _, err := NewProxyFleet(stack, "ProxyFleet", &props); err != nil {
		return err
	}
	return nil
}
