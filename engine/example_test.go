package engine

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

func ExampleParseMode() {
	m, err := ParseMode(" Enforce ")
	fmt.Println(m, err)
	_, err = ParseMode("yes")
	fmt.Println(err)
	// Output:
	// enforce <nil>
	// enforce: invalid config: mode "yes"; want enforce, audit or off
}

// ExampleEngine_Reconcile runs the engine over a fake account holding the
// seed article's "before": a Classic ELB with HTTP:80 and HTTPS:443->81.
// Lambdas and the CLI pass *elasticloadbalancing.Client and
// *elasticloadbalancingv2.Client instead.
func ExampleEngine_Reconcile() {
	f := newFake()
	f.addClassic("web", map[string]string{DefaultTagKey: "enforce"},
		elbtypes.Listener{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)},
		elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::123456789012:server-certificate/web")})
	eng, err := New(f, fakeV2{f}, Config{}, nil, allCerts(), WithInstances(fakeEC2{f}))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := eng.Reconcile(context.Background(), Targets{Classic: []string{"web"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := res.Reports[0]
	fmt.Println(r.Name, r.Mode, r.Status)
	for _, a := range r.Actions {
		fmt.Println(a.Status, a.API, a.Target)
	}
	// Output:
	// web enforce remediated
	// applied CreateLoadBalancerPolicy web/elbguard-proxy-protocol
	// applied SetLoadBalancerPoliciesForBackendServer web:instance-port/80
	// applied SetLoadBalancerPoliciesForBackendServer web:instance-port/81
	// applied AddTags web/elbguard:restore:80
	// applied DeleteLoadBalancerListeners web:80
	// applied CreateLoadBalancerListeners web:80
	// applied RemoveTags web/elbguard:restore:80
	// applied AddTags web/elbguard:restore:443
	// applied DeleteLoadBalancerListeners web:443
	// applied CreateLoadBalancerListeners web:443
	// applied RemoveTags web/elbguard:restore:443
}

// ExampleWithInstances shows the readiness gate: a Classic ELB whose
// registered instance does not carry elbguard:proxy-ready=true is left
// unchanged. The Lambdas and the CLI pass *ec2.Client.
func ExampleWithInstances() {
	f := newFake()
	c := f.addClassic("web", map[string]string{DefaultTagKey: "enforce"},
		elbtypes.Listener{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)})
	c.desc.Instances = []elbtypes.Instance{{InstanceId: aws.String("i-0abc")}}
	eng, err := New(f, fakeV2{f}, Config{}, nil, WithInstances(fakeEC2{f}))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := eng.Reconcile(context.Background(), Targets{Classic: []string{"web"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := res.Reports[0]
	fmt.Println(r.Status, r.Held.Rule)
	for _, a := range r.Actions {
		fmt.Println(a.Status, a.Line())
	}
	// Output:
	// held backends_not_ready
	// held CreateLoadBalancerPolicy elbguard-proxy-protocol ProxyProtocolPolicyType ProxyProtocol=true
	// held SetLoadBalancerPoliciesForBackendServer instance-port=80 policies=[elbguard-proxy-protocol]
	// held AddTags elbguard:restore:80=(signed record)
	// held DeleteLoadBalancerListeners 80
	// held CreateLoadBalancerListeners TCP:80->TCP:80
	// held RemoveTags elbguard:restore:80
}
