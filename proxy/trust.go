package proxy

import (
	"fmt"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// TrustAny in trusted_cidrs lets every source send a PROXY header. It must
// be written out: without trusted_cidrs only DefaultTrustedCIDRs may.
const TrustAny = "any"

// DefaultTrustedCIDRs are the sources allowed to send a PROXY header when a
// listener sets no trusted_cidrs: loopback and the private ranges a load
// balancer's nodes use inside a VPC (RFC 1918, and RFC 6598's shared
// address space).
var DefaultTrustedCIDRs = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"}

// trustPolicy is the compiled trusted_cidrs of a listener.
type trustPolicy struct {
	any      bool // trusted_cidrs: [any]
	prefixes []netip.Prefix
}

// compileTrust parses trusted_cidrs (already validated by Normalize); an
// empty list means DefaultTrustedCIDRs.
func compileTrust(cidrs []string) (trustPolicy, error) {
	if len(cidrs) == 0 {
		cidrs = DefaultTrustedCIDRs
	}
	var tp trustPolicy
	for _, c := range cidrs {
		if c == TrustAny {
			tp.any = true
			continue
		}
		p, err := parsePrefix(c)
		if err != nil {
			return trustPolicy{}, fmt.Errorf("trusted_cidrs: %w", err)
		}
		tp.prefixes = append(tp.prefixes, p)
	}
	return tp, nil
}

// trusts reports whether a PROXY header from addr is believed.
func (tp trustPolicy) trusts(addr netip.Addr) bool {
	if tp.any {
		return true
	}
	addr = addr.Unmap()
	for _, p := range tp.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// connPolicy is the go-proxyproto policy of a listener state: USE for
// trusted sources, REJECT (a header closes the connection) for others, and
// a refusal of the connection in required mode.
func (st *listenerState) connPolicy(opts proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
	if st.trust.trusts(addrOf(opts.Upstream).Addr()) {
		return proxyproto.USE, nil
	}
	if st.required {
		return proxyproto.REJECT, errUntrusted
	}
	return proxyproto.REJECT, nil
}
