//go:build integration

package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/test/harness"
)

const (
	enfModeTag = "elbguard:proxy-protocol"
	enfIdleTag = "elbguard:idle-timeout"
)

// enfFleet is the set of load balancers the enforcement tests create in moto,
// one of every shape the engine handles.
type enfFleet struct {
	classic *elb.Client
	v2      *elbv2.Client
	cert    string // IAM server certificate ARN
	nlb     string // ARN of edge-nlb (enforce: TCP, TLS, UDP listeners)
	nlbOff  string // ARN of edge-nlb-untagged
	alb     string // ARN of web-alb (enforce)
	tgs     map[string]string
}

// Classic load balancer names of the enfFleet.
const (
	enfWebEnforce  = "web-enforce"  // HTTP:80, HTTPS:443->81 (cert, SSL policy), TCP:9000; backend policy on 81; cookie policy on 80; idle 3600
	enfWebUntagged = "web-untagged" // same listeners, no tag: left alone
	enfWebAudit    = "web-audit"    // HTTP:80 tagged audit: reported, not changed
	enfWebSSL      = "web-ssl"      // SSL:443 and TCP:80 already: only proxy protocol missing
	enfWebBad      = "web-bad"      // invalid tag value
	enfWebBadIdle  = "web-bad-idle" // idle timeout out of range
)

func enfCtxT(t *testing.T) context.Context {
	t.Helper()
	return harness.Context(t, 60*time.Second)
}

// enfSelfSignedPEM returns a certificate and key for CN=host.
func enfSelfSignedPEM(t *testing.T, host string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// enfDefaultSubnets asks moto's EC2 for two default subnets. moto gap worked
// around: the module has no EC2 SDK client, and moto does not check
// signatures, so a plain Query API request with a credential scope naming
// "ec2" is enough.
func enfDefaultSubnets(t *testing.T, m *harness.Moto) (vpc string, subnets []string) {
	t.Helper()
	form := url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}}
	req, err := http.NewRequestWithContext(enfCtxT(t), http.MethodPost, m.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/"+harness.Region+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("describe subnets: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ids := regexp.MustCompile(`<subnetId>(subnet-[0-9a-f]+)</subnetId>`).FindAllStringSubmatch(string(body), -1)
	vpcs := regexp.MustCompile(`<vpcId>(vpc-[0-9a-f]+)</vpcId>`).FindStringSubmatch(string(body))
	if len(ids) < 2 || vpcs == nil {
		t.Fatalf("describe subnets: got %s", body)
	}
	return vpcs[1], []string{ids[0][1], ids[1][1]}
}

func enfListener(proto string, port int32, instProto string, instPort int32, cert string) elbtypes.Listener {
	l := elbtypes.Listener{Protocol: aws.String(proto), LoadBalancerPort: port, InstanceProtocol: aws.String(instProto), InstancePort: aws.Int32(instPort)}
	if cert != "" {
		l.SSLCertificateId = aws.String(cert)
	}
	return l
}

func enfTags(kv ...string) []elbtypes.Tag {
	var out []elbtypes.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, elbtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func enfMust[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// enfCreateFleet creates every shape in moto.
func enfCreateFleet(t *testing.T, m *harness.Moto) *enfFleet {
	t.Helper()
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	f := &enfFleet{classic: elb.NewFromConfig(cfg), v2: elbv2.NewFromConfig(cfg), tgs: map[string]string{}}
	certPEM, keyPEM := enfSelfSignedPEM(t, "web.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload server certificate")(iam.NewFromConfig(cfg).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("web-example"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	f.cert = aws.ToString(up.ServerCertificateMetadata.Arn)

	seed := []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTP", 81, f.cert), enfListener("TCP", 9000, "TCP", 9000, "")}
	for _, lb := range []struct {
		name      string
		listeners []elbtypes.Listener
		tags      []elbtypes.Tag
	}{
		// No instances: a hand-run fleet, readiness=skip (the gate has its
		// own tests); its cookie policy may go (stickiness=drop).
		{enfWebEnforce, seed, enfTags(enfModeTag, "enforce", enfIdleTag, "3600", "elbguard:readiness", "skip", "elbguard:stickiness", "drop")},
		{enfWebUntagged, seed, nil},
		{enfWebAudit, []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, enfTags(enfModeTag, "AUDIT", "elbguard:readiness", "skip")},
		{enfWebSSL, []elbtypes.Listener{enfListener("SSL", 443, "TCP", 443, f.cert), enfListener("TCP", 80, "TCP", 80, "")}, enfTags(enfModeTag, "Enforce", "elbguard:readiness", "skip")},
		{enfWebBad, []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, enfTags(enfModeTag, "yes-please")},
		{enfWebBadIdle, []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")}, enfTags(enfModeTag, "enforce", enfIdleTag, "9000")},
	} {
		enfMust[*elb.CreateLoadBalancerOutput](t, "create "+lb.name)(f.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName: aws.String(lb.name), AvailabilityZones: []string{"us-east-1a"}, Listeners: lb.listeners, Tags: lb.tags}))
	}
	for _, name := range []string{enfWebEnforce, enfWebUntagged} {
		enfSeedPolicies(t, f.classic, name)
	}

	vpc, subnets := enfDefaultSubnets(t, m)
	newLB := func(name string, typ v2types.LoadBalancerTypeEnum, kv ...string) string {
		var tg []v2types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			tg = append(tg, v2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		out := enfMust[*elbv2.CreateLoadBalancerOutput](t, "create "+name)(f.v2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name: aws.String(name), Type: typ, Subnets: subnets, Tags: tg}))
		return aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
	}
	newTG := func(name string, proto v2types.ProtocolEnum, port int32) string {
		out := enfMust[*elbv2.CreateTargetGroupOutput](t, "create target group "+name)(f.v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name: aws.String(name), Protocol: proto, Port: aws.Int32(port), VpcId: aws.String(vpc), HealthCheckProtocol: v2types.ProtocolEnumTcp}))
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		f.tgs[name] = arn
		return arn
	}
	newListener := func(lb string, proto v2types.ProtocolEnum, port int32, tg string) {
		in := &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lb), Protocol: proto, Port: aws.Int32(port),
			DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}
		if proto == v2types.ProtocolEnumTls || proto == v2types.ProtocolEnumHttps {
			in.Certificates = []v2types.Certificate{{CertificateArn: aws.String(f.cert)}}
		}
		enfMust[*elbv2.CreateListenerOutput](t, fmt.Sprintf("create listener %s:%d", proto, port))(f.v2.CreateListener(ctx, in))
	}
	f.nlb = newLB("edge-nlb", v2types.LoadBalancerTypeEnumNetwork, enfModeTag, "enforce", enfIdleTag, "900", "elbguard:readiness", "skip")
	newListener(f.nlb, v2types.ProtocolEnumTcp, 80, newTG("edge-tcp", v2types.ProtocolEnumTcp, 80))
	newListener(f.nlb, v2types.ProtocolEnumTls, 443, newTG("edge-tls", v2types.ProtocolEnumTcp, 81))
	newListener(f.nlb, v2types.ProtocolEnumUdp, 53, newTG("edge-udp", v2types.ProtocolEnumUdp, 53))
	f.nlbOff = newLB("edge-nlb-untagged", v2types.LoadBalancerTypeEnumNetwork)
	newListener(f.nlbOff, v2types.ProtocolEnumTcp, 80, newTG("edge-off-tcp", v2types.ProtocolEnumTcp, 80))
	f.alb = newLB("web-alb", v2types.LoadBalancerTypeEnumApplication, enfModeTag, "enforce")
	newListener(f.alb, v2types.ProtocolEnumHttp, 80, newTG("web-alb-http", v2types.ProtocolEnumHttp, 80))
	return f
}

// classicState reads a Classic load balancer back: listeners as
// "PROTO:port->INSTPROTO:port[policies]" by port, and backend policies by port.
func (f *enfFleet) classicState(t *testing.T, name string) (listeners map[int32]string, backend map[int32][]string, idle int32) {
	t.Helper()
	ctx := enfCtxT(t)
	out := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe "+name)(f.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}}))
	d := out.LoadBalancerDescriptions[0]
	listeners, backend = map[int32]string{}, map[int32][]string{}
	for _, ld := range d.ListenerDescriptions {
		l := ld.Listener
		s := fmt.Sprintf("%s:%d->%s:%d", aws.ToString(l.Protocol), l.LoadBalancerPort, aws.ToString(l.InstanceProtocol), aws.ToInt32(l.InstancePort))
		if l.SSLCertificateId != nil {
			s += " cert"
		}
		if len(ld.PolicyNames) > 0 {
			s += fmt.Sprint(ld.PolicyNames)
		}
		listeners[l.LoadBalancerPort] = s
	}
	for _, b := range d.BackendServerDescriptions {
		backend[aws.ToInt32(b.InstancePort)] = b.PolicyNames
	}
	attrs := enfMust[*elb.DescribeLoadBalancerAttributesOutput](t, "describe attributes of "+name)(f.classic.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)}))
	return listeners, backend, aws.ToInt32(attrs.LoadBalancerAttributes.ConnectionSettings.IdleTimeout)
}

// proxyV2 reads proxy_protocol_v2.enabled of a target group ("" when absent:
// moto gap, the attribute is missing from defaults; absent means false).
func (f *enfFleet) proxyV2(t *testing.T, tg string) string {
	t.Helper()
	out := enfMust[*elbv2.DescribeTargetGroupAttributesOutput](t, "describe target group attributes")(f.v2.DescribeTargetGroupAttributes(enfCtxT(t), &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg)}))
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == "proxy_protocol_v2.enabled" {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// listenerIdle reads tcp.idle_timeout.seconds of the NLB listener on port.
func (f *enfFleet) listenerIdle(t *testing.T, lb string, port int32) string {
	t.Helper()
	ctx := enfCtxT(t)
	ls := enfMust[*elbv2.DescribeListenersOutput](t, "describe listeners")(f.v2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lb)}))
	for _, l := range ls.Listeners {
		if aws.ToInt32(l.Port) != port {
			continue
		}
		out := enfMust[*elbv2.DescribeListenerAttributesOutput](t, "describe listener attributes")(f.v2.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn}))
		for _, a := range out.Attributes {
			if aws.ToString(a.Key) == "tcp.idle_timeout.seconds" {
				return aws.ToString(a.Value)
			}
		}
	}
	return ""
}

// enfCtxTimeout bounds one run of the elbguard binary.
const enfCtxTimeout = 2 * time.Minute

// enfSeedPolicies gives the Classic ELB name the policies a real one carries
// and enforcement must keep: a backend authentication policy on instance port
// 81, an SSL negotiation policy on listener 443, cookie stickiness on 80.
func enfSeedPolicies(t *testing.T, classic *elb.Client, name string) {
	t.Helper()
	ctx := enfCtxT(t)
	enfMust[*elb.CreateLoadBalancerPolicyOutput](t, "create backend policy")(classic.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
		LoadBalancerName: aws.String(name), PolicyName: aws.String("backend-auth"), PolicyTypeName: aws.String("BackendServerAuthenticationPolicyType"),
		PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String("PublicKeyPolicyName"), AttributeValue: aws.String("backend-key")}}}))
	enfMust[*elb.SetLoadBalancerPoliciesForBackendServerOutput](t, "set backend policy")(classic.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
		LoadBalancerName: aws.String(name), InstancePort: aws.Int32(81), PolicyNames: []string{"backend-auth"}}))
	enfMust[*elb.CreateLoadBalancerPolicyOutput](t, "create SSL policy")(classic.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
		LoadBalancerName: aws.String(name), PolicyName: aws.String("tls-2017"), PolicyTypeName: aws.String("SSLNegotiationPolicyType"),
		PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String("Reference-Security-Policy"), AttributeValue: aws.String("ELBSecurityPolicy-TLS-1-2-2017-01")}}}))
	enfMust[*elb.CreateLBCookieStickinessPolicyOutput](t, "create cookie policy")(classic.CreateLBCookieStickinessPolicy(ctx, &elb.CreateLBCookieStickinessPolicyInput{
		LoadBalancerName: aws.String(name), PolicyName: aws.String("sticky"), CookieExpirationPeriod: aws.Int64(300)}))
	for _, lp := range []struct {
		port int32
		pols []string
	}{{443, []string{"tls-2017"}}, {80, []string{"sticky"}}} {
		enfMust[*elb.SetLoadBalancerPoliciesOfListenerOutput](t, "set listener policies")(classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
			LoadBalancerName: aws.String(name), LoadBalancerPort: lp.port, PolicyNames: lp.pols}))
	}
}
