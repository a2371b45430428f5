package migrate

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/engine"
)

// classicDefaultPolicy is what AWS applies to a Classic HTTPS/SSL listener
// created without a security policy.
const classicDefaultPolicy = "ELBSecurityPolicy-2016-08"

// SecurityPolicyMapping is one row of the Classic → NLB predefined security
// policy table.
type SecurityPolicyMapping struct {
	Classic string
	// NLB is the nearest NLB predefined policy: the same lowest TLS version
	// and the same or a stricter cipher list, plus TLS 1.3. Empty: none
	// (the Classic policy allows SSLv3, RC4, 3DES or DHE suites that no NLB
	// policy offers); the migration is held unless --ssl-policy names one.
	NLB string
	// Note says what clients lose, if anything.
	Note string
}

// SecurityPolicies is the Classic → NLB predefined security policy table
// (docs/migrate.md prints it). Classic list: "Predefined SSL security
// policies for Classic Load Balancers"; NLB list: "Security policies for
// your Network Load Balancer".
var SecurityPolicies = []SecurityPolicyMapping{
	{"ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS13-1-2-2021-06", "same TLS 1.2 ciphers; adds TLS 1.3"},
	{"ELBSecurityPolicy-TLS-1-1-2017-01", "ELBSecurityPolicy-TLS13-1-1-2021-06", "same TLS 1.1-1.2 ciphers; adds TLS 1.3"},
	{"ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-0-2021-06", "same TLS 1.0-1.2 ciphers; adds TLS 1.3"},
	{"ELBSecurityPolicy-2015-05", "ELBSecurityPolicy-TLS13-1-0-2021-06", "drops DES-CBC3-SHA (3DES): clients that offer only 3DES cannot connect"},
	{"ELBSecurityPolicy-2015-03", "", "allows DHE and 3DES suites no NLB policy offers"},
	{"ELBSecurityPolicy-2015-02", "", "allows DHE and 3DES suites no NLB policy offers"},
	{"ELBSecurityPolicy-2014-10", "", "allows DHE, 3DES and RC4 suites no NLB policy offers"},
	{"ELBSecurityPolicy-2014-01", "", "allows SSLv3 and RC4, which no NLB policy offers"},
	{"ELBSecurityPolicy-2011-08", "", "allows SSLv3 and RC4, which no NLB policy offers"},
	{"ELBSample-ELBDefaultCipherPolicy", "", "allows SSLv3 and RC4, which no NLB policy offers"},
	{"ELBSample-OpenSSLDefaultCipherPolicy", "", "allows SSLv3 and RC4, which no NLB policy offers"},
}

// nlbSecurityPolicy maps a Classic listener's SSL negotiation policy to an
// NLB predefined policy. It returns the policy, the Classic policy it read
// (for people), and a problem when there is no equivalent: a custom policy
// (no Reference-Security-Policy) or a predefined one with no NLB peer.
func nlbSecurityPolicy(s *Source, ld elbtypes.ListenerDescription) (nlb, classic string, problem error) {
	var ref string
	custom := ""
	for _, name := range ld.PolicyNames {
		p, ok := s.policy(name)
		if !ok || aws.ToString(p.PolicyTypeName) != engine.SSLNegotiationPolicyType {
			continue
		}
		if v, ok := policyAttribute(p, "Reference-Security-Policy"); ok && v != "" {
			ref = v
		} else {
			custom = name
		}
	}
	switch {
	case custom != "":
		return "", custom, fmt.Errorf("listener %d uses the custom SSL negotiation policy %s (no Reference-Security-Policy); an NLB takes predefined policies only, and elbguard does not guess which one matches its protocols and ciphers",
			ld.Listener.LoadBalancerPort, custom)
	case ref == "":
		ref = classicDefaultPolicy // AWS's own default for a listener created without one
	}
	for _, m := range SecurityPolicies {
		if m.Classic != ref {
			continue
		}
		if m.NLB == "" {
			return "", ref, fmt.Errorf("listener %d uses %s, which %s", ld.Listener.LoadBalancerPort, ref, m.Note)
		}
		return m.NLB, ref, nil
	}
	return "", ref, fmt.Errorf("listener %d uses %s, which is not in elbguard's Classic → NLB table", ld.Listener.LoadBalancerPort, ref)
}
