package engine

import (
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// The seed's set-up serves the application behind :443 and a redirect to
// HTTPS on :80. A Classic health check aimed at the redirecting instance port
// (HTTP:80/...) gets a 301, not a 200, and marks every instance unhealthy.
//
// The redirect port is recognised from the listeners alone: the instance port
// of the listener on load-balancer port 80 (HTTP, or TCP once converted),
// when the load balancer also has an HTTPS or SSL listener on 443 that
// forwards to a different instance port. A plain HTTP site (no 443 listener,
// or 443 to the same instance port) has no redirect port.

// redirectPort returns the instance port that serves the :80 redirect, if
// the listeners show one.
func redirectPort(lb *elbtypes.LoadBalancerDescription) (port int32, ok bool) {
	var plain, secure *elbtypes.Listener
	for _, ld := range lb.ListenerDescriptions {
		l := ld.Listener
		if l == nil {
			continue
		}
		switch p := strings.ToUpper(aws.ToString(l.Protocol)); {
		case l.LoadBalancerPort == 80 && (p == "HTTP" || p == "TCP"):
			plain = l
		case l.LoadBalancerPort == 443 && (p == "HTTPS" || p == "SSL"):
			secure = l
		}
	}
	if plain == nil || secure == nil || aws.ToInt32(plain.InstancePort) == aws.ToInt32(secure.InstancePort) {
		return 0, false
	}
	return aws.ToInt32(plain.InstancePort), true
}

// checkHealthTarget reports an HTTP or HTTPS health check on the redirect
// port; the load balancer is then not reported compliant. elbguard does not
// change health checks.
func checkHealthTarget(r *Report, lb *elbtypes.LoadBalancerDescription) {
	if lb.HealthCheck == nil {
		return
	}
	target := aws.ToString(lb.HealthCheck.Target)
	proto, rest, ok := strings.Cut(target, ":")
	if !ok || !isHTTP(proto) {
		return
	}
	portText, _, _ := strings.Cut(rest, "/")
	port, err := strconv.ParseUint(portText, 10, 16)
	redirect, found := redirectPort(lb)
	if err != nil || !found || int32(port) != redirect {
		return
	}
	app := int32(0)
	for _, ld := range lb.ListenerDescriptions {
		if l := ld.Listener; l != nil && l.LoadBalancerPort == 443 {
			app = aws.ToInt32(l.InstancePort)
		}
	}
	r.findOpen(RuleHealthCheckRedirect, "health check %s targets instance port %d, which serves the :80 redirect (listener 80 -> %d beside 443 -> %d): it answers 301, not 200, and every instance is marked unhealthy. "+
		"Point the health check at the application's port instead, for example HTTP:%d/%s (elbguard does not change health checks)",
		target, redirect, redirect, app, app, strings.TrimPrefix(rest[len(portText):], "/"))
}
