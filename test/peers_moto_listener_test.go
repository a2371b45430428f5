//go:build integration

package test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/test/harness"
)

// TestPeersMotoKeepsInstanceProtocol proves the emulator gap fix in
// test/peer/motofix: moto itself reports a Classic listener's front-end
// protocol as its instance protocol; with the fix it keeps the one it was
// given, at creation and for listeners added later, as AWS does.
func TestPeersMotoKeepsInstanceProtocol(t *testing.T) {
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	certPEM, keyPEM := enfSelfSignedPEM(t, "web.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload server certificate")(iam.NewFromConfig(cfg).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("web-example"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	cert := aws.ToString(up.ServerCertificateMetadata.Arn)
	c := elb.NewFromConfig(cfg)
	enfMust[*elb.CreateLoadBalancerOutput](t, "create")(c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String("protocols"), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTPS", 443, "HTTP", 81, cert), enfListener("HTTPS", 8443, "HTTPS", 8443, cert)}}))
	enfMust[*elb.CreateLoadBalancerListenersOutput](t, "add listener")(c.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{
		LoadBalancerName: aws.String("protocols"), Listeners: []elbtypes.Listener{enfListener("SSL", 9443, "TCP", 9000, cert)}}))
	out := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"protocols"}}))
	got := map[int32]string{}
	for _, ld := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
		got[ld.Listener.LoadBalancerPort] = aws.ToString(ld.Listener.Protocol) + "->" + aws.ToString(ld.Listener.InstanceProtocol)
	}
	want := map[int32]string{443: "HTTPS->HTTP", 8443: "HTTPS->HTTPS", 9443: "SSL->TCP"}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("listener %d: got %s; want %s", p, got[p], w)
		}
	}
}
