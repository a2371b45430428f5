package infra

import (
	"github.com/elbguard/elbguard/internal/suggest"

	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Context keys the app reads (cdk deploy -c key=value, or "context" in
// cdk.json). Values given with -c arrive as strings; cdk.json may also hold
// booleans and numbers.
const (
	CtxTagKey              = "tagKey"
	CtxDefaultMode         = "defaultMode"
	CtxDryRun              = "dryRun"
	CtxSweepSchedule       = "sweepSchedule"
	CtxConcurrency         = "concurrency"
	CtxReservedConcurrency = "reservedConcurrency"
	CtxMaxChanges          = "maxChanges" // load balancers changed per run per account x region
	CtxMaxErrors           = "maxErrors"  // failed changes after which a run stops changing
	CtxCreateTrail         = "createTrail"
	CtxAlarmEmail          = "alarmEmail"
	CtxDemo                = "demo"
	CtxLoadBalancer        = "lb"
	CtxCertificateArn      = "certificateArn"
	CtxInstanceType        = "instanceType"
	CtxVerifyWindow        = "verifyWindow" // seconds, 1-900
	CtxSecurityHub         = "securityHub"
	CtxNotify              = "notify"
	CtxNotifyEmail         = "notifyEmail"
	CtxConfigRule          = "configRule"
	CtxIaCTags             = "iacTags" // KEY[=VALUE],...: more IaC owner tags (ELBGUARD_IAC_TAGS)
)

// ContextKeys lists every context key the app reads; CheckContextKeys
// refuses the others. TestContextKeysListsEveryConstant keeps it complete.
var ContextKeys = []string{
	CtxTagKey, CtxDefaultMode, CtxDryRun, CtxSweepSchedule, CtxConcurrency, CtxReservedConcurrency,
	CtxCreateTrail, CtxAlarmEmail, CtxDemo, CtxLoadBalancer, CtxCertificateArn, CtxInstanceType,
	CtxVerifyWindow, CtxSecurityHub, CtxNotify, CtxNotifyEmail, CtxConfigRule, CtxMaxChanges, CtxMaxErrors, CtxIaCTags,
	CtxHub, CtxOrgID, CtxAccounts, CtxRegions, CtxOrgUnits, CtxSpokeRoleName, CtxSweepWorkers,
	CtxRateDescribe, CtxRateMutate, CtxStackSetCallAs, CtxHubRoleArn, CtxHubAccount, CtxHubRegion,
	CtxSpokeRoleRegion,
	CtxProxyFleet, CtxProxyFleetTag, CtxProxyFleetInstanceRoles, CtxProxyFleetConfigParameter,
	CtxProxyFleetSchedule, CtxProxyFleetMaxConcurrency, CtxProxyFleetMaxErrors,
}

// CheckContextKeys refuses a context key that is neither the app's nor the
// CDK's own (CDK's have a ":" or start with "@": feature flags, lookups,
// "aws:cdk:..."), naming the nearest key the app knows, as a typo in
// `-c securityhub=true` would otherwise be ignored without a word.
func CheckContextKeys(all map[string]any) error {
	var unknown []string
	for k := range all {
		if strings.Contains(k, ":") || strings.HasPrefix(k, "@") || slices.Contains(ContextKeys, k) {
			continue
		}
		unknown = append(unknown, k)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	k := unknown[0]
	msg := fmt.Sprintf("%v: unknown context key %q", ErrInvalidProps, k)
	if near := suggest.Nearest(k, ContextKeys); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	if len(unknown) > 1 {
		msg += fmt.Sprintf(" (and %d more: %s)", len(unknown)-1, strings.Join(unknown[1:], ", "))
	}
	return fmt.Errorf("%s; the keys are listed in infra/README.md", msg)
}

// ConfigFromContext reads Config from CDK context through get (typically
// app.Node().TryGetContext). Absent keys keep their zero value, so defaults
// apply; a value of the wrong type is an error naming the context key. The
// result is not validated yet: NewEnforcer and NewEdgeDemoStack do that.
func ConfigFromContext(get func(key string) any) (Config, error) {
	var cfg Config
	r := ctxReader{get: get}
	cfg.Enforcer.TagKey = r.str(CtxTagKey)
	cfg.Enforcer.DefaultMode = r.str(CtxDefaultMode)
	cfg.Enforcer.DryRun = r.boolean(CtxDryRun)
	cfg.Enforcer.SweepSchedule = r.str(CtxSweepSchedule)
	cfg.Enforcer.Concurrency = r.integer(CtxConcurrency)
	cfg.Enforcer.ReservedConcurrency = r.integer(CtxReservedConcurrency)
	cfg.Enforcer.MaxChanges = r.integer(CtxMaxChanges)
	cfg.Enforcer.MaxErrors = r.integer(CtxMaxErrors)
	cfg.Enforcer.CreateTrail = r.boolean(CtxCreateTrail)
	cfg.Enforcer.AlarmEmail = r.str(CtxAlarmEmail)
	cfg.Enforcer.VerifyWindowSeconds = r.integer(CtxVerifyWindow)
	cfg.Enforcer.IaCTags = r.list(CtxIaCTags)
	cfg.Enforcer.Compliance = ComplianceProps{SecurityHub: r.boolean(CtxSecurityHub), Notify: r.boolean(CtxNotify),
		NotifyEmail: r.str(CtxNotifyEmail), ConfigRule: r.boolean(CtxConfigRule)}
	cfg.Demo = r.boolean(CtxDemo)
	cfg.Edge.LoadBalancer = r.str(CtxLoadBalancer)
	cfg.Edge.CertificateArn = r.str(CtxCertificateArn)
	cfg.Edge.InstanceType = r.str(CtxInstanceType)
	readOrgContext(&r, &cfg)
	readProxyFleetContext(&r, &cfg)
	return cfg, r.err
}

// ctxReader converts context values, keeping the first error.
type ctxReader struct {
	get func(string) any
	err error
}

func (r *ctxReader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: context %s=%v: want %s", ErrInvalidProps, key, v, want)
	}
}

func (r *ctxReader) str(key string) string {
	switch v := r.get(key).(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case *string:
		if v == nil {
			return ""
		}
		return strings.TrimSpace(*v)
	default:
		r.fail(key, v, "a string")
		return ""
	}
}

func (r *ctxReader) boolean(key string) bool {
	switch v := r.get(key).(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil && strings.TrimSpace(v) != "" {
			r.fail(key, v, "true or false")
		}
		return b
	default:
		r.fail(key, v, "true or false")
		return false
	}
}

func (r *ctxReader) integer(key string) int {
	switch v := r.get(key).(type) {
	case nil:
		return 0
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1e9 {
			r.fail(key, v, "an integer")
			return 0
		}
		return int(v)
	case int:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			r.fail(key, v, "an integer")
		}
		return n
	default:
		r.fail(key, v, "an integer")
		return 0
	}
}
