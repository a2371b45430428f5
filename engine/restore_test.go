package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

func httpsListener(cert string) elbtypes.Listener {
	return elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(cert)}
}

func TestRestoreTagRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		ld        elbtypes.ListenerDescription
		wantKey   string
		wantValue string
	}{
		{"HTTPS with policies", elbtypes.ListenerDescription{Listener: refOf(httpsListener(iamCert)), PolicyNames: []string{"tls-2017", "sticky"}},
			"elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls-2017+sticky"},
		{"HTTP without policies", elbtypes.ListenerDescription{Listener: refOf(listener("HTTP", 80, "HTTP", 8080))},
			"elbguard:restore:80", "v1 HTTP:80 HTTP:8080 cert= pol="},
		{"SSL to TCP with ACM", elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("ssl"), LoadBalancerPort: 8443, InstanceProtocol: aws.String("tcp"), InstancePort: aws.Int32(9000), SSLCertificateId: aws.String(acmCert)}},
			"elbguard:restore:8443", "v1 SSL:8443 TCP:9000 cert=" + acmCert + " pol="},
		{"instance protocol left out", elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("TCP"), LoadBalancerPort: 25, InstancePort: aws.Int32(2525)}},
			"elbguard:restore:25", "v1 TCP:25 TCP:2525 cert= pol="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, v, err := EncodeRestore(tt.ld)
			if err != nil || k != tt.wantKey || v != tt.wantValue {
				t.Fatalf("got %q=%q, %v; want %q=%q", k, v, err, tt.wantKey, tt.wantValue)
			}
			back, err := ParseRestore(k, v)
			if err != nil || !sameListener(*back.Listener, *tt.ld.Listener) || !slices.Equal(back.PolicyNames, tt.ld.PolicyNames) {
				t.Errorf("got %+v %v, %v; want the listener back", back.Listener, back.PolicyNames, err)
			}
		})
	}
}

func TestRestoreTagRejects(t *testing.T) {
	good := "v1 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls"
	tests := []struct{ name, key, value string }{
		{"other key", "elbguard:ports", good},
		{"key port not a number", "elbguard:restore:https", good},
		{"key port differs", "elbguard:restore:444", good},
		{"key port leading zero", "elbguard:restore:0443", good},
		{"version", "elbguard:restore:443", strings.Replace(good, "v1", "v2", 1)},
		{"double space", "elbguard:restore:443", strings.Replace(good, " ", "  ", 1)},
		{"missing field", "elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert=" + iamCert},
		{"extra field", "elbguard:restore:443", good + " x"},
		{"lower-case protocol", "elbguard:restore:443", strings.Replace(good, "HTTPS:443", "https:443", 1)},
		{"unknown protocol", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "UDP:81", 1)},
		{"port zero", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "HTTP:0", 1)},
		{"port too big", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "HTTP:65536", 1)},
		{"layers differ", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "TCP:81", 1)},
		{"HTTPS without certificate", "elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert= pol="},
		{"HTTP with certificate", "elbguard:restore:80", "v1 HTTP:80 HTTP:80 cert=" + iamCert + " pol="},
		{"certificate not an ARN", "elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert=web pol="},
		{"certificate field name", "elbguard:restore:443", strings.Replace(good, "cert=", "crt=", 1)},
		{"empty policy name", "elbguard:restore:443", good + "+"},
		{"policy with a comma", "elbguard:restore:443", good + ",x"},
		{"too long", "elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert=arn:" + strings.Repeat("a", 240) + " pol="},
	}
	for _, tt := range tests {
		if _, err := ParseRestore(tt.key, tt.value); !errors.Is(err, ErrRestoreTag) {
			t.Errorf("%s: ParseRestore(%q, %q) = %v; want ErrRestoreTag", tt.name, tt.key, tt.value, err)
		}
	}
	if _, _, err := EncodeRestore(elbtypes.ListenerDescription{Listener: refOf(listener("HTTP", 80, "HTTP", 80)), PolicyNames: []string{"a b"}}); err == nil {
		t.Error("EncodeRestore with a policy name holding a space: got nil error")
	}
}

func FuzzParseRestore(f *testing.F) {
	f.Add("elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert="+iamCert+" pol=tls-2017+sticky")
	f.Add("elbguard:restore:80", "v1 HTTP:80 HTTP:80 cert= pol=")
	f.Add("elbguard:restore:8443", "v1 SSL:8443 TCP:9000 cert="+acmCert+" pol=")
	f.Add("elbguard:restore:1", "v1 TCP:1 TCP:65535 cert= pol=a+b+c")
	f.Fuzz(func(t *testing.T, key, value string) {
		ld, err := ParseRestore(key, value)
		if err != nil {
			return
		}
		// Whatever parses encodes back to the same key and value.
		k, v, err := EncodeRestore(ld)
		if err != nil || k != key || v != value {
			t.Fatalf("ParseRestore(%q, %q) then EncodeRestore = %q, %q, %v", key, value, k, v, err)
		}
	})
}

// TestDarkPortRestored: the replacement and the rollback of a listener both
// fail, so the port is left without a listener: the run is an error and the
// listener is kept in a tag; the next run restores it exactly, first, and
// removes the tag.
func TestDarkPortRestored(t *testing.T) {
	f := newFake()
	orig := httpsListener(iamCert)
	c := f.addClassic("web", map[string]string{tag: "enforce"}, orig)
	c.desc.ListenerDescriptions[0].PolicyNames = []string{"tls-2017"}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("tls-2017"), PolicyTypeName: aws.String(sslNegotiationType)}}
	e := newEngine(t, f, Config{})
	boom := errors.New("CertificateNotFound: Server Certificate not found")
	f.fail["CreateLoadBalancerListeners"] = boom

	r := reportOf(t, sweep(t, e), "web")
	key := "elbguard:restore:443"
	if r.Status != StatusError || len(c.desc.ListenerDescriptions) != 0 {
		t.Fatalf("got %s with listeners %v; want error and port 443 dark (the fault)", r.Status, c.desc.ListenerDescriptions)
	}
	want := "v1 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls-2017"
	if c.tags[key] != want || !strings.Contains(findingDetail(r, RuleListenerRestore), key) {
		t.Fatalf("got tag %q, findings %+v; want %s=%q reported", c.tags[key], r.Findings, key, want)
	}

	// Still failing: every run tries again first, keeps the tag, and changes nothing else.
	before := f.calls["SetLoadBalancerPoliciesForBackendServer"]
	r = reportOf(t, sweep(t, e), "web")
	if r.Status != StatusError || c.tags[key] != want || f.calls["SetLoadBalancerPoliciesForBackendServer"] != before {
		t.Fatalf("while failing: got %s, tag %q, %v; want error, tag kept, nothing else changed", r.Status, c.tags[key], f.calls)
	}

	delete(f.fail, "CreateLoadBalancerListeners")
	r = reportOf(t, sweep(t, e), "web")
	if r.Status != StatusRolledBack || !strings.Contains(findingDetail(r, RuleListenerRestore), "restored") {
		t.Fatalf("got %s %+v; want rolled_back with the restore reported", r.Status, r.Findings)
	}
	if len(c.desc.ListenerDescriptions) != 1 {
		t.Fatalf("got listeners %v; want the original back", c.desc.ListenerDescriptions)
	}
	ld := c.desc.ListenerDescriptions[0]
	if !sameListener(*ld.Listener, orig) || !slices.Equal(ld.PolicyNames, []string{"tls-2017"}) {
		t.Errorf("got %s; want %s", describeListener(ld), describeListener(elbtypes.ListenerDescription{Listener: &orig, PolicyNames: []string{"tls-2017"}}))
	}
	if _, ok := c.tags[key]; ok {
		t.Errorf("tag %s still there; want it removed", key)
	}
	// And the run after that enforces as usual.
	if r := reportOf(t, sweep(t, e), "web"); r.Status != StatusRemediated {
		t.Errorf("after the restore: got %s %+v; want remediated", r.Status, r.Findings)
	}
}

// TestRestoreTag covers the other restore tag cases.
func TestRestoreTag(t *testing.T) {
	value := "v1 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls-2017"
	tests := []struct {
		name       string
		mode       string
		value      string
		listeners  []elbtypes.Listener
		dryRun     bool
		wantStatus Status
		wantTag    bool   // tag left
		want443    string // listener 443 afterwards
	}{
		{"off: reported, not restored", "off", value, nil, false, StatusError, true, ""},
		{"audit: reported, not restored", "audit", value, nil, false, StatusError, true, ""},
		{"port already has another listener: tag removed, enforced", "enforce", value, []elbtypes.Listener{{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(iamCert)}},
			false, StatusRemediated, false, "SSL->TCP"},
		{"dry run plans", "enforce", value, nil, true, StatusNonCompliant, true, ""},
		{"malformed", "enforce", "v1 HTTPS:443", nil, false, StatusError, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: tt.mode, "elbguard:restore:443": tt.value}, tt.listeners...)
			r := reportOf(t, sweep(t, newEngine(t, f, Config{DryRun: tt.dryRun})), "web")
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s %+v %+v; want %s", r.Status, r.Findings, r.Actions, tt.wantStatus)
			}
			if _, ok := c.tags["elbguard:restore:443"]; ok != tt.wantTag {
				t.Errorf("tag left %v; want %v", ok, tt.wantTag)
			}
			if got := listenerShapes(c)[443]; got != tt.want443 {
				t.Errorf("listener 443: got %q; want %q", got, tt.want443)
			}
			if tt.dryRun && (f.writes() != 0 || len(r.Actions) == 0) {
				t.Errorf("dry run: got %d writes, actions %+v; want 0 writes and planned actions", f.writes(), r.Actions)
			}
			if tt.wantStatus == StatusError && tt.name != "malformed" && (f.writes() != 0 || !strings.Contains(findingDetail(r, RuleListenerRestore), "enforce mode")) {
				t.Errorf("got %d writes, findings %+v; want none and the tag reported", f.writes(), r.Findings)
			}
			if tt.name == "malformed" && !strings.Contains(findingDetail(r, RuleInvalidTag), "elbguard:restore:443") {
				t.Errorf("got findings %+v; want one naming the tag", r.Findings)
			}
		})
	}
}

func refOf[T any](v T) *T { return &v }

// ExampleEncodeRestore shows the restore tag kept for a removed listener.
func ExampleEncodeRestore() {
	key, value, err := EncodeRestore(elbtypes.ListenerDescription{
		Listener: &elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"),
			InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::123456789012:server-certificate/web")},
		PolicyNames: []string{"tls-2017"},
	})
	fmt.Println(key, err)
	fmt.Println(value)
	// Output:
	// elbguard:restore:443 <nil>
	// v1 HTTPS:443 HTTP:81 cert=arn:aws:iam::123456789012:server-certificate/web pol=tls-2017
}
