package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrMalformed is returned by Classify for input that is not an EventBridge
// event at all (invalid JSON, no detail-type or source, undecodable detail,
// over MaxEventBytes).
// Such input must not be retried.
var ErrMalformed = errors.New("events: malformed event")

// MaxEventBytes is the largest event Classify decodes: EventBridge's own
// limit on an event (256 KiB). Anything larger did not come from EventBridge
// and is malformed.
const MaxEventBytes = 256 << 10

// Kind is what an event asks elbguard to do.
type Kind string

// Kinds of Decision.
const (
	// KindReconcile: reconcile the load balancers named in the Decision.
	KindReconcile Kind = "reconcile"
	// KindSweep: reconcile every load balancer in the region.
	KindSweep Kind = "sweep"
	// KindIgnored: do nothing; Decision.Reason says why.
	KindIgnored Kind = "ignored"
)

// Decision is the classification of one event.
type Decision struct {
	Kind   Kind   `json:"kind"`
	Reason string `json:"reason,omitempty"`
	// DetailType, Source and EventName identify the event in logs.
	DetailType string `json:"detail_type,omitempty"`
	Source     string `json:"source,omitempty"`
	EventName  string `json:"event_name,omitempty"`
	// Caller is the ARN of the principal that made the API call, if any.
	Caller string `json:"caller,omitempty"`
	// Identity is the CloudTrail userIdentity.arn of the call (for an
	// assumed role, the session: .../assumed-role/ROLE/alice), for the
	// people notified of what the event caused. Not part of the golden
	// classification.
	Identity string `json:"-"`
	// Classic lists Classic Load Balancer names to reconcile.
	Classic []string `json:"classic,omitempty"`
	// LoadBalancers lists ELBv2 load balancer ARNs to reconcile.
	LoadBalancers []string `json:"load_balancers,omitempty"`
	// TargetGroups lists target group ARNs whose load balancers must be
	// reconciled; resolving them needs an API call, left to the caller.
	TargetGroups []string `json:"target_groups,omitempty"`
	// Debounce: the event comes in storms (an Auto Scaling scale-out
	// registers instances one call at a time), so the caller should
	// coalesce it with the others for the same load balancers into one
	// reconcile a little later instead of reconciling on each one.
	Debounce bool `json:"debounce,omitempty"`
}

// Options tune Classify. The zero value classifies every event on its own merits.
type Options struct {
	// SelfARN is the principal (role) elbguard runs as. Calls made by it are
	// ignored so that elbguard's own changes do not loop. Empty: no check.
	SelfARN string
	// TagKeys are the tag keys elbguard reads. When set, tag changes that
	// touch none of them are ignored. Empty: every tag change counts.
	TagKeys []string
}

// HandledEventNames lists the CloudTrail eventName values of source
// aws.elasticloadbalancing that Classify turns into a reconcile (Classic and
// ELBv2 share some names). An EventBridge rule should match exactly these.
var HandledEventNames = []string{
	"AddTags",
	"CreateListener",
	"CreateLoadBalancer",
	"CreateLoadBalancerListeners",
	"CreateRule",
	"DeleteLoadBalancerListeners",
	"DeleteLoadBalancerPolicy",
	"DeleteRule",
	"ModifyListener",
	"ModifyListenerAttributes",
	"ModifyLoadBalancerAttributes",
	"ModifyRule",
	"ModifyTargetGroupAttributes",
	"RegisterInstancesWithLoadBalancer",
	"RegisterTargets",
	"RemoveTags",
	"SetLoadBalancerPoliciesForBackendServer",
	"SetRulePriorities",
}

// RegisterInstancesWithLoadBalancer and RegisterTargets are handled with
// Decision.Debounce: the readiness gate holds a load balancer with no
// registered instance (engine.RuleNoBackends) until instances register and
// say they read the PROXY header, but Auto Scaling and ECS register in
// storms, one call per instance, so the caller coalesces them.

// Classify decodes raw as an EventBridge event and decides what it asks for.
// It returns an error wrapping ErrMalformed only for undecodable input and
// input over MaxEventBytes; events it does not handle are a Decision of
// KindIgnored with a reason.
func Classify(raw []byte, opts Options) (Decision, error) {
	if len(raw) > MaxEventBytes {
		return Decision{}, fmt.Errorf("%w: %d bytes, over the %d-byte EventBridge limit", ErrMalformed, len(raw), MaxEventBytes)
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if ev.DetailType == "" || ev.Source == "" {
		return Decision{}, fmt.Errorf("%w: missing detail-type or source", ErrMalformed)
	}
	return ClassifyEvent(ev, opts)
}

// ClassifyEvent is Classify for an already decoded envelope.
func ClassifyEvent(ev Event, opts Options) (Decision, error) {
	d := Decision{DetailType: ev.DetailType, Source: ev.Source}
	switch {
	case ev.DetailType == DetailTypeScheduled && ev.Source == SourceEvents:
		d.Kind = KindSweep
		return d, nil
	case ev.DetailType == DetailTypeCloudTrail && ev.Source == SourceELB:
		var detail CloudTrailDetail
		if err := decodeDetail(ev.Detail, &detail); err != nil {
			return Decision{}, err
		}
		return classifyCloudTrail(d, detail, opts), nil
	case ev.DetailType == DetailTypeTagChange && ev.Source == SourceTag:
		var detail TagChangeDetail
		if err := decodeDetail(ev.Detail, &detail); err != nil {
			return Decision{}, err
		}
		return classifyTagChange(d, ev.Resources, detail, opts), nil
	default:
		return ignored(d, fmt.Sprintf("unhandled event %q from %q", ev.DetailType, ev.Source)), nil
	}
}

func decodeDetail(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("%w: missing detail", ErrMalformed)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: detail: %w", ErrMalformed, err)
	}
	return nil
}

func ignored(d Decision, reason string) Decision {
	d.Kind = KindIgnored
	d.Reason = reason
	d.Classic, d.LoadBalancers, d.TargetGroups = nil, nil, nil
	d.Debounce = false
	return d
}

func classifyCloudTrail(d Decision, c CloudTrailDetail, opts Options) Decision {
	d.EventName = c.EventName
	d.Caller = c.UserIdentity.Caller()
	d.Identity = c.UserIdentity.ARN
	if c.ErrorCode != "" {
		return ignored(d, fmt.Sprintf("failed call: %s", c.ErrorCode))
	}
	if opts.SelfARN != "" && SamePrincipal(d.Caller, opts.SelfARN) {
		return ignored(d, "caused by elbguard itself")
	}
	req := c.RequestParameters
	if req == nil {
		req = &RequestParameters{}
	}
	classic := c.APIVersion == APIVersionClassic ||
		(c.APIVersion == "" && (req.LoadBalancerName != "" || len(req.LoadBalancerNames) > 0))

	switch c.EventName {
	case "CreateLoadBalancer":
		if classic {
			d.Classic = appendName(d.Classic, req.LoadBalancerName)
		} else if c.ResponseElements != nil {
			for _, lb := range c.ResponseElements.LoadBalancers {
				d.LoadBalancers = appendARN(d.LoadBalancers, lb.LoadBalancerArn)
			}
		}
	case "AddTags", "RemoveTags":
		if !touchesKeys(tagKeysOf(req), opts.TagKeys) {
			return ignored(d, "tag change does not touch elbguard tags")
		}
		for _, n := range req.LoadBalancerNames {
			d.Classic = appendName(d.Classic, n)
		}
		addResourceARNs(&d, req.ResourceArns)
	case "CreateLoadBalancerListeners", "DeleteLoadBalancerListeners",
		"SetLoadBalancerPoliciesForBackendServer", "DeleteLoadBalancerPolicy":
		d.Classic = appendName(d.Classic, req.LoadBalancerName)
	case "ModifyLoadBalancerAttributes":
		d.Classic = appendName(d.Classic, req.LoadBalancerName)
		d.LoadBalancers = appendARN(d.LoadBalancers, req.LoadBalancerArn)
	case "CreateListener":
		d.LoadBalancers = appendARN(d.LoadBalancers, req.LoadBalancerArn)
	case "ModifyListener":
		if lb, ok := LoadBalancerARNFromListener(req.ListenerArn); ok {
			d.LoadBalancers = appendARN(d.LoadBalancers, lb)
		}
		if c.ResponseElements != nil {
			for _, l := range c.ResponseElements.Listeners {
				d.LoadBalancers = appendARN(d.LoadBalancers, l.LoadBalancerArn)
			}
		}
	case "ModifyListenerAttributes", "CreateRule", "ModifyRule", "DeleteRule", "SetRulePriorities":
		return classifyNetworkChange(d, c, req)
	case "ModifyTargetGroupAttributes":
		if IsTargetGroupARN(req.TargetGroupArn) && !slices.Contains(d.TargetGroups, req.TargetGroupArn) {
			d.TargetGroups = append(d.TargetGroups, req.TargetGroupArn)
		}
	case "RegisterInstancesWithLoadBalancer":
		d.Classic = appendName(d.Classic, req.LoadBalancerName)
		d.Debounce = true
	case "RegisterTargets":
		if IsTargetGroupARN(req.TargetGroupArn) {
			d.TargetGroups = append(d.TargetGroups, req.TargetGroupArn)
		}
		d.Debounce = true
	default:
		return ignored(d, fmt.Sprintf("unhandled API call %q", c.EventName))
	}
	if len(d.Classic)+len(d.LoadBalancers)+len(d.TargetGroups) == 0 {
		return ignored(d, fmt.Sprintf("%s names no load balancer", c.EventName))
	}
	d.Kind = KindReconcile
	return d
}

func classifyTagChange(d Decision, resources []string, t TagChangeDetail, opts Options) Decision {
	d.EventName = "TagChange"
	if t.Service != "" && t.Service != "elasticloadbalancing" {
		return ignored(d, fmt.Sprintf("tag change on service %q", t.Service))
	}
	if !touchesKeys(t.ChangedTagKeys, opts.TagKeys) {
		return ignored(d, "tag change does not touch elbguard tags")
	}
	addResourceARNs(&d, resources)
	if len(d.Classic)+len(d.LoadBalancers) == 0 {
		return ignored(d, "tag change names no load balancer")
	}
	d.Kind = KindReconcile
	return d
}

// addResourceARNs files load balancer ARNs under Classic or LoadBalancers and
// drops the rest (target groups carry no elbguard tag).
func addResourceARNs(d *Decision, arns []string) {
	for _, arn := range arns {
		if name, ok := ClassicNameFromARN(arn); ok {
			d.Classic = appendName(d.Classic, name)
		} else if IsV2LoadBalancerARN(arn) {
			d.LoadBalancers = appendARN(d.LoadBalancers, arn)
		}
	}
}

func tagKeysOf(req *RequestParameters) []string {
	keys := slices.Clone(req.TagKeys)
	for _, t := range req.Tags {
		keys = append(keys, t.Key)
	}
	return keys
}

// touchesKeys reports whether a tag change with the given keys concerns
// elbguard. Unknown keys (none recorded) or no filter count as a match.
func touchesKeys(changed, watched []string) bool {
	if len(watched) == 0 || len(changed) == 0 {
		return true
	}
	for _, k := range changed {
		if slices.Contains(watched, k) {
			return true
		}
	}
	return false
}

func appendName(list []string, name string) []string {
	name = strings.TrimSpace(name)
	if name == "" || slices.Contains(list, name) {
		return list
	}
	return append(list, name)
}

func appendARN(list []string, arn string) []string {
	if !IsV2LoadBalancerARN(arn) || slices.Contains(list, arn) {
		return list
	}
	return append(list, arn)
}

// classifyNetworkChange handles the listener-attribute and listener-rule
// calls, which name a listener or rules, not a load balancer: the load
// balancer ARN is derived from them. Only Network Load Balancers are
// reconciled; the same calls on an Application Load Balancer (where rules
// churn under ingress controllers) cannot change anything elbguard manages.
func classifyNetworkChange(d Decision, c CloudTrailDetail, req *RequestParameters) Decision {
	var lbs []string
	add := func(arn string, ok bool) {
		if ok {
			lbs = appendARN(lbs, arn)
		}
	}
	add(LoadBalancerARNFromListener(req.ListenerArn))
	add(LoadBalancerARNFromRule(req.RuleArn))
	for _, p := range req.RulePriorities {
		add(LoadBalancerARNFromRule(p.RuleArn))
	}
	if len(lbs) == 0 {
		return ignored(d, fmt.Sprintf("%s names no load balancer", c.EventName))
	}
	for _, lb := range lbs {
		if isNetwork(lb) {
			d.LoadBalancers = appendARN(d.LoadBalancers, lb)
		}
	}
	if len(d.LoadBalancers) == 0 {
		return ignored(d, fmt.Sprintf("%s on a load balancer that is not a Network Load Balancer", c.EventName))
	}
	d.Kind = KindReconcile
	return d
}
