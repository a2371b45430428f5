package faultproxy

import (
	"fmt"
	"net/url"
	"time"
)

// API versions of the two ELB APIs, as sent in the Version form field.
const (
	VersionClassic = "2012-06-01" // elasticloadbalancing (Classic Load Balancers)
	VersionV2      = "2015-12-01" // elasticloadbalancingv2 (ALB, NLB, GWLB)
)

// Kind is the fault a Rule injects.
type Kind int

// Kinds of fault.
const (
	// Throttle answers HTTP 400 with the Query-protocol error code
	// "Throttling", which both ELB APIs use and the SDK's standard retryer
	// treats as a retryable throttling error.
	Throttle Kind = iota + 1
	// InternalError answers HTTP 500 InternalFailure (retried by the SDK).
	InternalError
	// Reset hijacks the connection and closes it with SO_LINGER 0, so the
	// client reads a TCP RST ("connection reset by peer") and no response.
	Reset
	// Delay waits Rule.Delay (or until the client gives up), then forwards.
	Delay
)

// String names the kind as in Stats ("throttle", "500", "reset", "delay").
func (k Kind) String() string {
	switch k {
	case Throttle:
		return "throttle"
	case InternalError:
		return "500"
	case Reset:
		return "reset"
	case Delay:
		return "delay"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Rule injects one kind of fault into matching requests. A request matches
// when Action and Version match (empty matches any); a matching request is
// faulted when the First, Every and Probability conditions all allow it. The
// first rule that faults a request wins; later rules are not consulted.
type Rule struct {
	// Action is the Query-protocol action ("CreateLoadBalancerListeners").
	// Empty: every action.
	Action string
	// Version is the API version (VersionClassic, VersionV2). Empty: both.
	Version string
	// Kind is the fault. Required.
	Kind Kind
	// Delay is how long a Delay fault waits. Zero: 100ms.
	Delay time.Duration
	// Code overrides the error code of Throttle ("Throttling") and
	// InternalError ("InternalFailure") faults.
	Code string
	// First limits the rule to the first First matching requests.
	// Zero: no limit.
	First int
	// Every faults every Every-th matching request (the Every-th, the
	// 2*Every-th...). Zero or one: every matching request.
	Every int
	// Probability faults a matching request with this probability, drawn
	// from the proxy's seeded source. Zero: always.
	Probability float64
	// Match, when set, must also accept the request's form (its parameters)
	// for the request to match: for example, only the creation of an SSL
	// listener. It runs under the proxy's lock and must not call the proxy.
	Match func(form url.Values) bool
}

// Validate reports the first invalid field.
func (r Rule) Validate() error {
	switch {
	case r.Kind < Throttle || r.Kind > Delay:
		return fmt.Errorf("faultproxy: rule %q: Kind %d; want Throttle, InternalError, Reset or Delay", r.Action, int(r.Kind))
	case r.First < 0:
		return fmt.Errorf("faultproxy: rule %q: First %d; want zero or positive", r.Action, r.First)
	case r.Every < 0:
		return fmt.Errorf("faultproxy: rule %q: Every %d; want zero or positive", r.Action, r.Every)
	case r.Probability < 0 || r.Probability > 1:
		return fmt.Errorf("faultproxy: rule %q: Probability %v; want 0 to 1", r.Action, r.Probability)
	case r.Delay < 0:
		return fmt.Errorf("faultproxy: rule %q: Delay %s; want zero or positive", r.Action, r.Delay)
	}
	return nil
}

// rule is a Rule with its match counter.
type rule struct {
	Rule
	matched int
}

func (r *rule) matches(action, version string, form url.Values) bool {
	return (r.Action == "" || r.Action == action) && (r.Version == "" || r.Version == version) && (r.Match == nil || r.Match(form))
}

// fire counts a match and reports whether it is faulted; rnd draws the
// probability. The caller holds the proxy's lock.
func (r *rule) fire(rnd func() float64) bool {
	r.matched++
	if r.First > 0 && r.matched > r.First {
		return false
	}
	if r.Every > 1 && r.matched%r.Every != 0 {
		return false
	}
	if r.Probability > 0 && rnd() >= r.Probability {
		return false
	}
	return true
}
