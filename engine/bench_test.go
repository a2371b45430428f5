package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// BenchmarkSweepCompliant measures the engine's own cost of a sweep over
// 1,000 compliant Classic load balancers on the in-memory fake (no network).
func BenchmarkSweepCompliant(b *testing.B) {
	f := newFake()
	for i := range 1000 {
		c := f.addClassic(fmt.Sprintf("lb-%04d", i), map[string]string{DefaultTagKey: "enforce"},
			elbtypes.Listener{Protocol: aws.String("TCP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(80)})
		c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{ProxyPolicyName}}}
		c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String(ProxyPolicyName), PolicyTypeName: aws.String(proxyPolicyType),
			PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	}
	e, err := New(f, fakeV2{f}, Config{}, nil, WithInstances(fakeEC2{f}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Sweep(context.Background())
		if err != nil || res.Counts[StatusCompliant] != 1000 {
			b.Fatalf("got %v, %v; want 1000 compliant", res.Counts, err)
		}
	}
}
