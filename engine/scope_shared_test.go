package engine

import (
	"testing"

	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestNetworkPortsScopeSharedTargetGroup: proxy protocol is per target group
// on an NLB, as it is per instance port on a Classic ELB. A target group
// that also serves a listener the elbguard:ports tag leaves alone (TCP:22
// beside TCP:80) would send the PROXY header to that port too: it is left
// alone and reported, like a shared Classic instance port.
func TestNetworkPortsScopeSharedTargetGroup(t *testing.T) {
	f := newFake()
	n := f.addNLB("edge", v2types.LoadBalancerTypeEnumNetwork, map[string]string{tag: "enforce", TagPorts: "80", TagReadiness: "skip"},
		v2types.ProtocolEnumTcp, v2types.ProtocolEnumTcp)
	shared := forwardTargets(n.listeners[0].DefaultActions)[0]
	n.listeners[1].DefaultActions = n.listeners[0].DefaultActions // listener 81, out of scope, forwards to it too
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "edge")
	if got := f.tgs[shared][attrProxyProtocolV2]; got != "" {
		t.Errorf("shared target group: proxy_protocol_v2.enabled %q; want untouched", got)
	}
	if r.Status != StatusNonCompliant || !hasRule(r, RulePortScope) {
		t.Errorf("got %s %+v; want non_compliant with %s", r.Status, r.Findings, RulePortScope)
	}
}
