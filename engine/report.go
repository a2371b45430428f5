package engine

import "fmt"

// Status is the outcome for one load balancer.
type Status string

// Statuses, stable in JSON.
const (
	StatusCompliant     Status = "compliant"
	StatusNonCompliant  Status = "non_compliant"
	StatusRemediated    Status = "remediated"
	StatusNotApplicable Status = "not_applicable"
	StatusSkipped       Status = "skipped"
	StatusGone          Status = "gone"
	StatusError         Status = "error"
	// StatusExempt: an unexpired exemption tag; nothing was changed.
	StatusExempt Status = "exempt"
	// StatusRolledBack: a change was made, harmed the back ends, and was undone.
	StatusRolledBack Status = "rolled_back"
	// StatusHeld: the load balancer needs a change that a safety gate holds
	// back (back ends not ready, no back ends, IaC owner, stickiness); the
	// finding names the gate and what a person must do. Nothing was changed.
	StatusHeld Status = "held"
	// StatusDeferred: a change is due but this run did not make it (the
	// per-run change or error budget was spent); the next run takes it.
	StatusDeferred Status = "deferred"
	// StatusNotFound: a load balancer named on the command line does not exist.
	StatusNotFound Status = "not_found"
)

// Statuses lists every Status in report order.
var Statuses = []Status{StatusCompliant, StatusNonCompliant, StatusRemediated,
	StatusRolledBack, StatusHeld, StatusDeferred, StatusExempt, StatusNotApplicable, StatusSkipped,
	StatusGone, StatusNotFound, StatusError}

// ActionStatus is the outcome of one API call the engine made or planned.
type ActionStatus string

// Action statuses, stable in JSON.
const (
	ActionApplied    ActionStatus = "applied"
	ActionPlanned    ActionStatus = "planned"
	ActionFailed     ActionStatus = "failed"
	ActionRolledBack ActionStatus = "rolled_back"
	// ActionHeld: a call the change needs that this run does not make: a
	// gate holds it (status held), the mode is audit, or the run's budget
	// is spent (status deferred). The report's Held finding says which.
	ActionHeld ActionStatus = "held"
)

// Load balancer types as reported.
const (
	TypeClassic     = "classic"
	TypeNetwork     = "network"
	TypeApplication = "application"
	TypeGateway     = "gateway"
)

// Finding rules, stable in JSON.
const (
	RuleInvalidTag          = "invalid_tag_value"
	RuleInvalidIdleTimeout  = "invalid_idle_timeout"
	RuleNotApplicable       = "not_applicable"
	RuleProxyPolicy         = "proxy_protocol_policy"
	RuleBackendProxy        = "backend_proxy_protocol"
	RuleListenerProtocol    = "listener_protocol"
	RulePolicyDropped       = "http_only_policy_dropped"
	RuleIdleTimeout         = "idle_timeout"
	RuleTargetGroupProxy    = "target_group_proxy_protocol"
	RuleUDPListener         = "udp_listener_ignored"
	RuleStoppedAfterFailure = "stopped_after_failure"
	RuleAPIError            = "api_error"
	RuleNotFound            = "not_found"
	RuleConcurrentChange    = "concurrent_change"
	// Classic safety and tag scoping (safety rules: certs.go, restore.go,
	// scope.go, healthcheck.go).
	RuleSecureBackend         = "secure_backend_unsupported"
	RuleCertificateMissing    = "certificate_missing"
	RuleCertificateUnverified = "certificate_unverified"
	RuleListenerRestore       = "listener_restore"
	// RuleRestoreRecordInvalid: an elbguard:restore:PORT tag that is not a
	// record elbguard wrote for this load balancer (malformed, unsigned,
	// forged, copied or too old): never acted on, never removed.
	RuleRestoreRecordInvalid = "restore_record_invalid"
	RuleHealthCheckRedirect  = "health_check_hits_redirect"
	RuleManagedByIaC         = "managed_by_iac"
	RulePortScope            = "port_scope"
	RuleUnknownTag           = "unknown_tag"
	RuleExempt               = "exempt"
	RuleExemptionExpired     = "exemption_expired"
	// RuleTargetGroupALB: a target group of type alb, which cannot take
	// proxy-protocol attributes; left alone.
	RuleTargetGroupALB = "target_group_type_alb"
	// RuleBackendsNotReady: the readiness gate held every change because
	// registered instances lack elbguard:proxy-ready=true.
	RuleBackendsNotReady = "backends_not_ready"
	// RuleBackendNotReady: proxy protocol is on and a registered instance
	// lacks elbguard:proxy-ready=true (drift; never turned off by elbguard).
	RuleBackendNotReady = "backend_not_ready"
	// RuleNoBackends: the readiness gate held every change because a unit
	// it would turn proxy protocol on for (a Classic load balancer's
	// instance port, an NLB target group) has no registered target.
	RuleNoBackends = "no_backends"
	// RulePortNotReady: the registered instances are ready for other
	// instance ports (elbguard:proxy-ready lists ports) but not this one;
	// it is left alone, the rest of the load balancer is enforced.
	RulePortNotReady = "port_not_ready"
	// RuleStickinessWouldDrop: a Classic HTTP/HTTPS listener with cookie
	// stickiness is left alone: converting it to TCP/SSL drops the
	// stickiness, unless the load balancer says elbguard:stickiness=drop.
	RuleStickinessWouldDrop = "stickiness_would_drop"
	// RuleHealthDropped: targets healthy before proxy protocol was turned on
	// were unhealthy after the verification window; it was turned back off.
	RuleHealthDropped = "health_dropped"
	// RuleVerifyNotScheduled: proxy protocol was turned on but the delayed
	// health verification could not be queued.
	RuleVerifyNotScheduled = "verification_not_scheduled"
	// RuleVerifyBlind: proxy protocol was turned on for a target group
	// whose health check is TCP, which passes whatever the server makes of
	// the PROXY header: the verification cannot see harm there.
	RuleVerifyBlind = "verification_blind"
	// RuleAuditMode: the load balancer is in audit mode; the calls a change
	// needs are listed as held, never made.
	RuleAuditMode = "audit_mode"
	// RuleChangeBudget: the run changed Config.MaxChanges load balancers
	// already; the next run takes this one (status deferred).
	RuleChangeBudget = "change_budget"
	// RuleErrorBudget: Config.MaxErrors changes failed in this run; it stops
	// changing (status deferred).
	RuleErrorBudget = "error_budget"
	// RulePlanStale: the load balancer changed between the plan a person
	// approved and the apply; nothing was changed (status error).
	RulePlanStale = "plan_stale"
)

// Report is what the engine found and did for one load balancer.
type Report struct {
	// Account and Region locate the load balancer; empty when the engine
	// was not told (a single-account run that never asked).
	Account  string    `json:"account,omitempty"`
	Region   string    `json:"region,omitempty"`
	Name     string    `json:"name"`
	ARN      string    `json:"arn,omitempty"`
	Type     string    `json:"type"`
	Mode     Mode      `json:"mode"`
	Status   Status    `json:"status"`
	Findings []Finding `json:"findings"`
	Actions  []Action  `json:"actions"`
	// Held is the finding that kept this run from making the calls the
	// load balancer needs (status held or deferred, or mode audit); nil
	// when nothing was held.
	Held *Finding `json:"held,omitempty"`

	err error // the first API error, for callers deciding on retries
	// unresolved: a finding left something the engine will not change
	// (apply never reports such a load balancer compliant or remediated).
	unresolved bool
	// hold, when set, is the finding that says why nothing may be changed:
	// apply then plans the steps and reports them with it.
	hold *Finding
	// planning, when set, makes call record each call with this status
	// instead of making it: the plan comes from the code that acts.
	planning ActionStatus
	// held: a gate left part of the load balancer as it is (port_not_ready,
	// stickiness_would_drop); the rest was handled. settle reports it held,
	// never compliant or remediated.
	held bool
}

// Finding is one observation about a load balancer.
type Finding struct {
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

// Action is one API call the engine made, planned or rolled back.
type Action struct {
	API    string `json:"api"`
	Target string `json:"target"`
	// Params are the call's parameters as a person reads them
	// ("SSL:443->TCP:81 cert=arn:..."), taken from the request itself.
	Params string       `json:"params,omitempty"`
	Status ActionStatus `json:"status"`
	Error  string       `json:"error,omitempty"`
}

// Err returns the first API error met while handling this load balancer, or nil.
func (r *Report) Err() error { return r.err }

func (r *Report) find(rule, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

// findOpen records a finding about something the engine leaves as it is,
// so that the load balancer is not reported compliant or remediated.
func (r *Report) findOpen(rule, format string, args ...any) {
	r.find(rule, format, args...)
	r.unresolved = true
}

// fail records an API error: status error, a finding, and the error kept.
func (r *Report) fail(err error) {
	r.Status = StatusError
	r.find(RuleAPIError, "%v", err)
	if r.err == nil {
		r.err = err
	}
}

// Changed summarises the applied actions for people ("3 applied").
func (r *Report) Changed() (applied, planned, failed int) {
	for _, a := range r.Actions {
		switch a.Status {
		case ActionApplied:
			applied++
		case ActionPlanned:
			planned++
		case ActionFailed, ActionRolledBack:
			failed++
		}
	}
	return applied, planned, failed
}

// Result is the outcome of one run over many load balancers.
type Result struct {
	// Reports has one entry per load balancer handled, sorted by type then name.
	Reports []Report `json:"reports"`
	// Found is how many load balancers the run had to handle; Processed how
	// many it handled before it stopped.
	Found     int `json:"found"`
	Processed int `json:"processed"`
	// Incomplete is true when the run stopped before its deadline with
	// load balancers left over.
	Incomplete bool `json:"incomplete,omitempty"`
	// Remaining names the load balancers an incomplete run did not reach,
	// for a later Reconcile to resume with; nil when complete.
	Remaining *Targets `json:"remaining,omitempty"`
	// Counts is the number of reports per status.
	Counts map[Status]int `json:"counts"`
}

// Err returns the first API error of any report, or nil.
func (res *Result) Err() error {
	for i := range res.Reports {
		if err := res.Reports[i].err; err != nil {
			return err
		}
	}
	return nil
}

// Errs returns every report's API error.
func (res *Result) Errs() []error {
	var errs []error
	for i := range res.Reports {
		if err := res.Reports[i].err; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
