//go:build integration

package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/migrate"
	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// migRig is moto behind a fault proxy, which the elbguard binary talks to:
// it counts the writes by API and answers DescribeTargetHealth as AWS would
// for a back end that fails the NLB's health checks (moto reports every
// registered target healthy at once).
type migRig struct {
	m       *harness.Moto
	proxy   *faultproxy.Proxy
	url     string
	classic *elb.Client
	v2      *elbv2.Client
	ec2     *ec2.Client
	r53     *route53.Client
	vpc     string
	subnets []string
	sg      string
	base    faultproxy.Stats // counts before the last run
}

func newMigRig(t *testing.T) *migRig {
	t.Helper()
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	p, err := faultproxy.New(m.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	r := &migRig{m: m, proxy: p, url: srv.URL, classic: elb.NewFromConfig(cfg), v2: elbv2.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), r53: route53.NewFromConfig(cfg)}
	r.vpc, r.subnets = enfDefaultSubnets(t, m)
	p.Intercept("", migRoute53Names)
	sg := enfMust[*ec2.CreateSecurityGroupOutput](t, "create security group")(r.ec2.CreateSecurityGroup(enfCtxT(t), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web-lb"), Description: aws.String("web load balancer"), VpcId: aws.String(r.vpc)}))
	r.sg = aws.ToString(sg.GroupId)
	return r
}

// migRoute53Names works around two moto gaps in Route 53 change batches.
// moto finds the record a DELETE names by comparing the name as first sent
// with the DELETE's name without its final dot, so a record created or
// deleted by its full name ("shop.example.test.", as ListResourceRecordSets
// returns it and AWS accepts) can never be deleted: the names lose their
// final dot on the way to moto. And moto checks a CREATE against the
// records as they were before the batch, while AWS applies a batch as one
// (DELETE then CREATE of the same name is how AWS documents replacing a
// record): a batch with both is sent as its DELETEs, then the rest.
func migRoute53Names(w http.ResponseWriter, r *http.Request, _ url.Values, forward http.Handler) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/rrset") {
		forward.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	body = regexp.MustCompile(`<Name>([^<]*)\.</Name>`).ReplaceAll(body, []byte("<Name>$1</Name>"))
	change := regexp.MustCompile(`(?s)<Change>.*?</Change>`)
	locs := change.FindAllIndex(body, -1)
	var deletes, rest []byte
	for _, l := range locs {
		if c := body[l[0]:l[1]]; bytes.Contains(c, []byte("<Action>DELETE</Action>")) {
			deletes = append(deletes, c...)
		} else {
			rest = append(rest, c...)
		}
	}
	send := func(w http.ResponseWriter, changes []byte) {
		b := body
		if len(locs) > 0 {
			b = append(append(slices.Clone(body[:locs[0][0]]), changes...), body[locs[len(locs)-1][1]:]...)
		}
		req := r.Clone(r.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.ContentLength = int64(len(b))
		req.Header.Set("Content-Length", strconv.Itoa(len(b)))
		forward.ServeHTTP(w, req)
	}
	if len(deletes) == 0 || len(rest) == 0 {
		send(w, append(deletes, rest...))
		return
	}
	first := httptest.NewRecorder()
	send(first, deletes)
	if first.Code != http.StatusOK {
		for k, v := range first.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(first.Code)
		_, _ = w.Write(first.Body.Bytes())
		return
	}
	send(w, rest)
}

// run runs the real elbguard binary through the fault proxy.
func (r *migRig) run(t *testing.T, args ...string) (migrate.Result, harness.Result) {
	t.Helper()
	r.base = r.proxy.Stats() // a Reset would drop the interceptors
	res := enfRunCLI(t, r.m, []string{"AWS_ENDPOINT_URL=" + r.url}, append([]string{"migrate", "--output", "json"}, args...)...)
	var out migrate.Result
	if res.Stdout != "" {
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("migrate %v: decode: %v\n%s\n%s", args, err, res.Stdout, res.Stderr)
		}
	}
	return out, res
}

// writes lists the ELB (Classic and v2) write calls of the last run.
func (r *migRig) writes() (classic, v2 []string) {
	for k, st := range r.proxy.Stats() {
		n := st.Requests
		if b, ok := r.base[k]; ok {
			n -= b.Requests
		}
		if strings.Contains(k, "Describe") || n == 0 {
			continue
		}
		switch {
		case strings.Contains(k, "2012-06-01"):
			classic = append(classic, k)
		case strings.Contains(k, "2015-12-01"):
			v2 = append(v2, fmt.Sprintf("%s=%d", k, n))
		}
	}
	slices.Sort(v2)
	return classic, v2
}

// instances runs n instances, tagged elbguard:proxy-ready=ready unless empty.
func (r *migRig) instances(t *testing.T, n int, ready string) []string {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(motoAMI), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)), InstanceType: ec2types.InstanceTypeT4gMicro, SubnetId: aws.String(r.subnets[0])}
	if ready != "" {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String(engine.TagProxyReady), Value: aws.String(ready)}}}}
	}
	out := enfMust[*ec2.RunInstancesOutput](t, "run instances")(r.ec2.RunInstances(enfCtxT(t), in))
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}

type migClassic struct {
	name      string
	listeners []elbtypes.Listener
	proxy     []int32  // instance ports with proxy protocol
	sslPolicy []string // policy attributes of the SSL negotiation policy on 443; nil: none
	sticky    int32    // listener port with an LB cookie policy; 0: none
	accessLog bool
	instances []string
}

// create makes a Classic load balancer in the VPC with the seed's attributes.
func (r *migRig) create(t *testing.T, c migClassic) string {
	t.Helper()
	ctx := enfCtxT(t)
	out := enfMust[*elb.CreateLoadBalancerOutput](t, "create "+c.name)(r.classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(c.name), Subnets: r.subnets, SecurityGroups: []string{r.sg}, Listeners: c.listeners,
		Tags: enfTags(enfModeTag, "enforce", "team", "web")}))
	if len(c.proxy) > 0 {
		enfMust[*elb.CreateLoadBalancerPolicyOutput](t, "create proxy policy")(r.classic.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
			LoadBalancerName: aws.String(c.name), PolicyName: aws.String(engine.ProxyPolicyName), PolicyTypeName: aws.String("ProxyProtocolPolicyType"),
			PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String("ProxyProtocol"), AttributeValue: aws.String("true")}}}))
		for _, p := range c.proxy {
			enfMust[*elb.SetLoadBalancerPoliciesForBackendServerOutput](t, "set backend policy")(r.classic.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
				LoadBalancerName: aws.String(c.name), InstancePort: aws.Int32(p), PolicyNames: []string{engine.ProxyPolicyName}}))
		}
	}
	if c.sslPolicy != nil {
		var attrs []elbtypes.PolicyAttribute
		for i := 0; i+1 < len(c.sslPolicy); i += 2 {
			attrs = append(attrs, elbtypes.PolicyAttribute{AttributeName: aws.String(c.sslPolicy[i]), AttributeValue: aws.String(c.sslPolicy[i+1])})
		}
		enfMust[*elb.CreateLoadBalancerPolicyOutput](t, "create SSL policy")(r.classic.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
			LoadBalancerName: aws.String(c.name), PolicyName: aws.String("tls"), PolicyTypeName: aws.String("SSLNegotiationPolicyType"), PolicyAttributes: attrs}))
		enfMust[*elb.SetLoadBalancerPoliciesOfListenerOutput](t, "set SSL policy")(r.classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
			LoadBalancerName: aws.String(c.name), LoadBalancerPort: 443, PolicyNames: []string{"tls"}}))
	}
	if c.sticky != 0 {
		// moto gap: CreateLBCookieStickinessPolicy's policy reads back as type
		// LbCookieStickinessPolicy; CreateLoadBalancerPolicy with AWS's type
		// name (an equally valid AWS call) reads back as AWS reports it.
		enfMust[*elb.CreateLoadBalancerPolicyOutput](t, "create cookie policy")(r.classic.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{
			LoadBalancerName: aws.String(c.name), PolicyName: aws.String("sticky"), PolicyTypeName: aws.String("LBCookieStickinessPolicyType"),
			PolicyAttributes: []elbtypes.PolicyAttribute{{AttributeName: aws.String("CookieExpirationPeriod"), AttributeValue: aws.String("300")}}}))
		enfMust[*elb.SetLoadBalancerPoliciesOfListenerOutput](t, "set cookie policy")(r.classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
			LoadBalancerName: aws.String(c.name), LoadBalancerPort: c.sticky, PolicyNames: []string{"sticky"}}))
	}
	attrs := &elbtypes.LoadBalancerAttributes{
		ConnectionSettings:     &elbtypes.ConnectionSettings{IdleTimeout: aws.Int32(3600)},
		ConnectionDraining:     &elbtypes.ConnectionDraining{Enabled: true, Timeout: aws.Int32(300)},
		CrossZoneLoadBalancing: &elbtypes.CrossZoneLoadBalancing{Enabled: true},
	}
	if c.accessLog {
		attrs.AccessLog = &elbtypes.AccessLog{Enabled: true, S3BucketName: aws.String("elb-logs"), S3BucketPrefix: aws.String(c.name), EmitInterval: aws.Int32(60)}
	}
	enfMust[*elb.ModifyLoadBalancerAttributesOutput](t, "set attributes")(r.classic.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{
		LoadBalancerName: aws.String(c.name), LoadBalancerAttributes: attrs}))
	enfMust[*elb.ConfigureHealthCheckOutput](t, "health check")(r.classic.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{
		LoadBalancerName: aws.String(c.name), HealthCheck: &elbtypes.HealthCheck{Target: aws.String("HTTP:81/healthz"), Interval: aws.Int32(10), Timeout: aws.Int32(5), HealthyThreshold: aws.Int32(3), UnhealthyThreshold: aws.Int32(2)}}))
	if len(c.instances) > 0 {
		var ins []elbtypes.Instance
		for _, id := range c.instances {
			ins = append(ins, elbtypes.Instance{InstanceId: aws.String(id)})
		}
		enfMust[*elb.RegisterInstancesWithLoadBalancerOutput](t, "register")(r.classic.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: aws.String(c.name), Instances: ins}))
	}
	return aws.ToString(out.DNSName)
}

// snapshot is everything readable about a Classic load balancer, to prove
// the migration never changes it.
func (r *migRig) snapshot(t *testing.T, name string) string {
	t.Helper()
	ctx := enfCtxT(t)
	d := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(r.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}}))
	p := enfMust[*elb.DescribeLoadBalancerPoliciesOutput](t, "policies")(r.classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String(name)}))
	a := enfMust[*elb.DescribeLoadBalancerAttributesOutput](t, "attributes")(r.classic.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)}))
	tg := enfMust[*elb.DescribeTagsOutput](t, "tags")(r.classic.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{name}}))
	raw, err := json.Marshal([]any{d.LoadBalancerDescriptions, p.PolicyDescriptions, a.LoadBalancerAttributes, tg.TagDescriptions})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func (r *migRig) nlb(t *testing.T, name string) *v2types.LoadBalancer {
	t.Helper()
	out, err := r.v2.DescribeLoadBalancers(enfCtxT(t), &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
	if err != nil || len(out.LoadBalancers) == 0 {
		return nil
	}
	return &out.LoadBalancers[0]
}

func (r *migRig) tgAttrs(t *testing.T, arn string) map[string]string {
	t.Helper()
	out := enfMust[*elbv2.DescribeTargetGroupAttributesOutput](t, "tg attributes")(r.v2.DescribeTargetGroupAttributes(enfCtxT(t), &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)}))
	m := map[string]string{}
	for _, a := range out.Attributes {
		m[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	return m
}

func migRules(r migrate.Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

// TestMigrateCLI drives `elbguard migrate` over the seed's load balancer
// after remediation: plan, the confirmation, apply, the NLB read back,
// rerun; the Classic load balancer read back unchanged after each.
func TestMigrateCLI(t *testing.T) {
	r := newMigRig(t)
	ctx := enfCtxT(t)
	certPEM, keyPEM := enfSelfSignedPEM(t, "web.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload certificate")(iam.NewFromConfig(r.m.Config(t)).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("web-example"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	cert := aws.ToString(up.ServerCertificateMetadata.Arn)
	ids := r.instances(t, 2, "true")
	r.create(t, migClassic{name: "web", instances: ids, proxy: []int32{80, 81},
		listeners: []elbtypes.Listener{enfListener("TCP", 80, "TCP", 80, ""), enfListener("SSL", 443, "TCP", 81, cert)},
		sslPolicy: []string{"Reference-Security-Policy", "ELBSecurityPolicy-TLS-1-2-2017-01"}})
	before := r.snapshot(t, "web")
	unchanged := func(step string) {
		t.Helper()
		if got := r.snapshot(t, "web"); got != before {
			t.Errorf("%s changed the Classic load balancer:\n%s\nwant\n%s", step, got, before)
		}
		if c, _ := r.writes(); len(c) > 0 {
			t.Errorf("%s: Classic writes %v; want none", step, c)
		}
	}

	plan, res := r.run(t, "web", "--dry-run")
	if res.Code != 0 || plan.Status != migrate.StatusPlanned || len(plan.Calls) != 11 || plan.NLB.Name != "web-nlb" {
		t.Fatalf("dry run: exit %d, %s, %d calls; want 0, planned, 11\n%s\n%s", res.Code, plan.Status, len(plan.Calls), res.Stdout, res.Stderr)
	}
	if _, w := r.writes(); len(w) > 0 {
		t.Errorf("dry run wrote %v", w)
	}
	if !slices.Contains(migRules(plan), migrate.RuleTLSIdleTimeout) {
		t.Errorf("dry run: findings %v; want %s", migRules(plan), migrate.RuleTLSIdleTimeout)
	}
	unchanged("dry run")

	// No terminal and no --yes: the plan is shown, nothing applied.
	_, res = r.run(t, "web")
	if _, w := r.writes(); res.Code != 2 || len(w) > 0 || !strings.Contains(res.Stderr, "--yes") || !strings.Contains(res.Stderr, "elbv2:CreateLoadBalancer") {
		t.Errorf("without --yes: exit %d, writes %v, stderr %s; want 2, none, the plan and a hint", res.Code, w, res.Stderr)
	}

	got, res := r.run(t, "web", "--yes", "--wait", "30s")
	if res.Code != 0 || got.Status != migrate.StatusMigrated {
		t.Fatalf("apply: exit %d, %s %+v\n%s", res.Code, got.Status, got.Findings, res.Stderr)
	}
	// The apply made exactly the plan's calls, in order.
	if len(got.Calls) != len(plan.Calls) {
		t.Fatalf("apply made %d calls; the plan listed %d", len(got.Calls), len(plan.Calls))
	}
	for i, c := range plan.Calls {
		if got.Calls[i].Status != migrate.CallApplied || string(got.Calls[i].Params) != string(c.Params) {
			t.Errorf("call %d: got %s %s %s; want applied %s", i+1, got.Calls[i].Status, got.Calls[i].API, got.Calls[i].Params, c.Params)
		}
	}
	wantWrites := "[2015-12-01:CreateListener=2 2015-12-01:CreateLoadBalancer=1 2015-12-01:CreateTargetGroup=2 2015-12-01:ModifyListenerAttributes=1 " +
		"2015-12-01:ModifyLoadBalancerAttributes=1 2015-12-01:ModifyTargetGroupAttributes=2 2015-12-01:RegisterTargets=2]"
	if _, w := r.writes(); fmt.Sprint(w) != wantWrites {
		t.Errorf("writes %v; want %s", w, wantWrites)
	}
	unchanged("apply")

	lb := r.nlb(t, "web-nlb")
	if lb == nil || lb.Type != v2types.LoadBalancerTypeEnumNetwork || aws.ToString(lb.LoadBalancerArn) != got.NLB.ARN || got.NLB.DNSName == "" {
		t.Fatalf("NLB: got %+v; want network, as reported (%+v)", lb, got.NLB)
	}
	ls := enfMust[*elbv2.DescribeListenersOutput](t, "listeners")(r.v2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn}))
	byPort := map[int32]v2types.Listener{}
	for _, l := range ls.Listeners {
		byPort[aws.ToInt32(l.Port)] = l
	}
	if l := byPort[443]; l.Protocol != v2types.ProtocolEnumTls || aws.ToString(l.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-2021-06" || len(l.Certificates) != 1 || aws.ToString(l.Certificates[0].CertificateArn) != cert {
		t.Errorf("listener 443: %+v; want TLS, TLS13-1-2-2021-06, the IAM certificate", l)
	}
	if l := byPort[80]; l.Protocol != v2types.ProtocolEnumTcp {
		t.Errorf("listener 80: %+v; want TCP", l)
	}
	if idle := (&enfFleet{v2: r.v2}).listenerIdle(t, aws.ToString(lb.LoadBalancerArn), 80); idle != "3600" {
		t.Errorf("listener 80 idle timeout %q; want 3600", idle)
	}
	for _, tg := range got.TargetGroups {
		a := r.tgAttrs(t, tg.ARN)
		if a["proxy_protocol_v2.enabled"] != "true" || a["deregistration_delay.timeout_seconds"] != "300" || len(tg.Targets) != 2 || tg.Targets[0].State != "healthy" {
			t.Errorf("target group %s: attributes %v, targets %+v; want proxy v2, draining 300, two healthy targets", tg.Name, a, tg.Targets)
		}
	}

	// Rerun: a no-op that reports the state.
	again, res := r.run(t, "web", "--yes")
	if _, w := r.writes(); res.Code != 0 || again.Status != migrate.StatusMigrated || len(again.Calls) != 0 || len(w) != 0 || again.NLB.ARN != got.NLB.ARN || again.Listeners[1].ARN == "" {
		t.Errorf("rerun: exit %d, %s, calls %d, writes %v, %+v; want migrated, no calls, no writes, the same NLB", res.Code, again.Status, len(again.Calls), w, again.NLB)
	}
	unchanged("rerun")

	// Undo removes it; the Classic load balancer is still as it was.
	undo, res := r.run(t, "web", "--undo", "--yes")
	if res.Code != 0 || undo.Status != migrate.StatusUndone || r.nlb(t, "web-nlb") != nil {
		t.Errorf("undo: exit %d, %s %+v; want undone, NLB gone\n%s", res.Code, undo.Status, undo.Findings, res.Stderr)
	}
	for _, tg := range got.TargetGroups {
		if _, err := r.v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{tg.ARN}}); err == nil {
			t.Errorf("target group %s survived the undo", tg.Name)
		}
	}
	unchanged("undo")
	again, res = r.run(t, "web", "--undo", "--yes")
	if _, w := r.writes(); res.Code != 0 || again.Status != migrate.StatusUndone || len(again.Calls) != 0 || len(w) != 0 {
		t.Errorf("second undo: exit %d, %s, %d calls, writes %v; want a no-op", res.Code, again.Status, len(again.Calls), w)
	}

	// A load balancer of the NLB's name that is not this migration's (no
	// elbguard:migrated-from=web): migrate is held, undo leaves it alone.
	enfMust[*elbv2.CreateLoadBalancerOutput](t, "create foreign NLB")(r.v2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("web-nlb"), Type: v2types.LoadBalancerTypeEnumNetwork, Subnets: r.subnets,
		Tags: []v2types.Tag{{Key: aws.String(migrate.TagMigratedFrom), Value: aws.String("someone-else")}}}))
	held, res := r.run(t, "web", "--yes")
	if _, w := r.writes(); res.Code != 1 || held.Status != engine.StatusHeld || !slices.Contains(migRules(held), migrate.RuleNameTaken) || len(w) != 0 {
		t.Errorf("foreign NLB: exit %d, %s %v, writes %v; want held by %s, no writes", res.Code, held.Status, migRules(held), w, migrate.RuleNameTaken)
	}
	again, res = r.run(t, "web", "--undo", "--yes")
	if _, w := r.writes(); res.Code != 0 || len(again.Calls) != 0 || len(w) != 0 || r.nlb(t, "web-nlb") == nil {
		t.Errorf("undo beside a foreign NLB: exit %d, %d calls, writes %v; want nothing deleted", res.Code, len(again.Calls), w)
	}
	unchanged("foreign NLB")
}

// TestMigrateFindingsAndGates: an ACM certificate with a custom SSL policy
// is held until --ssl-policy names one; stickiness, access logs and HTTP
// listeners are findings; instances not ready for PROXY v2 hold it.
func TestMigrateFindingsAndGates(t *testing.T) {
	r := newMigRig(t)
	ctx := enfCtxT(t)
	certPEM, keyPEM := enfSelfSignedPEM(t, "api.example.test")
	imp := enfMust[*acm.ImportCertificateOutput](t, "import certificate")(acm.NewFromConfig(r.m.Config(t)).ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: []byte(certPEM), PrivateKey: []byte(keyPEM)}))
	acmARN := aws.ToString(imp.CertificateArn)
	ready := r.instances(t, 2, "true")
	r.create(t, migClassic{name: "api", instances: ready, proxy: []int32{81},
		listeners: []elbtypes.Listener{enfListener("SSL", 443, "TCP", 81, acmARN)},
		sslPolicy: []string{"Protocol-TLSv1.2", "true", "ECDHE-RSA-AES128-GCM-SHA256", "true"}})
	before := r.snapshot(t, "api")

	held, res := r.run(t, "api", "--yes")
	if _, w := r.writes(); res.Code != 1 || held.Status != engine.StatusHeld || !slices.Contains(migRules(held), migrate.RuleSSLPolicy) || len(w) != 0 {
		t.Errorf("custom policy: exit %d, %s %v, writes %v; want 1, held by %s, nothing written", res.Code, held.Status, migRules(held), w, migrate.RuleSSLPolicy)
	}
	got, res := r.run(t, "api", "--yes", "--ssl-policy", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
	if res.Code != 0 || got.Status != migrate.StatusMigrated || got.Listeners[0].Certificate != acmARN || got.Listeners[0].SSLPolicy != "ELBSecurityPolicy-TLS13-1-2-Res-2021-06" {
		t.Errorf("with --ssl-policy: exit %d, %s %+v %+v\n%s", res.Code, got.Status, got.Listeners, got.Findings, res.Stderr)
	}
	if r.snapshot(t, "api") != before {
		t.Errorf("api: the Classic load balancer changed")
	}

	notReady := r.instances(t, 1, "")
	r.create(t, migClassic{name: "legacy", instances: append(notReady, ready[0]), proxy: []int32{80}, sticky: 8080, accessLog: true,
		listeners: []elbtypes.Listener{enfListener("TCP", 80, "TCP", 80, ""), enfListener("HTTP", 8080, "HTTP", 8080, "")}})
	before = r.snapshot(t, "legacy")
	held, res = r.run(t, "legacy", "--yes")
	for _, rule := range []string{migrate.RuleBackendsNotReady, migrate.RuleStickiness, migrate.RuleAccessLogs, migrate.RuleListenerNotMigrated} {
		if !slices.Contains(migRules(held), rule) {
			t.Errorf("legacy: findings %v; want %s", held.Findings, rule)
		}
	}
	if _, w := r.writes(); res.Code != 1 || held.Status != engine.StatusHeld || len(w) != 0 || !strings.Contains(fmt.Sprint(held.Findings), notReady[0]) {
		t.Errorf("legacy: exit %d, %s, writes %v; want 1, held naming %s, nothing written", res.Code, held.Status, w, notReady[0])
	}

	// Ready now, but the NLB's health checks fail on the new instance
	// (moto gap: every target is healthy; the fault proxy says unhealthy).
	enfMust[*ec2.CreateTagsOutput](t, "tag ready")(r.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: notReady,
		Tags: []ec2types.Tag{{Key: aws.String(engine.TagProxyReady), Value: aws.String("true")}}}))
	r.proxy.Intercept("DescribeTargetHealth", faultproxy.TargetHealth(func(id string) string {
		if id == notReady[0] {
			return "unhealthy"
		}
		return ""
	}))
	failed, res := r.run(t, "legacy", "--yes", "--wait", "2s")
	if res.Code != 1 || failed.Status != engine.StatusError || !slices.Contains(migRules(failed), migrate.RuleTargetsUnhealthy) || r.nlb(t, "legacy-nlb") == nil {
		t.Errorf("unhealthy: exit %d, %s %v; want 1, error, targets_unhealthy, the NLB left for --undo\n%s", res.Code, failed.Status, failed.Findings, res.Stderr)
	}
	undo, res := r.run(t, "legacy", "--undo", "--yes")
	if res.Code != 0 || undo.Status != migrate.StatusUndone || r.nlb(t, "legacy-nlb") != nil {
		t.Errorf("undo: exit %d, %s %+v", res.Code, undo.Status, undo.Findings)
	}
	if r.snapshot(t, "legacy") != before {
		t.Errorf("legacy: the Classic load balancer changed")
	}
}

// TestMigrateRoute53: the plan names the alias record; --shift moves the
// traffic by weighted records; --undo shifts everything back before it
// deletes only what carries elbguard:migrated-from (and this migration's
// names). A target group someone else tagged is left alone.
func TestMigrateRoute53(t *testing.T) {
	r := newMigRig(t)
	ctx := enfCtxT(t)
	ids := r.instances(t, 2, "true")
	dns := r.create(t, migClassic{name: "shop", instances: ids, proxy: []int32{80},
		listeners: []elbtypes.Listener{enfListener("TCP", 80, "TCP", 80, "")}})
	d := enfMust[*elb.DescribeLoadBalancersOutput](t, "describe")(r.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"shop"}}))
	classicZone := aws.ToString(d.LoadBalancerDescriptions[0].CanonicalHostedZoneNameID)
	hz := enfMust[*route53.CreateHostedZoneOutput](t, "zone")(r.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.test"), CallerReference: aws.String("t1")}))
	zone := strings.TrimPrefix(aws.ToString(hz.HostedZone.Id), "/hostedzone/")
	original := r53types.ResourceRecordSet{Name: aws.String("shop.example.test."), Type: r53types.RRTypeA,
		AliasTarget: &r53types.AliasTarget{HostedZoneId: aws.String(classicZone), DNSName: aws.String("dualstack." + dns + "."), EvaluateTargetHealth: true}}
	enfMust[*route53.ChangeResourceRecordSetsOutput](t, "record")(r.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zone),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &original}}}}))
	// A decoy: a target group named like the migration's and tagged as
	// its by someone else, serving nothing of it. Undo must not delete it
	// unless both name and tag match, and it must leave others' groups.
	decoy := enfMust[*elbv2.CreateTargetGroupOutput](t, "decoy")(r.v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("shop-decoy"), Protocol: v2types.ProtocolEnumTcp,
		Port: aws.Int32(80), VpcId: aws.String(r.vpc), Tags: []v2types.Tag{{Key: aws.String(migrate.TagMigratedFrom), Value: aws.String("shop")}}}))
	before := r.snapshot(t, "shop")
	records := func() map[string]int64 {
		t.Helper()
		out := enfMust[*route53.ListResourceRecordSetsOutput](t, "list records")(r.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)}))
		m := map[string]int64{}
		for _, rr := range out.ResourceRecordSets {
			if rr.Type != r53types.RRTypeA || rr.AliasTarget == nil {
				continue
			}
			target := strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(aws.ToString(rr.AliasTarget.DNSName)), "dualstack."), ".")
			m[target+" "+aws.ToString(rr.SetIdentifier)] = aws.ToInt64(rr.Weight)
		}
		return m
	}

	plan, res := r.run(t, "shop", "--dry-run")
	if res.Code != 0 || len(plan.Records) != 1 || plan.Records[0].Name != "shop.example.test." || !slices.Contains(migRules(plan), migrate.RuleRecord) {
		t.Fatalf("plan: exit %d, records %+v, findings %v; want shop.example.test. named", res.Code, plan.Records, plan.Findings)
	}
	held, res := r.run(t, "shop", "--shift", "10", "--yes")
	if res.Code != 1 || held.Status != engine.StatusHeld || !slices.Contains(migRules(held), migrate.RuleNotMigrated) {
		t.Errorf("shift before migrating: exit %d, %s %v; want held", res.Code, held.Status, held.Findings)
	}
	got, res := r.run(t, "shop", "--yes", "--wait", "30s")
	if res.Code != 0 || got.Status != migrate.StatusMigrated {
		t.Fatalf("migrate: exit %d, %s %+v\n%s", res.Code, got.Status, got.Findings, res.Stderr)
	}
	nlbDNS := strings.ToLower(got.NLB.DNSName)
	classicDNS := strings.ToLower(dns)

	shifted, res := r.run(t, "shop", "--shift", "25", "--yes")
	want := map[string]int64{classicDNS + " elbguard-migrate shop classic": 75, nlbDNS + " elbguard-migrate shop nlb": 25}
	if res.Code != 0 || shifted.Status != migrate.StatusShifted || fmt.Sprint(records()) != fmt.Sprint(want) {
		t.Errorf("shift 25: exit %d, %s %+v, records %v; want shifted, %v\n%s", res.Code, shifted.Status, shifted.Findings, records(), want, res.Stderr)
	}
	// Unhealthy targets hold a shift.
	r.proxy.Intercept("DescribeTargetHealth", faultproxy.TargetHealth(func(id string) string { return "unhealthy" }))
	held, res = r.run(t, "shop", "--shift", "100", "--yes")
	if res.Code != 1 || held.Status != engine.StatusHeld || fmt.Sprint(records()) != fmt.Sprint(want) {
		t.Errorf("shift while unhealthy: exit %d, %s %v, records %v; want held, unchanged", res.Code, held.Status, held.Findings, records())
	}
	r.proxy.Intercept("DescribeTargetHealth", nil) // forward again
	shifted, res = r.run(t, "shop", "--shift", "100", "--yes")
	want = map[string]int64{classicDNS + " elbguard-migrate shop classic": 0, nlbDNS + " elbguard-migrate shop nlb": 100}
	if res.Code != 0 || shifted.Status != migrate.StatusShifted || fmt.Sprint(records()) != fmt.Sprint(want) {
		t.Errorf("shift 100: exit %d, %s %+v, records %v; want %v\n%s", res.Code, shifted.Status, shifted.Findings, records(), want, res.Stderr)
	}
	again, res := r.run(t, "shop", "--shift", "100", "--yes")
	if res.Code != 0 || again.Status != migrate.StatusShifted || len(again.Calls) != 0 {
		t.Errorf("shift 100 again: exit %d, %s, %d calls; want a no-op", res.Code, again.Status, len(again.Calls))
	}
	if r.snapshot(t, "shop") != before {
		t.Errorf("shift changed the Classic load balancer")
	}

	undo, res := r.run(t, "shop", "--undo", "--yes")
	if res.Code != 0 || undo.Status != migrate.StatusUndone || undo.Calls[0].API != "route53:ChangeResourceRecordSets" {
		t.Errorf("undo: exit %d, %s %+v; want undone, the records first\n%s\n%s", res.Code, undo.Status, undo.Findings, res.Stdout, res.Stderr)
	}
	if got := records(); fmt.Sprint(got) != fmt.Sprint(map[string]int64{classicDNS + " ": 0}) {
		t.Errorf("records after undo: %v; want the one alias at the Classic load balancer", got)
	}
	if r.nlb(t, "shop-nlb") != nil {
		t.Errorf("NLB survived the undo")
	}
	if _, err := r.v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(decoy.TargetGroups[0].TargetGroupArn)}}); err != nil {
		t.Errorf("the decoy target group (tagged, not named as ours) was deleted: %v", err)
	}
	if r.snapshot(t, "shop") != before {
		t.Errorf("undo changed the Classic load balancer")
	}
}
