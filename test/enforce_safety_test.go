//go:build integration

package test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/faultproxy"
)

// TestEnforceSafety runs the Classic safety rules end to end: moto behind
// the fault proxy, the SDK clients and handlers the Lambdas build.
func TestEnforceSafety(t *testing.T) {
	r := newFaultRig(t)
	t.Run("DarkPortRestored", func(t *testing.T) { safetyDarkPort(t, r) })
	t.Run("ForgedRestoreRecord", func(t *testing.T) { safetyForgedRecord(t, r) })
	t.Run("CertificateDeleted", func(t *testing.T) { safetyCertificateDeleted(t, r) })
	t.Run("SecureBackend", func(t *testing.T) { safetySecureBackend(t, r) })
	t.Run("IaC", func(t *testing.T) { safetyIaC(t, r) })
}

// lbTagsOf reads a Classic ELB's tags straight from moto.
func (r *faultRig) lbTagsOf(t *testing.T, name string) map[string]string {
	t.Helper()
	out := enfMust[*elb.DescribeTagsOutput](t, "describe tags")(r.classic.DescribeTags(enfCtxT(t), &elb.DescribeTagsInput{LoadBalancerNames: []string{name}}))
	m := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, tg := range d.Tags {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}
	return m
}

func safetyReport(t *testing.T, out *fleet.Outcome, name string) engine.Report {
	t.Helper()
	if out == nil || out.Result == nil {
		t.Fatalf("no result: %+v", out)
	}
	for _, rep := range out.Result.Reports {
		if rep.Name == name {
			return rep
		}
	}
	t.Fatalf("no report for %s in %+v", name, out.Result.Reports)
	return engine.Report{}
}

func safetyFinding(rep engine.Report, rule string) string {
	for _, f := range rep.Findings {
		if f.Rule == rule {
			return f.Detail
		}
	}
	return ""
}

// safetyDarkPort: the certificate disappears between elbguard's check and
// the swap, so the SSL replacement and the HTTPS rollback of listener 443
// both fail (CertificateNotFound): the port is left without a listener. The
// run is an error and keeps the listener in a tag on the load balancer; the
// next sweep restores it exactly, first, and removes the tag; the run after
// that converges.
func safetyDarkPort(t *testing.T, r *faultRig) {
	ft := r.target(t, false, "enforce")
	r.proxy.Intercept("CreateLoadBalancerListeners", func(w http.ResponseWriter, req *http.Request, form url.Values, forward http.Handler) {
		if form.Get("LoadBalancerName") == ft.name && form.Get("Listeners.member.1.LoadBalancerPort") == "443" {
			faultproxy.WriteError(w, http.StatusBadRequest, "Sender", "CertificateNotFound", "Server Certificate not found for the key: "+r.cert)
			return
		}
		forward.ServeHTTP(w, req)
	})
	key := restoreKeyOf(t, r)
	c := r.clients()
	signed, err := key.ForClients(enfCtxT(t), c)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := fleet.NewEngine(c, engine.Config{}, nil, signed...)
	if err != nil {
		t.Fatal(err)
	}
	h := &fleet.Enforcer{Engine: eng, SelfARN: enfSampleSelf}
	rep, _ := r.run(t, h, ft)
	mid := r.state(t, ft)
	if rep.Status != engine.StatusError || mid["listener:443"] != "" {
		t.Fatalf("faulty run: got %s, listener 443 %q (%+v); want error and port 443 without its listener", rep.Status, mid["listener:443"], rep.Findings)
	}
	tagKey := "elbguard:restore:443"
	want := "v2 HTTPS:443 HTTP:81 cert=" + r.cert + " pol=tls-2017 t="
	got := r.lbTagsOf(t, ft.name)[tagKey]
	if _, mac, _ := strings.Cut(got, " mac="); !strings.HasPrefix(got, want) || len(mac) != 22 {
		t.Fatalf("tag %s = %q; want %q..., signed (findings %+v)", tagKey, got, want, rep.Findings)
	}
	if d := safetyFinding(rep, engine.RuleListenerRestore); !strings.Contains(d, tagKey) {
		t.Errorf("got finding %q; want the restore tag reported", d)
	}

	r.proxy.Reset()
	r.emulateAWS()
	// The next sweep, after the swap's window (a swap may be under way
	// within it), with the key read from Secrets Manager as the Lambdas do.
	later := engine.WithClock(func() time.Time { return time.Now().Add(5 * time.Minute) })
	eng, err = fleet.NewEngine(c, engine.Config{}, nil, append(signed, later)...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := (&fleet.Sweeper{Engine: eng}).Handle(r.lambdaCtx(t), nil)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	rep = safetyReport(t, out, ft.name)
	after := r.state(t, ft)
	if rep.Status != engine.StatusRolledBack || after["listener:443"] != ft.old["listener:443"] {
		t.Fatalf("sweep: got %s, listener 443 %q (%+v); want rolled_back and the original %q", rep.Status, after["listener:443"], rep.Findings, ft.old["listener:443"])
	}
	if _, ok := r.lbTagsOf(t, ft.name)[tagKey]; ok {
		t.Errorf("tag %s still on %s after the restore", tagKey, ft.name)
	}
	// The restore is the whole of that run: nothing else was changed.
	for _, a := range rep.Actions {
		if a.API != "CreateLoadBalancerListeners" && a.API != "SetLoadBalancerPoliciesOfListener" && a.API != "RemoveTags" {
			t.Errorf("sweep action %+v; want only the restore", a)
		}
	}
	r.settleRound(t, ft, newTally("dark port restored"))
}

// restoreKeyOf puts a restore key in moto's Secrets Manager and reads it
// back the way the Lambdas do (ELBGUARD_RESTORE_KEY_SECRET).
func restoreKeyOf(t *testing.T, r *faultRig) *fleet.RestoreKey {
	t.Helper()
	r.seq++
	sm := secretsmanager.NewFromConfig(r.cfg)
	out := enfMust[*secretsmanager.CreateSecretOutput](t, "create secret")(sm.CreateSecret(enfCtxT(t), &secretsmanager.CreateSecretInput{
		Name: aws.String(fmt.Sprintf("elbguard-restore-key-%d", r.seq)), SecretString: aws.String(strings.Repeat("k3Y", 22))}))
	env := map[string]string{fleet.EnvRestoreKeySecret: aws.ToString(out.ARN)}
	key, err := fleet.RestoreKeyFromEnv(enfCtxT(t), func(k string) string { return env[k] }, r.cfg)
	if err != nil || key == nil {
		t.Fatalf("restore key: %v, %v", key, err)
	}
	return key
}

// safetyForgedRecord: a restore record someone else wrote (the issue's
// hand-written tag that would expose the instances' SSH port, and an
// unsigned one in the current format) is never acted on, even by a sweep
// that has the key: error, restore_record_invalid, no listener 2222, the
// tag left for a person.
func safetyForgedRecord(t *testing.T, r *faultRig) {
	ctx := enfCtxT(t)
	key := restoreKeyOf(t, r)
	c := r.clients()
	signed, err := key.ForClients(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := fleet.NewEngine(c, engine.Config{}, nil, signed...)
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{
		safetyName(r): "v1 TCP:2222 TCP:22 cert= pol=",
		safetyName(r): "v2 TCP:2222 TCP:22 cert= pol= t=" + strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10) + " mac=",
	}
	for name, value := range forged {
		enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(r.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
			Listeners: []elbtypes.Listener{enfListener("TCP", 80, "TCP", 80, "")},
			Tags:      enfTags(enfModeTag, "enforce", "elbguard:restore:2222", value)}))
	}
	out, err := (&fleet.Sweeper{Engine: eng}).Handle(r.lambdaCtx(t), nil)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for name, value := range forged {
		rep := safetyReport(t, out, name)
		if rep.Status != engine.StatusError || safetyFinding(rep, engine.RuleRestoreRecordInvalid) == "" {
			t.Errorf("%s (%q): got %s %+v; want error with %s", name, value, rep.Status, rep.Findings, engine.RuleRestoreRecordInvalid)
		}
		if got := r.classicState(t, name)["listener:2222"]; got != "" {
			t.Errorf("%s: listener 2222 %q; want none (the forged record is never acted on)", name, got)
		}
		if got := r.lbTagsOf(t, name)["elbguard:restore:2222"]; got != value {
			t.Errorf("%s: tag %q; want %q left for a person", name, got, value)
		}
		if len(rep.Actions) != 0 {
			t.Errorf("%s: actions %+v; want none", name, rep.Actions)
		}
	}
}

// safetyName names a new Classic ELB of these tests.
func safetyName(r *faultRig) string { r.seq++; return fmt.Sprintf("fsafe-%d", r.seq) }

// safetyCertificateDeleted: the listener's IAM certificate no longer
// exists, so elbguard never deletes the HTTPS listener (neither the
// replacement nor a rollback could be created); the rest is enforced.
func safetyCertificateDeleted(t *testing.T, r *faultRig) {
	ctx := enfCtxT(t)
	ic := iam.NewFromConfig(r.cfg)
	certPEM, keyPEM := enfSelfSignedPEM(t, "old.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload")(ic.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("old-cert"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	cert := aws.ToString(up.ServerCertificateMetadata.Arn)
	name := safetyName(r)
	enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(r.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTP", 81, cert)},
		Tags:      enfTags(enfModeTag, "enforce", "elbguard:readiness", "skip")}))
	enfMust[*iam.DeleteServerCertificateOutput](t, "delete certificate")(ic.DeleteServerCertificate(ctx, &iam.DeleteServerCertificateInput{ServerCertificateName: aws.String("old-cert")}))
	before := r.classicState(t, name)

	h, _ := r.enforcer(t, engine.Config{})
	out, err := h.Handle(r.lambdaCtx(t), r.classicEvent(t, name))
	if err != nil {
		t.Fatalf("enforce: %v", err)
	}
	rep := safetyReport(t, out, name)
	after := r.classicState(t, name)
	if rep.Status != engine.StatusNonCompliant || !strings.Contains(safetyFinding(rep, engine.RuleCertificateMissing), "old-cert") {
		t.Errorf("got %s %+v; want non_compliant with %s", rep.Status, rep.Findings, engine.RuleCertificateMissing)
	}
	if after["listener:443"] != before["listener:443"] || after["backend:81"] != before["backend:81"] {
		t.Errorf("listener 443 %q, backend 81 %q; want untouched %q, %q", after["listener:443"], after["backend:81"], before["listener:443"], before["backend:81"])
	}
	if !strings.HasPrefix(after["listener:80"], "TCP:80->TCP:80") {
		t.Errorf("listener 80: got %q; want TCP:80->TCP:80 (the rest is enforced)", after["listener:80"])
	}
	if got := r.proxy.Stats()[faultproxy.Key(faultproxy.VersionClassic, "DeleteLoadBalancerListeners")].Forwarded; got != 1 {
		t.Errorf("got %d listener deletes; want 1 (listener 80 only)", got)
	}
	r.proxy.Reset()
	r.emulateAWS()
}

// safetySecureBackend: HTTPS:443 -> HTTPS:443 cannot carry the PROXY header:
// never converted, no proxy policy on its instance port, non_compliant with
// what to do instead. (moto keeps the instance protocol thanks to
// test/peer/motofix; by itself it would report HTTPS -> HTTPS for any HTTPS
// listener.)
func safetySecureBackend(t *testing.T, r *faultRig) {
	ctx := enfCtxT(t)
	name := safetyName(r)
	enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(r.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
		Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTPS", 443, r.cert), enfListener("TCP", 22, "TCP", 22, "")},
		Tags:      enfTags(enfModeTag, "enforce", "elbguard:ports", "80+443", "elbguard:readiness", "skip")}))
	before := r.classicState(t, name)
	h, _ := r.enforcer(t, engine.Config{})
	out, err := h.Handle(r.lambdaCtx(t), r.classicEvent(t, name))
	if err != nil {
		t.Fatalf("enforce: %v", err)
	}
	rep := safetyReport(t, out, name)
	after := r.classicState(t, name)
	if rep.Status != engine.StatusNonCompliant || !strings.Contains(safetyFinding(rep, engine.RuleSecureBackend), "TCP:443 -> TCP:443 pass-through") {
		t.Errorf("got %s %+v; want non_compliant with %s", rep.Status, rep.Findings, engine.RuleSecureBackend)
	}
	if after["listener:443"] != before["listener:443"] || after["backend:443"] != "" {
		t.Errorf("listener 443 %q, backend 443 %q; want untouched %q without a proxy policy", after["listener:443"], after["backend:443"], before["listener:443"])
	}
	if after["listener:22"] != before["listener:22"] || after["backend:22"] != "" {
		t.Errorf("listener 22 %q, backend 22 %q; want untouched (elbguard:ports=80+443)", after["listener:22"], after["backend:22"])
	}
	if !strings.HasPrefix(after["listener:80"], "TCP:80->TCP:80") || !strings.Contains(after["backend:80"], engine.ProxyPolicyName) {
		t.Errorf("listener 80 %q, backend 80 %q; want TCP with the PROXY protocol", after["listener:80"], after["backend:80"])
	}
	r.proxy.Reset()
	r.emulateAWS()
}

// safetyIaC: a load balancer of a CloudFormation stack is reported with the
// stack and the template change, and left unchanged, until
// elbguard:iac=override.
func safetyIaC(t *testing.T, r *faultRig) {
	ctx := enfCtxT(t)
	ft := r.target(t, false, "enforce")
	enfMust[*elb.AddTagsOutput](t, "tag")(r.classic.AddTags(ctx, &elb.AddTagsInput{LoadBalancerNames: []string{ft.name},
		Tags: enfTags("aws:cloudformation:stack-name", "web-prod", "aws:cloudformation:logical-id", "WebELB")}))
	h, _ := r.enforcer(t, engine.Config{})
	rep, err := r.run(t, h, ft)
	if err != nil {
		t.Fatalf("enforce: %v", err)
	}
	d := safetyFinding(rep, engine.RuleManagedByIaC)
	if rep.Status != engine.StatusHeld || !strings.Contains(d, `"web-prod"`) || !strings.Contains(d, "ProxyProtocolPolicyType") {
		t.Errorf("got %s, finding %q; want held, naming the stack and the template change", rep.Status, d)
	}
	if slices.ContainsFunc(rep.Actions, func(a engine.Action) bool { return a.Status != engine.ActionHeld }) {
		t.Errorf("got actions %+v; want held only", rep.Actions)
	}
	if mutating := r.proxy.Stats().ForwardedMutating(); len(mutating) != 0 {
		t.Errorf("got writes %v; want none", mutating)
	}
	if d := damage(ft.old, r.state(t, ft), ft.old); len(d) > 0 {
		t.Errorf("changed: %v", d)
	}
	enfMust[*elb.AddTagsOutput](t, "tag")(r.classic.AddTags(ctx, &elb.AddTagsInput{LoadBalancerNames: []string{ft.name}, Tags: enfTags("elbguard:iac", "override")}))
	if rep, err = r.run(t, h, ft); err != nil || rep.Status != engine.StatusRemediated {
		t.Errorf("with %s=override: got %s, %v (%+v); want remediated", "elbguard:iac", rep.Status, err, rep.Findings)
	}
	r.settleRound(t, ft, newTally("IaC override"))
}
