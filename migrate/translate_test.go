package migrate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/engine"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func policy(name, typ string, kv ...string) elbtypes.PolicyDescription {
	p := elbtypes.PolicyDescription{PolicyName: aws.String(name), PolicyTypeName: aws.String(typ)}
	for i := 0; i+1 < len(kv); i += 2 {
		p.PolicyAttributeDescriptions = append(p.PolicyAttributeDescriptions, elbtypes.PolicyAttributeDescription{AttributeName: aws.String(kv[i]), AttributeValue: aws.String(kv[i+1])})
	}
	return p
}

func listener(proto string, port int32, inst int32, cert string, pols ...string) elbtypes.ListenerDescription {
	l := &elbtypes.Listener{Protocol: aws.String(proto), LoadBalancerPort: port, InstanceProtocol: aws.String(map[string]string{"HTTPS": "HTTP", "SSL": "TCP"}[proto]), InstancePort: aws.Int32(inst)}
	if aws.ToString(l.InstanceProtocol) == "" {
		l.InstanceProtocol = aws.String(proto)
	}
	if cert != "" {
		l.SSLCertificateId = aws.String(cert)
	}
	return elbtypes.ListenerDescription{Listener: l, PolicyNames: pols}
}

const seedCert = "arn:aws:iam::123456789012:server-certificate/web-example"

// seedSource is the seed article's load balancer after `elbguard
// remediate`: TCP:80->80 and SSL:443->81 with an IAM certificate, proxy
// protocol on 80 and 81, idle timeout 3600, draining 300, cross-zone, two
// instances, an HTTP health check.
func seedSource() *Source {
	return &Source{
		LB: elbtypes.LoadBalancerDescription{
			LoadBalancerName: aws.String("web"), DNSName: aws.String("web-1234567890.us-east-1.elb.amazonaws.com"),
			CanonicalHostedZoneNameID: aws.String("Z35SXDOTRQ7X7K"), Scheme: aws.String("internet-facing"),
			VPCId: aws.String("vpc-0abc"), Subnets: []string{"subnet-0b", "subnet-0a"}, SecurityGroups: []string{"sg-0web"},
			ListenerDescriptions: []elbtypes.ListenerDescription{
				listener("SSL", 443, 81, seedCert, "tls-2017"),
				listener("TCP", 80, 80, ""),
			},
			BackendServerDescriptions: []elbtypes.BackendServerDescription{
				{InstancePort: aws.Int32(80), PolicyNames: []string{"elbguard-proxy-protocol"}},
				{InstancePort: aws.Int32(81), PolicyNames: []string{"elbguard-proxy-protocol"}},
			},
			HealthCheck: &elbtypes.HealthCheck{Target: aws.String("HTTP:81/healthz"), Interval: aws.Int32(10), Timeout: aws.Int32(5), HealthyThreshold: aws.Int32(3), UnhealthyThreshold: aws.Int32(2)},
			Instances:   []elbtypes.Instance{{InstanceId: aws.String("i-0bbb")}, {InstanceId: aws.String("i-0aaa")}},
		},
		Policies: []elbtypes.PolicyDescription{
			policy("elbguard-proxy-protocol", "ProxyProtocolPolicyType", "ProxyProtocol", "true"),
			policy("tls-2017", "SSLNegotiationPolicyType", "Reference-Security-Policy", "ELBSecurityPolicy-TLS-1-2-2017-01", "Protocol-TLSv1.2", "true"),
		},
		Attributes: elbtypes.LoadBalancerAttributes{
			ConnectionSettings:     &elbtypes.ConnectionSettings{IdleTimeout: aws.Int32(3600)},
			ConnectionDraining:     &elbtypes.ConnectionDraining{Enabled: true, Timeout: aws.Int32(300)},
			CrossZoneLoadBalancing: &elbtypes.CrossZoneLoadBalancing{Enabled: true},
			AccessLog:              &elbtypes.AccessLog{Enabled: false},
		},
		Tags: map[string]string{"elbguard:proxy-protocol": "enforce", "team": "web", "aws:cloudformation:stack-name": "web-stack"},
	}
}

func rules(r *Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func apis(r *Result) []string {
	var out []string
	for _, c := range r.Calls {
		out = append(out, strings.TrimPrefix(c.API, "elbv2:"))
	}
	return out
}

// TestTranslateSeedGolden: the seed's load balancer plans to exactly the
// calls in testdata/seed.plan.txt and .json.
func TestTranslateSeedGolden(t *testing.T) {
	res := &Result{Operation: OpMigrate, Classic: "web", Status: StatusPlanned}
	translate(seedSource(), Config{}, res)
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "seed.plan.txt", text.Bytes())
	golden(t, "seed.plan.json", append(js, '\n'))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*Source)
		cfg      Config
		held     bool
		rules    []string // findings that must be there
		notRules []string
		apis     []string // exact calls, when set
		check    func(t *testing.T, r *Result)
	}{
		{
			name: "seed", rules: []string{RuleTLSIdleTimeout, RuleSSLPolicyMapped}, notRules: []string{RuleListenerNotMigrated, RuleHealthCheck, RuleStickiness, RuleAccessLogs},
			apis: []string{"CreateLoadBalancer", "ModifyLoadBalancerAttributes",
				"CreateTargetGroup", "ModifyTargetGroupAttributes", "RegisterTargets",
				"CreateTargetGroup", "ModifyTargetGroupAttributes", "RegisterTargets",
				"CreateListener", "ModifyListenerAttributes", "CreateListener"},
			check: func(t *testing.T, r *Result) {
				p := string(r.Calls[0].Params)
				if strings.Contains(p, "aws:cloudformation") || !strings.Contains(p, `"Key":"team"`) || !strings.Contains(p, `"Key":"elbguard:migrated-from","Value":"web"`) ||
					!strings.Contains(p, `"SecurityGroups":["sg-0web"]`) || !strings.Contains(p, `"Subnets":["subnet-0a","subnet-0b"]`) {
					t.Errorf("CreateLoadBalancer %s: want the Classic's tags but aws:*, ours, its subnets and security groups", p)
				}
				for _, tg := range r.TargetGroups {
					if !tg.ProxyProtocolV2 || tg.DeregistrationDelay != 300 || len(tg.Targets) != 2 {
						t.Errorf("target group %+v: want proxy v2, draining 300, two targets", tg)
					}
				}
				if l := r.Listeners[1]; l.Protocol != "TLS" || l.SSLPolicy != "ELBSecurityPolicy-TLS13-1-2-2021-06" || l.Certificate != seedCert || l.IdleTimeout != 350 || l.TargetGroup != "web-nlb-81" {
					t.Errorf("TLS listener %+v", l)
				}
				if l := r.Listeners[0]; l.Protocol != "TCP" || l.IdleTimeout != 3600 {
					t.Errorf("TCP listener %+v: want idle 3600", l)
				}
				if !strings.Contains(string(r.Calls[2].Params), `"HealthCheckPort":"81","HealthCheckProtocol":"HTTP"`) || !strings.Contains(string(r.Calls[5].Params), `"HealthCheckPort":"traffic-port"`) {
					t.Errorf("health checks: %s / %s; want HTTP on 81 for both", r.Calls[2].Params, r.Calls[5].Params)
				}
			},
		},
		{
			name: "HTTP listeners are not migrated",
			change: func(s *Source) {
				s.LB.ListenerDescriptions = append(s.LB.ListenerDescriptions, listener("HTTP", 8080, 8080, ""), listener("HTTPS", 8443, 8080, seedCert))
			},
			rules: []string{RuleListenerNotMigrated},
			check: func(t *testing.T, r *Result) {
				if len(r.Listeners) != 2 || len(r.TargetGroups) != 2 {
					t.Errorf("got %d listeners %d target groups; want the 2 and 2 of TCP/SSL", len(r.Listeners), len(r.TargetGroups))
				}
			},
		},
		{
			name: "only HTTP: nothing to migrate",
			change: func(s *Source) {
				s.LB.ListenerDescriptions = []elbtypes.ListenerDescription{listener("HTTP", 80, 80, "")}
			},
			held: true, rules: []string{RuleListenerNotMigrated, RuleNothingToMigrate}, apis: []string{},
		},
		{
			name: "custom SSL policy is held",
			change: func(s *Source) {
				s.Policies[1] = policy("tls-2017", "SSLNegotiationPolicyType", "Protocol-TLSv1.2", "true", "ECDHE-RSA-AES128-GCM-SHA256", "true")
			},
			held: true, rules: []string{RuleSSLPolicy},
		},
		{
			name: "custom SSL policy with --ssl-policy",
			change: func(s *Source) {
				s.Policies[1] = policy("tls-2017", "SSLNegotiationPolicyType", "Protocol-TLSv1.2", "true")
			},
			cfg:   Config{SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"},
			rules: []string{RuleSSLPolicyMapped}, notRules: []string{RuleSSLPolicy},
			check: func(t *testing.T, r *Result) {
				if r.Listeners[1].SSLPolicy != "ELBSecurityPolicy-TLS13-1-2-Res-2021-06" {
					t.Errorf("got %s; want the --ssl-policy", r.Listeners[1].SSLPolicy)
				}
			},
		},
		{
			name: "SSLv3-era predefined policy is held",
			change: func(s *Source) {
				s.Policies[1] = policy("tls-2017", "SSLNegotiationPolicyType", "Reference-Security-Policy", "ELBSecurityPolicy-2014-01")
			},
			held: true, rules: []string{RuleSSLPolicy},
		},
		{
			name:   "no SSL policy: AWS's Classic default maps to TLS13-1-0",
			change: func(s *Source) { s.LB.ListenerDescriptions[0].PolicyNames = nil },
			check: func(t *testing.T, r *Result) {
				if r.Listeners[1].SSLPolicy != "ELBSecurityPolicy-TLS13-1-0-2021-06" {
					t.Errorf("got %s; want ELBSecurityPolicy-TLS13-1-0-2021-06", r.Listeners[1].SSLPolicy)
				}
			},
		},
		{
			name: "stickiness, access logs and back-end authentication are findings",
			change: func(s *Source) {
				s.Policies = append(s.Policies, policy("sticky", "LBCookieStickinessPolicyType", "CookieExpirationPeriod", "300"), policy("backend-auth", "BackendServerAuthenticationPolicyType"))
				s.LB.ListenerDescriptions[1].PolicyNames = []string{"sticky"}
				s.LB.BackendServerDescriptions[1].PolicyNames = append(s.LB.BackendServerDescriptions[1].PolicyNames, "backend-auth")
				s.Attributes.AccessLog = &elbtypes.AccessLog{Enabled: true, S3BucketName: aws.String("logs"), S3BucketPrefix: aws.String("web")}
			},
			rules: []string{RuleStickiness, RuleAccessLogs, RuleBackendAuth},
		},
		{
			name:   "short idle timeout is raised to the NLB minimum; no TLS finding",
			change: func(s *Source) { s.Attributes.ConnectionSettings.IdleTimeout = aws.Int32(30) },
			rules:  []string{RuleIdleTimeoutRaised}, notRules: []string{RuleTLSIdleTimeout},
			check: func(t *testing.T, r *Result) {
				if r.Listeners[0].IdleTimeout != 60 || !strings.Contains(string(r.Calls[9].Params), `"Value":"60"`) {
					t.Errorf("got %d, %s; want 60", r.Listeners[0].IdleTimeout, r.Calls[9].Params)
				}
			},
		},
		{
			name:   "draining off: deregistration delay 0",
			change: func(s *Source) { s.Attributes.ConnectionDraining.Enabled = false },
			check: func(t *testing.T, r *Result) {
				if r.TargetGroups[0].DeregistrationDelay != 0 || !strings.Contains(string(r.Calls[3].Params), `"deregistration_delay.timeout_seconds","Value":"0"`) {
					t.Errorf("got %s", r.Calls[3].Params)
				}
			},
		},
		{
			name:   "cross-zone off: no attribute call",
			change: func(s *Source) { s.Attributes.CrossZoneLoadBalancing.Enabled = false },
			check: func(t *testing.T, r *Result) {
				if slices.Contains(apis(r), "ModifyLoadBalancerAttributes") {
					t.Errorf("got %v", apis(r))
				}
			},
		},
		{
			name:   "no proxy protocol on 80: its target group has no v2",
			change: func(s *Source) { s.LB.BackendServerDescriptions = s.LB.BackendServerDescriptions[1:] },
			rules:  []string{RuleHealthCheck}, // checks of group 80 go to 81, which has the header
			check: func(t *testing.T, r *Result) {
				if r.TargetGroups[0].ProxyProtocolV2 || !r.TargetGroups[1].ProxyProtocolV2 || strings.Contains(string(r.Calls[3].Params), "proxy_protocol") {
					t.Errorf("got %+v, %s", r.TargetGroups, r.Calls[3].Params)
				}
			},
		},
		{
			name:   "SSL health check becomes TCP",
			change: func(s *Source) { s.LB.HealthCheck.Target = aws.String("SSL:81") },
			rules:  []string{RuleHealthCheck},
			check: func(t *testing.T, r *Result) {
				if !strings.Contains(string(r.Calls[2].Params), `"HealthCheckProtocol":"TCP"`) {
					t.Errorf("got %s", r.Calls[2].Params)
				}
			},
		},
		{
			name: "health check values outside the NLB's range",
			change: func(s *Source) {
				s.LB.HealthCheck.Interval = aws.Int32(400)
				s.LB.HealthCheck.UnhealthyThreshold = aws.Int32(1)
			},
			rules: []string{RuleHealthCheck},
			check: func(t *testing.T, r *Result) {
				if p := string(r.Calls[2].Params); !strings.Contains(p, `"HealthCheckIntervalSeconds":300`) || !strings.Contains(p, `"UnhealthyThresholdCount":2`) {
					t.Errorf("got %s", p)
				}
			},
		},
		{
			name:   "not in a VPC",
			change: func(s *Source) { s.LB.Subnets, s.LB.VPCId = nil, nil },
			held:   true, rules: []string{RuleNoSubnets}, apis: []string{},
		},
		{
			name:   "internal scheme, no security groups",
			change: func(s *Source) { s.LB.Scheme = aws.String("internal"); s.LB.SecurityGroups = nil },
			rules:  []string{RuleNoSecurityGroups},
			check: func(t *testing.T, r *Result) {
				if !strings.Contains(string(r.Calls[0].Params), `"Scheme":"internal"`) {
					t.Errorf("got %s", r.Calls[0].Params)
				}
			},
		},
		{
			name: "long name: target groups shortened",
			cfg:  Config{NLBName: "a-very-long-load-balancer-nlb-32"},
			check: func(t *testing.T, r *Result) {
				for _, tg := range r.TargetGroups {
					if len(tg.Name) > 32 || !strings.HasPrefix(tg.Name, "a-very-long-load-balancer-nlb") {
						t.Errorf("target group name %q", tg.Name)
					}
				}
			},
		},
		{
			name:   "default name too long is held",
			change: func(s *Source) { s.LB.LoadBalancerName = aws.String("a-classic-name-of-thirty-chars-") },
			held:   true, rules: []string{RuleNameTaken},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seedSource()
			if tt.change != nil {
				tt.change(s)
			}
			res := &Result{Operation: OpMigrate, Classic: aws.ToString(s.LB.LoadBalancerName), Status: StatusPlanned}
			translate(s, tt.cfg, res)
			if res.held != tt.held {
				t.Errorf("got held %t; want %t (findings %v)", res.held, tt.held, res.Findings)
			}
			for _, r := range tt.rules {
				if !slices.Contains(rules(res), r) {
					t.Errorf("got findings %v; want %s", rules(res), r)
				}
			}
			for _, r := range tt.notRules {
				if slices.Contains(rules(res), r) {
					t.Errorf("got findings %v; want no %s", res.Findings, r)
				}
			}
			if tt.apis != nil && !slices.Equal(apis(res), tt.apis) {
				t.Errorf("got calls %v; want %v", apis(res), tt.apis)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestSecurityPolicyTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range SecurityPolicies {
		if seen[m.Classic] || !strings.HasPrefix(m.Classic, "ELB") || m.Note == "" {
			t.Errorf("row %+v: want a unique Classic name and a note", m)
		}
		seen[m.Classic] = true
		if m.NLB != "" && !strings.HasPrefix(m.NLB, "ELBSecurityPolicy-TLS13-") {
			t.Errorf("row %+v: want a TLS 1.3 NLB policy", m)
		}
	}
	if !seen[classicDefaultPolicy] {
		t.Errorf("the Classic default %s is not in the table", classicDefaultPolicy)
	}
	if got := engine.SSLNegotiationPolicyType; got != "SSLNegotiationPolicyType" {
		t.Errorf("got %s", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"web-nlb", true}, {"-web", false}, {"web-", false}, {"internal-web", false}, {"web_nlb", false}, {strings.Repeat("a", 32), true}, {strings.Repeat("a", 33), false}} {
		if err := checkName(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkName(%q) = %v; want ok %t", tt.name, err, tt.ok)
		}
	}
}
