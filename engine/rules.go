package engine

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// The rules below are the engine's own, exported for the packages that build
// on its knowledge of load balancers (migrate): each stays defined once, here
// or in the file the wrapper names.

// NLB attribute keys and limits (network.go).
const (
	AttrProxyProtocolV2 = attrProxyProtocolV2
	AttrTCPIdleTimeout  = attrTCPIdleTimeout
	NetworkMinIdle      = networkMinIdle
	NetworkMaxIdle      = networkMaxIdle
)

// Classic policy types (classic.go).
const (
	SSLNegotiationPolicyType = sslNegotiationType
	ProxyProtocolPolicyType  = proxyPolicyType
)

// InstanceProtocol is a Classic listener's back-end protocol, upper case;
// an empty InstanceProtocol means the front-end protocol, as in AWS.
func InstanceProtocol(l *elbtypes.Listener) string { return instanceProtocol(l) }

// IsHTTPProtocol reports whether a Classic protocol is HTTP or HTTPS (the
// listeners that cannot carry a PROXY header or WebSockets as such).
func IsHTTPProtocol(p string) bool { return isHTTP(p) }

// IsStickinessPolicyType reports whether a Classic policy type is a cookie
// stickiness policy (LB- or application-generated cookie).
func IsStickinessPolicyType(t string) bool { return t == lbCookieType || t == appCookieType }

// ProxyProtocolPorts returns the instance ports whose back-end server
// policies include a ProxyProtocolPolicyType policy with ProxyProtocol=true.
func ProxyProtocolPorts(lb *elbtypes.LoadBalancerDescription, policies []elbtypes.PolicyDescription) map[int32]bool {
	pols := classicPolicies{}
	for _, p := range policies {
		pols[aws.ToString(p.PolicyName)] = p
	}
	out := map[int32]bool{}
	for _, d := range lb.BackendServerDescriptions {
		if slices.ContainsFunc(d.PolicyNames, pols.isProxy) {
			out[aws.ToInt32(d.InstancePort)] = true
		}
	}
	return out
}

// ReadinessSkip reads a load balancer's elbguard:readiness tag: skip is true
// for "skip"; a value other than skip or require is returned as a finding
// (rule invalid_tag_value), and then nothing may be changed.
func ReadinessSkip(tags map[string]string) (skip bool, invalid *Finding) {
	var r Report
	skip, ok := readinessTag(&r, tags)
	if !ok {
		return false, &r.Findings[0]
	}
	return skip, nil
}

// ReadyInstances reads elbguard:proxy-ready of the instances ids through
// api and returns those that read the header on every port they are sent
// to: each of ports when given, any port ("true") otherwise. Malformed
// values are returned as findings (rule invalid_tag_value) and count as not
// ready.
func ReadyInstances(ctx context.Context, api InstancesAPI, ids []string, ports ...int32) (ready map[string]bool, findings []Finding, err error) {
	e := &Engine{instances: api}
	var r Report
	got, err := e.readyInstances(ctx, &r, ids)
	ready = map[string]bool{}
	for id, rd := range got {
		ok := rd.all
		if len(ports) > 0 {
			ok = true
			for _, p := range ports {
				ok = ok && rd.reads(p)
			}
		}
		ready[id] = ok
	}
	return ready, r.Findings, err
}

// CheckCertificate reads an IAM or ACM certificate by ARN as the engine does
// before it replaces a listener: problem says why it cannot be used (missing,
// not ISSUED, or not verifiable without the client it needs); err is an API
// error. Either client may be nil.
func CheckCertificate(ctx context.Context, iamAPI IAMCertificateAPI, acmAPI ACMCertificateAPI, cert string) (problem, err error) {
	return certificates{iam: iamAPI, acm: acmAPI}.check(ctx, cert)
}
