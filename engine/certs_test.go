package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

const (
	iamCert = "arn:aws:iam::123456789012:server-certificate/prod/web-2026"
	acmCert = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-0000-4000-8000-000000000001"
)

// TestCertificateGate: an HTTPS listener is deleted only when its
// certificate is known to exist; otherwise it is left serving and reported.
func TestCertificateGate(t *testing.T) {
	tests := []struct {
		name       string
		cert       string
		certs      *fakeCerts // nil: no WithCertificates
		mode       string
		dryRun     bool
		wantStatus Status
		wantRule   string
		wantCalls  int
	}{
		{"IAM exists", iamCert, &fakeCerts{}, "enforce", false, StatusRemediated, "", 1},
		{"IAM deleted", iamCert, &fakeCerts{missing: map[string]bool{"web-2026": true}}, "enforce", false, StatusNonCompliant, RuleCertificateMissing, 1},
		{"ACM issued", acmCert, &fakeCerts{}, "enforce", false, StatusRemediated, "", 1},
		{"ACM deleted", acmCert, &fakeCerts{missing: map[string]bool{acmCert: true}}, "enforce", false, StatusNonCompliant, RuleCertificateMissing, 1},
		{"ACM expired", acmCert, &fakeCerts{status: map[string]acmtypes.CertificateStatus{acmCert: acmtypes.CertificateStatusExpired}}, "enforce", false, StatusNonCompliant, RuleCertificateMissing, 1},
		{"read fails", iamCert, &fakeCerts{fail: errors.New("AccessDenied: iam:GetServerCertificate")}, "enforce", false, StatusError, RuleAPIError, 1},
		{"no certificate clients", iamCert, nil, "enforce", false, StatusNonCompliant, RuleCertificateUnverified, 0},
		{"not an ARN", "web-cert", &fakeCerts{}, "enforce", false, StatusNonCompliant, RuleCertificateUnverified, 0},
		{"audit reads nothing", iamCert, &fakeCerts{missing: map[string]bool{"web-2026": true}}, "audit", false, StatusNonCompliant, "", 0},
		{"dry run checks as the real run", iamCert, &fakeCerts{missing: map[string]bool{"web-2026": true}}, "enforce", true, StatusNonCompliant, RuleCertificateMissing, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: tt.mode}, listener("HTTP", 80, "HTTP", 80),
				elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(tt.cert)})
			var opts []Option
			if tt.certs != nil {
				opts = append(opts, WithCertificates(tt.certs, tt.certs))
			}
			e, err := New(f, fakeV2{f}, Config{DryRun: tt.dryRun}, nil, append(opts, WithInstances(fakeEC2{f}))...)
			if err != nil {
				t.Fatal(err)
			}
			r := reportOf(t, sweep(t, e), "web")
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s %+v; want %s", r.Status, r.Findings, tt.wantStatus)
			}
			if tt.wantRule != "" && !strings.Contains(findingDetail(r, tt.wantRule), "443") {
				t.Errorf("got findings %+v; want %s about listener 443", r.Findings, tt.wantRule)
			}
			if tt.certs != nil && tt.certs.calls != tt.wantCalls {
				t.Errorf("got %d certificate reads; want %d", tt.certs.calls, tt.wantCalls)
			}
			if tt.wantStatus != StatusRemediated && tt.mode == "enforce" {
				if got := listenerShapes(c)[443]; got != "HTTPS->HTTP" {
					t.Errorf("listener 443: got %s; want left HTTPS->HTTP", got)
				}
				if f.calls["DeleteLoadBalancerListeners"] > 1 {
					t.Errorf("got %d listener deletes; want only listener 80's", f.calls["DeleteLoadBalancerListeners"])
				}
			}
		})
	}
}

// TestCompliantNeedsNoCertificateRead: a compliant SSL listener costs no
// certificate read.
func TestCompliantNeedsNoCertificateRead(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"},
		elbtypes.Listener{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(iamCert)})
	c.desc.BackendServerDescriptions = []elbtypes.BackendServerDescription{{InstancePort: aws.Int32(81), PolicyNames: []string{"pp"}}}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("pp"), PolicyTypeName: aws.String(proxyPolicyType), PolicyAttributeDescriptions: []elbtypes.PolicyAttributeDescription{{AttributeName: aws.String(proxyAttribute), AttributeValue: aws.String("true")}}}}
	certs := &fakeCerts{}
	e, err := New(f, fakeV2{f}, Config{}, nil, WithCertificates(certs, certs), WithInstances(fakeEC2{f}))
	if err != nil {
		t.Fatal(err)
	}
	if r := reportOf(t, sweep(t, e), "web"); r.Status != StatusCompliant || certs.calls != 0 || f.reads() > 5 {
		t.Errorf("got %s with %d certificate reads, %d reads; want compliant, 0, at most 5 (the readiness gate's instance tags)", r.Status, certs.calls, f.reads())
	}
}
