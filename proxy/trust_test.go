package proxy

import (
	"errors"
	"net"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestTrustDefaults: without trusted_cidrs, only loopback and the private
// ranges a load balancer's nodes use may send a PROXY header; a source on
// the internet that reaches the port cannot set the client address.
// Trusting every source takes an explicit [any].
func TestTrustDefaults(t *testing.T) {
	tests := []struct {
		name     string
		cidrs    []string
		required bool
		src      string
		want     proxyproto.Policy
		refused  bool
	}{
		{"default: loopback", nil, true, "127.0.0.1", proxyproto.USE, false},
		{"default: IPv6 loopback", nil, true, "::1", proxyproto.USE, false},
		{"default: VPC 10/8", nil, true, "10.1.2.3", proxyproto.USE, false},
		{"default: VPC 172.16/12", nil, true, "172.31.255.1", proxyproto.USE, false},
		{"default: VPC 192.168/16", nil, true, "192.168.0.10", proxyproto.USE, false},
		{"default: RFC 6598", nil, true, "100.64.0.1", proxyproto.USE, false},
		{"default: IPv4-mapped private", nil, true, "::ffff:10.0.0.1", proxyproto.USE, false},
		{"default: internet source, required", nil, true, "203.0.113.5", proxyproto.REJECT, true},
		{"default: internet source, optional", nil, false, "203.0.113.5", proxyproto.REJECT, false},
		{"default: just outside 172.16/12", nil, true, "172.32.0.1", proxyproto.REJECT, true},
		{"default: just outside 100.64/10", nil, true, "100.128.0.1", proxyproto.REJECT, true},
		{"any", []string{TrustAny}, true, "203.0.113.5", proxyproto.USE, false},
		{"explicit list replaces the defaults", []string{"10.0.0.0/16"}, true, "192.168.0.10", proxyproto.REJECT, true},
		{"explicit list", []string{"10.0.0.0/16"}, true, "10.0.9.9", proxyproto.USE, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := compileTrust(tt.cidrs)
			if err != nil {
				t.Fatalf("compileTrust(%q): %v", tt.cidrs, err)
			}
			st := &listenerState{trust: tp, required: tt.required}
			got, err := st.connPolicy(proxyproto.ConnPolicyOptions{Upstream: &net.TCPAddr{IP: net.ParseIP(tt.src), Port: 4000}})
			if got != tt.want || (err != nil) != tt.refused || (err != nil && !errors.Is(err, errUntrusted)) {
				t.Errorf("policy for %s = %v, %v; want %v, refused %v", tt.src, got, err, tt.want, tt.refused)
			}
		})
	}
}
