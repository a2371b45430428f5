package engine

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// TestSecureBackend: a listener whose instance protocol is HTTPS or SSL is
// never converted and never gets the proxy policy on its instance port; the
// load balancer is non_compliant with a finding that says what to do.
func TestSecureBackend(t *testing.T) {
	cert := aws.String("arn:aws:iam::1:server-certificate/web")
	tests := []struct {
		name       string
		l          elbtypes.Listener
		wantSecure bool
	}{
		{"HTTPS to HTTPS", elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTPS"), InstancePort: aws.Int32(443), SSLCertificateId: cert}, true},
		{"SSL to SSL", elbtypes.Listener{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("SSL"), InstancePort: aws.Int32(443), SSLCertificateId: cert}, true},
		{"https lower case", elbtypes.Listener{Protocol: aws.String("https"), LoadBalancerPort: 443, InstanceProtocol: aws.String("https"), InstancePort: aws.Int32(443), SSLCertificateId: cert}, true},
		{"HTTPS with the instance protocol left out", elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstancePort: aws.Int32(443), SSLCertificateId: cert}, true},
		{"HTTPS to HTTP", elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: cert}, false},
		{"SSL to TCP", elbtypes.Listener{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81), SSLCertificateId: cert}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80), tt.l)
			r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
			port := aws.ToInt32(tt.l.InstancePort)
			_, proxied := instancePortPolicies(c)[port]
			if !tt.wantSecure {
				if r.Status != StatusRemediated || hasRule(r, RuleSecureBackend) || !proxied {
					t.Fatalf("got %s %+v, instance port %d proxied %v; want remediated", r.Status, r.Findings, port, proxied)
				}
				return
			}
			d := findingDetail(r, RuleSecureBackend)
			if r.Status != StatusNonCompliant || !strings.Contains(d, "TCP:443 -> TCP:443 pass-through") || !strings.Contains(d, "-> HTTP:443") {
				t.Errorf("got %s, finding %q; want non_compliant with what to do instead", r.Status, d)
			}
			if proxied {
				t.Errorf("instance port %d got policies %v; want none", port, instancePortPolicies(c)[port])
			}
			if got := listenerShapes(c)[443]; !strings.EqualFold(got, aws.ToString(tt.l.Protocol)+"->"+aws.ToString(tt.l.InstanceProtocol)) {
				t.Errorf("listener 443: got %s; want it unchanged", got)
			}
			if got := listenerShapes(c)[80]; got != "TCP->TCP" {
				t.Errorf("listener 80: got %s; want TCP->TCP (the rest is still enforced)", got)
			}
			// Audit says the same without writing.
			f2 := newFake()
			f2.addClassic("web", map[string]string{tag: "audit"}, tt.l)
			if r := reportOf(t, sweep(t, newEngine(t, f2, Config{})), "web"); r.Status != StatusNonCompliant || !hasRule(r, RuleSecureBackend) || len(r.Actions) != 0 {
				t.Errorf("audit: got %s %+v %+v; want non_compliant, the finding, no actions", r.Status, r.Findings, r.Actions)
			}
		})
	}
}
