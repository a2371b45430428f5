package migrate

import (
	"fmt"

	"github.com/elbguard/elbguard/engine"
)

// Operations a Result reports on.
const (
	OpMigrate = "migrate"
	OpShift   = "shift"
	OpUndo    = "undo"
)

// Statuses of a migration; held, not_found and error are the engine's.
const (
	// StatusPlanned: a dry run; Calls are what the real run would make.
	StatusPlanned engine.Status = "planned"
	// StatusMigrated: the NLB exists, complete, and every target is
	// healthy (a rerun reports this with no calls).
	StatusMigrated engine.Status = "migrated"
	// StatusShifted: the Route 53 weights are as asked.
	StatusShifted engine.Status = "shifted"
	// StatusUndone: everything the migration created is gone and the
	// records point at the Classic load balancer alone.
	StatusUndone engine.Status = "undone"
	// StatusDeclined: the plan was shown and not confirmed; nothing changed.
	StatusDeclined engine.Status = "declined"
)

// Finding rules, stable in JSON.
const (
	RuleListenerNotMigrated  = "listener_not_migrated"
	RuleTLSIdleTimeout       = "tls_idle_timeout_fixed_350s"
	RuleIdleTimeoutRaised    = "idle_timeout_raised"
	RuleStickiness           = "stickiness_not_migrated"
	RuleAccessLogs           = "access_logs_not_migrated"
	RuleSSLPolicy            = "ssl_policy_no_equivalent"
	RuleSSLPolicyMapped      = "ssl_policy_mapped"
	RuleHealthCheck          = "health_check_changed"
	RuleBackendAuth          = "backend_authentication_not_migrated"
	RuleNoSecurityGroups     = "no_security_groups"
	RuleNoSubnets            = "no_subnets"
	RuleNameTaken            = "nlb_name_taken"
	RuleNothingToMigrate     = "nothing_to_migrate"
	RuleRecord               = "route53_record"
	RuleRecordNotShifted     = "route53_record_not_shifted"
	RuleTargetsUnhealthy     = "targets_unhealthy"
	RuleIncomplete           = "migration_incomplete"
	RuleNotMigrated          = "not_migrated"
	RuleAPIError             = engine.RuleAPIError
	RuleBackendsNotReady     = engine.RuleBackendsNotReady
	RuleCertificateMissing   = engine.RuleCertificateMissing
	RuleCertificateUnchecked = engine.RuleCertificateUnverified
)

// TagMigratedFrom marks everything the migration creates with the Classic
// load balancer's name; --undo deletes only what carries it.
const TagMigratedFrom = "elbguard:migrated-from"

// Result is what a migrate, shift or undo run planned, did and found.
type Result struct {
	Operation string        `json:"operation"`
	Classic   string        `json:"classic"`
	Status    engine.Status `json:"status"`
	NLB       NLB           `json:"nlb"`
	// Listeners and TargetGroups are the NLB's: planned (dry run), created,
	// or read back (rerun).
	Listeners    []Listener       `json:"listeners"`
	TargetGroups []TargetGroup    `json:"target_groups"`
	Records      []Record         `json:"records"`
	Findings     []engine.Finding `json:"findings"`
	Calls        []*Call          `json:"calls"`

	held bool
}

// NLB names the Network Load Balancer.
type NLB struct {
	Name    string `json:"name"`
	ARN     string `json:"arn,omitempty"`
	DNSName string `json:"dns_name,omitempty"`
	// ZoneID is its canonical hosted zone (the alias target's zone).
	ZoneID string `json:"canonical_hosted_zone_id,omitempty"`
}

// Listener is one NLB listener and the Classic one it comes from.
type Listener struct {
	Port        int32  `json:"port"`
	Protocol    string `json:"protocol"`
	From        string `json:"from"`
	TargetGroup string `json:"target_group"`
	ARN         string `json:"arn,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	SSLPolicy   string `json:"ssl_policy,omitempty"`
	// IdleTimeout in seconds: tcp.idle_timeout.seconds, or 350 (TLS, fixed).
	IdleTimeout int32 `json:"idle_timeout"`
}

// TargetGroup is one NLB target group (one per Classic instance port).
type TargetGroup struct {
	Name                string   `json:"name"`
	ARN                 string   `json:"arn,omitempty"`
	Port                int32    `json:"port"`
	ProxyProtocolV2     bool     `json:"proxy_protocol_v2"`
	HealthCheck         string   `json:"health_check"`
	DeregistrationDelay int32    `json:"deregistration_delay"`
	Targets             []Target `json:"targets"`
}

// Target is a registered instance and, once read, its health.
type Target struct {
	ID     string `json:"id"`
	Port   int32  `json:"port"`
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Record is a Route 53 alias record that points at the Classic load
// balancer (and, once shifted, at the NLB by weight).
type Record struct {
	Zone   string `json:"zone_id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Weight int64  `json:"nlb_weight"` // share in percent on the NLB
}

func (r *Result) find(rule, format string, args ...any) {
	r.Findings = append(r.Findings, finding(rule, format, args...))
}

// hold records a finding that keeps the run from changing anything.
func (r *Result) hold(rule, format string, args ...any) {
	r.find(rule, format, args...)
	r.held = true
}

func finding(rule, format string, args ...any) engine.Finding {
	return engine.Finding{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}
