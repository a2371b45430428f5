package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

func httpsListener(cert string) elbtypes.Listener {
	return elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(cert)}
}

// written is the time of the records of these tests.
var written = time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)

const testMAC = "AAECAwQFBgcICQoLDA0ODw" // 16 bytes, base64url

func TestRestoreTagRoundTrip(t *testing.T) {
	at := " t=" + strconv.FormatInt(written.Unix(), 10)
	tests := []struct {
		name      string
		ld        elbtypes.ListenerDescription
		mac       string
		wantKey   string
		wantValue string
	}{
		{"HTTPS with policies", elbtypes.ListenerDescription{Listener: refOf(httpsListener(iamCert)), PolicyNames: []string{"tls-2017", "sticky"}}, testMAC,
			"elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls-2017+sticky" + at + " mac=" + testMAC},
		{"HTTP without policies", elbtypes.ListenerDescription{Listener: refOf(listener("HTTP", 80, "HTTP", 8080))}, testMAC,
			"elbguard:restore:80", "v2 HTTP:80 HTTP:8080 cert= pol=" + at + " mac=" + testMAC},
		{"SSL to TCP with ACM", elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("ssl"), LoadBalancerPort: 8443, InstanceProtocol: aws.String("tcp"), InstancePort: aws.Int32(9000), SSLCertificateId: aws.String(acmCert)}}, testMAC,
			"elbguard:restore:8443", "v2 SSL:8443 TCP:9000 cert=" + acmCert + " pol=" + at + " mac=" + testMAC},
		{"instance protocol left out, unsigned", elbtypes.ListenerDescription{Listener: &elbtypes.Listener{Protocol: aws.String("TCP"), LoadBalancerPort: 25, InstancePort: aws.Int32(2525)}}, "",
			"elbguard:restore:25", "v2 TCP:25 TCP:2525 cert= pol=" + at + " mac="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, v, err := EncodeRestore(RestoreRecord{Listener: tt.ld, Written: written, MAC: tt.mac})
			if err != nil || k != tt.wantKey || v != tt.wantValue {
				t.Fatalf("got %q=%q, %v; want %q=%q", k, v, err, tt.wantKey, tt.wantValue)
			}
			back, err := ParseRestore(k, v)
			if err != nil || !sameListener(*back.Listener.Listener, *tt.ld.Listener) || !slices.Equal(back.Listener.PolicyNames, tt.ld.PolicyNames) ||
				!back.Written.Equal(written) || back.MAC != tt.mac {
				t.Errorf("got %+v %v, %v; want the record back", back.Listener.Listener, back, err)
			}
		})
	}
}

func TestRestoreTagRejects(t *testing.T) {
	at := " t=" + strconv.FormatInt(written.Unix(), 10)
	good := "v2 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls" + at + " mac=" + testMAC
	tests := []struct{ name, key, value string }{
		{"other key", "elbguard:ports", good},
		{"key port not a number", "elbguard:restore:https", good},
		{"key port differs", "elbguard:restore:444", good},
		{"key port leading zero", "elbguard:restore:0443", good},
		{"version 1 (unsigned, before the MAC)", "elbguard:restore:443", "v1 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls"},
		{"version 3", "elbguard:restore:443", strings.Replace(good, "v2", "v3", 1)},
		{"double space", "elbguard:restore:443", strings.Replace(good, " ", "  ", 1)},
		{"missing field", "elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls" + at},
		{"extra field", "elbguard:restore:443", good + " x"},
		{"lower-case protocol", "elbguard:restore:443", strings.Replace(good, "HTTPS:443", "https:443", 1)},
		{"unknown protocol", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "UDP:81", 1)},
		{"port zero", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "HTTP:0", 1)},
		{"port too big", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "HTTP:65536", 1)},
		{"layers differ", "elbguard:restore:443", strings.Replace(good, "HTTP:81", "TCP:81", 1)},
		{"HTTPS without certificate", "elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert= pol=" + at + " mac="},
		{"HTTP with certificate", "elbguard:restore:80", "v2 HTTP:80 HTTP:80 cert=" + iamCert + " pol=" + at + " mac="},
		{"certificate not an ARN", "elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert=web pol=" + at + " mac="},
		{"certificate field name", "elbguard:restore:443", strings.Replace(good, "cert=", "crt=", 1)},
		{"empty policy name", "elbguard:restore:443", strings.Replace(good, "pol=tls", "pol=tls+", 1)},
		{"policy with a comma", "elbguard:restore:443", strings.Replace(good, "pol=tls", "pol=tls,x", 1)},
		{"time missing", "elbguard:restore:443", strings.Replace(good, at, " t=", 1)},
		{"time not canonical", "elbguard:restore:443", strings.Replace(good, " t=", " t=0", 1)},
		{"time negative", "elbguard:restore:443", strings.Replace(good, " t=", " t=-", 1)},
		{"MAC too short", "elbguard:restore:443", strings.TrimSuffix(good, "w")},
		{"MAC too long", "elbguard:restore:443", good + "AA"},
		{"MAC not base64url", "elbguard:restore:443", strings.Replace(good, testMAC, strings.Repeat("+", 22), 1)},
		{"MAC not canonical", "elbguard:restore:443", strings.Replace(good, testMAC, testMAC[:21]+"x", 1)},
		{"too long", "elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert=arn:" + strings.Repeat("a", 240) + " pol=" + at + " mac="},
	}
	for _, tt := range tests {
		if _, err := ParseRestore(tt.key, tt.value); !errors.Is(err, ErrRestoreTag) {
			t.Errorf("%s: ParseRestore(%q, %q) = %v; want ErrRestoreTag", tt.name, tt.key, tt.value, err)
		}
	}
	if _, _, err := EncodeRestore(RestoreRecord{Listener: elbtypes.ListenerDescription{Listener: refOf(listener("HTTP", 80, "HTTP", 80)), PolicyNames: []string{"a b"}}, Written: written}); err == nil {
		t.Error("EncodeRestore with a policy name holding a space: got nil error")
	}
}

func FuzzParseRestore(f *testing.F) {
	at := " t=" + strconv.FormatInt(written.Unix(), 10)
	f.Add("elbguard:restore:443", "v2 HTTPS:443 HTTP:81 cert="+iamCert+" pol=tls-2017+sticky"+at+" mac="+testMAC)
	f.Add("elbguard:restore:80", "v2 HTTP:80 HTTP:80 cert= pol="+at+" mac=")
	f.Add("elbguard:restore:8443", "v2 SSL:8443 TCP:9000 cert="+acmCert+" pol="+at+" mac="+testMAC)
	f.Add("elbguard:restore:1", "v2 TCP:1 TCP:65535 cert= pol=a+b+c t=1 mac="+testMAC)
	f.Add("elbguard:restore:22", "v1 TCP:22 TCP:22 cert= pol=")
	key := &restoreKey{key: testRestoreKey, account: testAccount, region: testRegion}
	lb := &elbtypes.LoadBalancerDescription{LoadBalancerName: aws.String("web"), CreatedTime: aws.Time(written)}
	f.Fuzz(func(t *testing.T, tagKey, value string) {
		rec, err := ParseRestore(tagKey, value)
		if err != nil {
			return
		}
		// Whatever parses encodes back to the same key and value.
		k, v, err := EncodeRestore(rec)
		if err != nil || k != tagKey || v != value {
			t.Fatalf("ParseRestore(%q, %q) then EncodeRestore = %q, %q, %v", tagKey, value, k, v, err)
		}
		// And no record verifies but the one the key signs: a forger
		// without the key cannot make one.
		body, err := restoreBody(rec)
		if err != nil {
			t.Fatalf("restoreBody of a parsed record: %v", err)
		}
		if key.verify(lb, tagKey, rec) != (rec.MAC == key.sign(lb, tagKey, body)) {
			t.Fatalf("verify(%q) disagrees with the signature", value)
		}
	})
}

// FuzzRestoreTamper: a signed record changed in any one byte (listener,
// policies, time or MAC) no longer verifies.
func FuzzRestoreTamper(f *testing.F) {
	f.Add(uint(4), byte('S'))
	f.Add(uint(10), byte('2'))
	f.Add(uint(200), byte('A'))
	key := &restoreKey{key: testRestoreKey, account: testAccount, region: testRegion}
	lb := &elbtypes.LoadBalancerDescription{LoadBalancerName: aws.String("web"), CreatedTime: aws.Time(written)}
	orig := elbtypes.ListenerDescription{Listener: refOf(httpsListener(iamCert)), PolicyNames: []string{"tls-2017"}}
	rec := RestoreRecord{Listener: orig, Written: written}
	body, _ := restoreBody(rec)
	rec.MAC = key.sign(lb, "elbguard:restore:443", body)
	tagKey, value, err := EncodeRestore(rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pos uint, b byte) {
		v := []byte(value)
		v[pos%uint(len(v))] = b
		if string(v) == value {
			return
		}
		got, err := ParseRestore(tagKey, string(v))
		if err == nil && key.verify(lb, tagKey, got) {
			t.Fatalf("tampered record %q verifies", v)
		}
	})
}

// clockAt is a settable clock for the engine (WithClock).
type clockAt struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clockAt) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clockAt) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// TestDarkPortRestored: the replacement and the rollback of a listener both
// fail, so the port is left without a listener: the run is an error and the
// listener is kept in a signed record; once the swap's window has passed,
// the next run restores it exactly, first, and removes the tag.
func TestDarkPortRestored(t *testing.T) {
	f := newFake()
	orig := httpsListener(iamCert)
	c := f.addClassic("web", map[string]string{tag: "enforce"}, orig)
	c.desc.CreatedTime = aws.Time(written.Add(-time.Hour))
	c.desc.ListenerDescriptions[0].PolicyNames = []string{"tls-2017"}
	c.policies = []elbtypes.PolicyDescription{{PolicyName: aws.String("tls-2017"), PolicyTypeName: aws.String(sslNegotiationType)}}
	clock := &clockAt{now: written}
	e := newEngine(t, f, Config{}, WithClock(clock.Now))
	boom := errors.New("CertificateNotFound: Server Certificate not found")
	f.fail["CreateLoadBalancerListeners"] = boom

	r := reportOf(t, sweep(t, e), "web")
	key := "elbguard:restore:443"
	if r.Status != StatusError || len(c.desc.ListenerDescriptions) != 0 {
		t.Fatalf("got %s with listeners %v; want error and port 443 dark (the fault)", r.Status, c.desc.ListenerDescriptions)
	}
	wantPrefix := "v2 HTTPS:443 HTTP:81 cert=" + iamCert + " pol=tls-2017 t=" + strconv.FormatInt(written.Unix(), 10) + " mac="
	if !strings.HasPrefix(c.tags[key], wantPrefix) || len(c.tags[key]) != len(wantPrefix)+22 || !strings.Contains(findingDetail(r, RuleListenerRestore), key) {
		t.Fatalf("got tag %q, findings %+v; want %s=%q and a MAC, reported", c.tags[key], r.Findings, key, wantPrefix)
	}

	// Within the swap's window a run leaves it to the swap (it may be alive).
	clock.Add(10 * time.Second)
	if r := reportOf(t, sweep(t, e), "web"); r.Status != StatusDeferred || !hasRule(r, RuleConcurrentChange) {
		t.Fatalf("within the window: got %s %+v; want deferred", r.Status, r.Findings)
	}

	// Still failing: every run tries again first, keeps the tag, and changes nothing else.
	clock.Add(time.Hour)
	before := f.calls["SetLoadBalancerPoliciesForBackendServer"]
	tagBefore := c.tags[key]
	r = reportOf(t, sweep(t, e), "web")
	if r.Status != StatusError || c.tags[key] != tagBefore || f.calls["SetLoadBalancerPoliciesForBackendServer"] != before {
		t.Fatalf("while failing: got %s, tag %q, %v; want error, tag kept, nothing else changed", r.Status, c.tags[key], f.calls)
	}

	delete(f.fail, "CreateLoadBalancerListeners")
	clock.Add(time.Hour)
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

// signedRecord is the record elbguard's engine (with the test key) writes
// for orig on the Classic load balancer c at a time.
func signedRecord(t *testing.T, c *fakeClassic, orig elbtypes.ListenerDescription, at time.Time) (string, string) {
	t.Helper()
	e, err := New(newFake(), fakeV2{newFake()}, Config{}, nil, WithRestoreKey(testRestoreKey, testAccount, testRegion), WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	k, v, err := e.record(&c.desc, orig)
	if err != nil {
		t.Fatal(err)
	}
	return k, v
}

// TestRestoreRecordForged: a tag someone else wrote never makes elbguard
// create a listener or change one's policies (the attack: TCP:2222 ->
// TCP:22 exposes the instances' SSH port). Each is error with finding
// restore_record_invalid; nothing is written; the tag stays.
func TestRestoreRecordForged(t *testing.T) {
	now := written.Add(time.Hour)
	ssh := elbtypes.ListenerDescription{Listener: refOf(listener("TCP", 2222, "TCP", 22))}
	created := written.Add(-24 * time.Hour)
	at := " t=" + strconv.FormatInt(written.Unix(), 10)
	// other is a load balancer the attacker can read (or a deleted one of the same name).
	signedFor := func(name string, createdAt time.Time, account string, key []byte) string {
		o := &fakeClassic{desc: elbtypes.LoadBalancerDescription{LoadBalancerName: aws.String(name), CreatedTime: aws.Time(createdAt)}}
		e, err := New(newFake(), fakeV2{newFake()}, Config{}, nil, WithRestoreKey(key, account, testRegion), WithClock(func() time.Time { return written }))
		if err != nil {
			t.Fatal(err)
		}
		_, v, err := e.record(&o.desc, ssh)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, value string
		listeners   []elbtypes.Listener
	}{
		{"the issue's hand-written v1 tag", "v1 TCP:2222 TCP:22 cert= pol=", nil},
		{"unsigned v2", "v2 TCP:2222 TCP:22 cert= pol=" + at + " mac=", nil},
		{"made-up MAC", "v2 TCP:2222 TCP:22 cert= pol=" + at + " mac=" + testMAC, nil},
		{"copied from another load balancer", signedFor("other", created, testAccount, testRestoreKey), nil},
		{"copied from a deleted load balancer of the same name", signedFor("web", created.Add(-time.Hour), testAccount, testRestoreKey), nil},
		{"copied from another account", signedFor("web", created, "210987654321", testRestoreKey), nil},
		{"signed with another key", signedFor("web", created, testAccount, []byte("another key of thirty-two bytes!")), nil},
		{"policies of an existing listener", "v2 TCP:2222 TCP:22 cert= pol=weak" + at + " mac=" + testMAC, []elbtypes.Listener{listener("TCP", 2222, "TCP", 22)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", map[string]string{tag: "enforce", "elbguard:restore:2222": tt.value}, tt.listeners...)
			c.desc.CreatedTime = aws.Time(created)
			r := reportOf(t, sweep(t, newEngine(t, f, Config{}, WithClock(func() time.Time { return now }))), "web")
			if r.Status != StatusError || !hasRule(r, RuleRestoreRecordInvalid) {
				t.Fatalf("got %s %+v; want error with %s", r.Status, r.Findings, RuleRestoreRecordInvalid)
			}
			if f.writes() != 0 || c.tags["elbguard:restore:2222"] != tt.value {
				t.Errorf("got %d writes %v, tag %q; want none and the tag left for a person", f.writes(), f.calls, c.tags["elbguard:restore:2222"])
			}
		})
	}
	// The control: the same record signed for this load balancer is restored.
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"})
	c.desc.CreatedTime = aws.Time(created)
	c.tags["elbguard:restore:2222"] = signedFor("web", created, testAccount, testRestoreKey)
	if r := reportOf(t, sweep(t, newEngine(t, f, Config{}, WithClock(func() time.Time { return now }))), "web"); r.Status != StatusRolledBack || listenerShapes(c)[2222] == "" {
		t.Fatalf("signed record: got %s %+v; want rolled_back and listener 2222 back", r.Status, r.Findings)
	}
}

// TestRestoreTag covers the other restore record cases: a signed record is
// acted on only where the tags allow a change.
func TestRestoreTag(t *testing.T) {
	now := written.Add(time.Hour)
	orig := elbtypes.ListenerDescription{Listener: refOf(httpsListener(iamCert)), PolicyNames: []string{"tls-2017"}}
	tests := []struct {
		name       string
		tags       map[string]string
		value      string // "": the signed record of orig written at written
		at         time.Time
		listeners  []elbtypes.Listener
		dryRun     bool
		noKey      bool
		wantStatus Status
		wantTag    bool   // tag left
		want443    string // listener 443 afterwards
		wantRule   string
		wantDetail string
	}{
		{name: "enforce: restored", tags: map[string]string{tag: "enforce"}, wantStatus: StatusRolledBack, want443: "HTTPS->HTTP", wantRule: RuleListenerRestore, wantDetail: "restored"},
		{name: "off: reported, not restored", tags: map[string]string{tag: "off"}, wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "enforce mode"},
		{name: "audit: reported, not restored", tags: map[string]string{tag: "audit"}, wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "enforce mode"},
		{name: "exempt: reported, not restored", tags: map[string]string{tag: "enforce", TagExemptUntil: "2027-06-30", TagExemptReason: "migration"},
			wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "exempt"},
		{name: "CloudFormation-owned: reported, not restored", tags: map[string]string{tag: "enforce", "aws:cloudformation:stack-name": "web"},
			wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "infrastructure as code"},
		{name: "port outside elbguard:ports: reported, not restored", tags: map[string]string{tag: "enforce", TagPorts: "80"},
			wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "outside elbguard:ports"},
		{name: "unknown elbguard tag: reported, not restored", tags: map[string]string{tag: "enforce", "elbguard:prots": "80"},
			wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "invalid"},
		{name: "no key (a person's CLI): reported, not restored", tags: map[string]string{tag: "enforce"}, noKey: true,
			wantStatus: StatusError, wantTag: true, wantRule: RuleListenerRestore, wantDetail: "cannot verify"},
		{name: "written within the swap window: deferred", tags: map[string]string{tag: "enforce"}, at: now.Add(-30 * time.Second),
			wantStatus: StatusDeferred, wantTag: true, wantRule: RuleConcurrentChange, wantDetail: "under way"},
		{name: "older than RestoreMaxAge: invalid", tags: map[string]string{tag: "enforce"}, at: now.Add(-RestoreMaxAge - time.Hour),
			wantStatus: StatusError, wantTag: true, wantRule: RuleRestoreRecordInvalid, wantDetail: "ago"},
		{name: "port already has another listener: tag removed, enforced", tags: map[string]string{tag: "enforce"},
			listeners:  []elbtypes.Listener{{Protocol: aws.String("SSL"), LoadBalancerPort: 443, InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(iamCert)}},
			wantStatus: StatusRemediated, want443: "SSL->TCP"},
		{name: "dry run plans", tags: map[string]string{tag: "enforce"}, dryRun: true, wantStatus: StatusNonCompliant, wantTag: true},
		{name: "malformed", tags: map[string]string{tag: "enforce"}, value: "v2 HTTPS:443", wantStatus: StatusError, wantTag: true,
			wantRule: RuleRestoreRecordInvalid, wantDetail: "elbguard:restore:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := f.addClassic("web", tt.tags, tt.listeners...)
			c.desc.CreatedTime = aws.Time(written.Add(-time.Hour))
			at := tt.at
			if at.IsZero() {
				at = written
			}
			k, v := signedRecord(t, c, orig, at)
			if tt.value != "" {
				v = tt.value
			}
			c.tags[k] = v
			opts := []Option{allCerts(), WithClock(func() time.Time { return now }), WithInstances(fakeEC2{f})}
			if !tt.noKey {
				opts = append(opts, WithRestoreKey(testRestoreKey, testAccount, testRegion))
			}
			e, err := New(f, fakeV2{f}, Config{DryRun: tt.dryRun}, nil, opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := reportOf(t, sweep(t, e), "web")
			if r.Status != tt.wantStatus {
				t.Fatalf("got %s %+v %+v; want %s", r.Status, r.Findings, r.Actions, tt.wantStatus)
			}
			if _, ok := c.tags[k]; ok != tt.wantTag {
				t.Errorf("tag left %v; want %v", ok, tt.wantTag)
			}
			if got := listenerShapes(c)[443]; got != tt.want443 {
				t.Errorf("listener 443: got %q; want %q", got, tt.want443)
			}
			if tt.dryRun && (f.writes() != 0 || len(r.Actions) == 0) {
				t.Errorf("dry run: got %d writes, actions %+v; want 0 writes and planned actions", f.writes(), r.Actions)
			}
			if tt.wantTag && f.writes() != 0 {
				t.Errorf("got %d writes %v; want none", f.writes(), f.calls)
			}
			if tt.wantRule != "" && !strings.Contains(findingDetail(r, tt.wantRule), tt.wantDetail) {
				t.Errorf("got findings %+v; want %s saying %q", r.Findings, tt.wantRule, tt.wantDetail)
			}
		})
	}
}

// TestWriteAhead: the record is on the load balancer before its listener is
// deleted, and gone once the replacement serves; a process killed right
// after the delete leaves a record that a later run restores.
func TestWriteAhead(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	c.desc.CreatedTime = aws.Time(written.Add(-time.Hour))
	clock := &clockAt{now: written}
	var order []string
	var killed map[string]string // the tags when the listener was deleted
	f.onCall = func(action string) {
		if action == "AddTags" || action == "RemoveTags" || action == "DeleteLoadBalancerListeners" || action == "CreateLoadBalancerListeners" {
			order = append(order, action)
		}
		if action == "DeleteLoadBalancerListeners" {
			killed = maps.Clone(c.tags)
		}
	}
	e := newEngine(t, f, Config{}, WithClock(clock.Now))
	if r := reportOf(t, sweep(t, e), "web"); r.Status != StatusRemediated {
		t.Fatalf("got %s %+v; want remediated", r.Status, r.Findings)
	}
	if want := []string{"AddTags", "DeleteLoadBalancerListeners", "CreateLoadBalancerListeners", "RemoveTags"}; !slices.Equal(order, want) {
		t.Errorf("got calls %v; want %v", order, want)
	}
	if _, ok := c.tags["elbguard:restore:80"]; ok {
		t.Errorf("record left after a swap that succeeded: %v", c.tags)
	}
	if !strings.HasPrefix(killed["elbguard:restore:80"], "v2 HTTP:80 HTTP:80 cert= pol= t=") {
		t.Fatalf("tags at the delete: %v; want the record written ahead", killed)
	}

	// The state a process killed after the delete leaves: port 80 dark, the record there.
	f2 := newFake()
	c2 := f2.addClassic("web", killed)
	c2.desc.CreatedTime = c.desc.CreatedTime
	clock.Add(2 * restoreInFlight)
	e2 := newEngine(t, f2, Config{}, WithClock(clock.Now))
	if r := reportOf(t, sweep(t, e2), "web"); r.Status != StatusRolledBack || listenerShapes(c2)[80] != "HTTP->HTTP" {
		t.Fatalf("after the kill: got %s %+v, listener 80 %q; want rolled_back and HTTP:80 back", r.Status, r.Findings, listenerShapes(c2)[80])
	}
	if _, ok := c2.tags["elbguard:restore:80"]; ok {
		t.Errorf("record left after the restore")
	}
}

// TestWriteAheadFails: when the record cannot be written, the listener is
// not deleted.
func TestWriteAheadFails(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	f.fail["AddTags"] = errors.New("AccessDenied: not authorized to perform elasticloadbalancing:AddTags")
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
	if r.Status != StatusError || f.calls["DeleteLoadBalancerListeners"] != 0 || listenerShapes(c)[80] != "HTTP->HTTP" {
		t.Fatalf("got %s %+v, %v; want error, no delete, HTTP:80 serving", r.Status, r.Findings, f.calls)
	}
	if !strings.Contains(findingDetail(r, RuleListenerRestore), "could not be written first") {
		t.Errorf("got findings %+v; want the write-ahead failure named", r.Findings)
	}
}

func refOf[T any](v T) *T { return &v }

// ExampleEncodeRestore shows the restore tag kept for a removed listener
// (the MAC is made up here; the engine signs with its restore key).
func ExampleEncodeRestore() {
	key, value, err := EncodeRestore(RestoreRecord{
		Listener: elbtypes.ListenerDescription{
			Listener: &elbtypes.Listener{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"),
				InstancePort: aws.Int32(81), SSLCertificateId: aws.String("arn:aws:iam::123456789012:server-certificate/web")},
			PolicyNames: []string{"tls-2017"},
		},
		Written: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC),
		MAC:     "AAECAwQFBgcICQoLDA0ODw",
	})
	fmt.Println(key, err)
	fmt.Println(value)
	// Output:
	// elbguard:restore:443 <nil>
	// v2 HTTPS:443 HTTP:81 cert=arn:aws:iam::123456789012:server-certificate/web pol=tls-2017 t=1796659200 mac=AAECAwQFBgcICQoLDA0ODw
}

// TestWriteAheadDeleteFails: a delete that fails leaves the listener (the
// fake does not delete), so the record written ahead is removed and the next
// run is not held by it.
func TestWriteAheadDeleteFails(t *testing.T) {
	f := newFake()
	c := f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	f.fail["DeleteLoadBalancerListeners"] = errors.New("InternalFailure")
	r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web")
	if r.Status != StatusError || listenerShapes(c)[80] != "HTTP->HTTP" {
		t.Fatalf("got %s, listener %q; want error and HTTP:80 serving", r.Status, listenerShapes(c)[80])
	}
	if _, ok := c.tags["elbguard:restore:80"]; ok {
		t.Errorf("record left although the port still serves: %v", c.tags)
	}
	delete(f.fail, "DeleteLoadBalancerListeners")
	if r := reportOf(t, sweep(t, newEngine(t, f, Config{})), "web"); r.Status != StatusRemediated {
		t.Errorf("next run: got %s %+v; want remediated", r.Status, r.Findings)
	}
}
