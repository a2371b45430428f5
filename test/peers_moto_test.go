//go:build integration

package test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/test/harness"
)

// TestPeersMotoClassicELB proves the emulator path every enforcement test
// relies on: moto_server started by the harness, an SDK client configured
// only through the standard AWS_ENDPOINT_URL setting, a Classic ELB created
// and read back with its listeners, tags and a proxy-protocol policy.
func TestPeersMotoClassicELB(t *testing.T) {
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	if got := aws.ToString(cfg.BaseEndpoint); got != m.URL {
		t.Fatalf("BaseEndpoint from AWS_ENDPOINT_URL = %q; want %q", got, m.URL)
	}
	client := elb.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const name = "seed-before"
	_, err := client.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(name),
		AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{
			{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)},
			{Protocol: aws.String("TCP"), LoadBalancerPort: 8443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81)},
		},
		Tags: []elbtypes.Tag{{Key: aws.String("elbguard:proxy-protocol"), Value: aws.String("enforce")}},
	})
	if err != nil {
		t.Fatalf("create load balancer %s: %v", name, err)
	}
	_, err = client.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
		LoadBalancerName: aws.String(name),
		PolicyName:       aws.String("EnableProxyProtocol"),
		PolicyTypeName:   aws.String("ProxyProtocolPolicyType"),
		PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String("ProxyProtocol"), AttributeValue: aws.String("true")}},
	})
	if err != nil {
		t.Fatalf("create proxy protocol policy: %v", err)
	}
	_, err = client.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
		LoadBalancerName: aws.String(name),
		InstancePort:     aws.Int32(81),
		PolicyNames:      []string{"EnableProxyProtocol"},
	})
	if err != nil {
		t.Fatalf("set backend policies on %s:81: %v", name, err)
	}

	out, err := client.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	if len(out.LoadBalancerDescriptions) != 1 {
		t.Fatalf("got %d load balancers; want 1", len(out.LoadBalancerDescriptions))
	}
	d := out.LoadBalancerDescriptions[0]
	listeners := map[int32]string{}
	for _, l := range d.ListenerDescriptions {
		listeners[l.Listener.LoadBalancerPort] = aws.ToString(l.Listener.Protocol)
	}
	if listeners[80] != "HTTP" || listeners[8443] != "TCP" || len(listeners) != 2 {
		t.Errorf("listeners = %v; want map[80:HTTP 8443:TCP]", listeners)
	}
	backend := map[int32][]string{}
	for _, b := range d.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	if got := backend[81]; len(got) != 1 || got[0] != "EnableProxyProtocol" {
		t.Errorf("backend policies on port 81 = %v; want [EnableProxyProtocol]", got)
	}

	tags, err := client.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{name}})
	if err != nil {
		t.Fatalf("describe tags of %s: %v", name, err)
	}
	if n := len(tags.TagDescriptions); n != 1 || len(tags.TagDescriptions[0].Tags) != 1 ||
		aws.ToString(tags.TagDescriptions[0].Tags[0].Value) != "enforce" {
		t.Errorf("tags = %+v; want elbguard:proxy-protocol=enforce", tags.TagDescriptions)
	}
}
