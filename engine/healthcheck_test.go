package engine

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// TestHealthCheckHitsRedirect: an HTTP(S) health check on the instance port
// that serves the :80 redirect is reported; others are not.
func TestHealthCheckHitsRedirect(t *testing.T) {
	cert := aws.String("arn:aws:iam::1:server-certificate/web")
	seed := []elbtypes.Listener{listener("HTTP", 80, "HTTP", 80),
		{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: cert}}
	converted := []elbtypes.Listener{listener("TCP", 80, "TCP", 80),
		{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81), SSLCertificateId: cert}}
	tests := []struct {
		name      string
		target    string
		listeners []elbtypes.Listener
		want      bool
	}{
		{"HTTP on the redirect port", "HTTP:80/index.html", seed, true},
		{"HTTPS on the redirect port", "HTTPS:80/", seed, true},
		{"after conversion", "HTTP:80/healthz", converted, true},
		{"application port", "HTTP:81/healthz", seed, false},
		{"TCP check on 80", "TCP:80", seed, false},
		{"plain HTTP site", "HTTP:80/", []elbtypes.Listener{listener("HTTP", 80, "HTTP", 80)}, false},
		{"443 to the same instance port", "HTTP:80/", []elbtypes.Listener{listener("HTTP", 80, "HTTP", 80),
			{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80), SSLCertificateId: cert}}, false},
		{"malformed target", "HTTP:eighty/", seed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: "audit"}, tt.listeners...)
			c.desc.HealthCheck = &elbtypes.HealthCheck{Target: aws.String(tt.target)}
			r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
			d := findingDetail(r, RuleHealthCheckRedirect)
			if (d != "") != tt.want {
				t.Fatalf("got finding %q; want one %v", d, tt.want)
			}
			if tt.want && (!strings.Contains(d, tt.target) || !strings.Contains(d, "HTTP:81/") || r.Status != StatusNonCompliant) {
				t.Errorf("got %s, finding %q; want non_compliant naming the target and the application's port", r.Status, d)
			}
		})
	}
	// A load balancer otherwise compliant is not reported compliant.
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, converted...)
	c.desc.HealthCheck = &elbtypes.HealthCheck{Target: aws.String("HTTP:80/")}
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(80), PolicyNames: []string{"pp"}}, {InstancePort: aws.Int32(81), PolicyNames: []string{"pp"}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("pp"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	if r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web"); r.Status != StatusNonCompliant || f.writes() != 0 {
		t.Errorf("got %s with %d writes; want non_compliant and no writes", r.Status, f.writes())
	}
}
