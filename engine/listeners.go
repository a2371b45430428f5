package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// instanceProtocol is a Classic listener's back-end protocol; empty means
// the front-end protocol, as in AWS.
func instanceProtocol(l *elbtypes.Listener) string {
	if p := aws.ToString(l.InstanceProtocol); p != "" {
		return strings.ToUpper(p)
	}
	return strings.ToUpper(aws.ToString(l.Protocol))
}

// needsSwap reports whether a Classic listener must be deleted and recreated
// to carry the PROXY protocol: an HTTP or HTTPS side becomes TCP or SSL.
func needsSwap(l *elbtypes.Listener) bool {
	return isHTTP(aws.ToString(l.Protocol)) || isHTTP(instanceProtocol(l))
}

// secureBackend reports whether a Classic listener talks TLS to its instances
// (instance protocol HTTPS or SSL). AWS's Classic listener table: such a back
// end does not support the proxy protocol header, and turning HTTPS->HTTPS
// into SSL->SSL would also cost the app its X-Forwarded-For.
func secureBackend(l *elbtypes.Listener) bool {
	p := instanceProtocol(l)
	return p == "HTTPS" || p == "SSL"
}

// classicScope returns lb with only the listeners elbguard may change: in
// the elbguard:ports scope, with a back end that can take the PROXY protocol,
// with a certificate that still exists when the listener is to be replaced,
// and not sharing an instance port with a listener left alone (the policy
// is per instance port: the PROXY header would reach that listener's
// traffic too). Every listener left for a reason other than the ports tag is
// reported, and keeps the load balancer from being reported compliant.
func (e *Engine) classicScope(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, s scope) *elbtypes.LoadBalancerDescription {
	var keep, left []elbtypes.ListenerDescription
	for _, ld := range lb.ListenerDescriptions {
		l := ld.Listener
		switch {
		case l == nil:
		case !s.manages(l.LoadBalancerPort):
			left = append(left, ld)
		case secureBackend(l):
			r.findOpen(RuleSecureBackend, "listener %d (%s:%d -> %s:%d) is left alone: a back end reached over %s cannot receive the PROXY protocol header, and elbguard does not turn it into SSL->SSL, which would also lose X-Forwarded-For. "+
				"Instead, either end TLS on the instances behind a TCP:%d -> TCP:%d pass-through listener (elbguard-proxy or nginx with proxy_protocol then see the client address), "+
				"or end TLS at the load balancer with %s:%d -> HTTP:%d to a plain back end; or leave the port out with %s",
				l.LoadBalancerPort, strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, instanceProtocol(l), aws.ToInt32(l.InstancePort), instanceProtocol(l),
				l.LoadBalancerPort, aws.ToInt32(l.InstancePort), strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, aws.ToInt32(l.InstancePort), TagPorts)
			left = append(left, ld)
		case !e.certificateGate(ctx, r, l):
			left = append(left, ld)
		default:
			keep = append(keep, ld)
		}
	}
	keep = slices.DeleteFunc(keep, func(ld elbtypes.ListenerDescription) bool {
		port := aws.ToInt32(ld.Listener.InstancePort)
		i := slices.IndexFunc(left, func(o elbtypes.ListenerDescription) bool { return aws.ToInt32(o.Listener.InstancePort) == port })
		if i < 0 {
			return false
		}
		r.findOpen(RulePortScope, "listener %d is left alone: its instance port %d also serves listener %d, which elbguard leaves as it is, and the PROXY protocol policy is per instance port. "+
			"Give one of them its own instance port, or manage both (%s)", ld.Listener.LoadBalancerPort, port, left[i].Listener.LoadBalancerPort, TagPorts)
		return true
	})
	if len(keep) == len(lb.ListenerDescriptions) {
		return lb
	}
	out := *lb
	out.ListenerDescriptions = keep
	return &out
}

// describeListener renders a Classic listener for people.
func describeListener(ld elbtypes.ListenerDescription) string {
	l := ld.Listener
	s := fmt.Sprintf("%s:%d -> %s:%d", strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, instanceProtocol(l), aws.ToInt32(l.InstancePort))
	if c := aws.ToString(l.SSLCertificateId); c != "" {
		s += " certificate " + c
	}
	return s + fmt.Sprintf(" policies %v", nonNil(ld.PolicyNames))
}
