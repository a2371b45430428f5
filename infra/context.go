package infra

import (
	"fmt"
	"math"
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
