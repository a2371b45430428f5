//go:build integration

package infra

import (
	"errors"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/proxy"
	"github.com/elbguard/elbguard/test/harness"
)

const testCert = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"

// listeners renders Classic ELB listeners as "tcp:80->tcp:80" strings.
func classicListeners(lb map[string]any) []string {
	var out []string
	for _, l := range dig(lb, "Properties", "Listeners").([]any) {
		s := flat(dig(l, "Protocol")) + ":" + flat(dig(l, "LoadBalancerPort")) + "->" + flat(dig(l, "InstanceProtocol")) + ":" + flat(dig(l, "InstancePort"))
		if c := dig(l, "SSLCertificateId"); c != nil {
			s += " cert=" + flat(c)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func tagValue(r map[string]any, key string) any {
	tags, _ := dig(r, "Properties", "Tags").([]any)
	for _, tag := range tags {
		if dig(tag, "Key") == key {
			return dig(tag, "Value")
		}
	}
	return nil
}

func TestEdgeDemoClassic(t *testing.T) {
	tests := []struct {
		name          string
		props         EdgeDemoProps
		wantListeners []string
		wantOpen      []string
	}{
		{name: "without certificate: TCP only", props: EdgeDemoProps{},
			wantListeners: []string{"tcp:80->tcp:80", "tcp:8080->tcp:81"}, wantOpen: []string{"80", "8080"}},
		{name: "with certificate", props: EdgeDemoProps{CertificateArn: testCert},
			wantListeners: []string{"ssl:443->tcp:81 cert=" + testCert, "tcp:80->tcp:80"}, wantOpen: []string{"443", "80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, d := edgeStack(t, tt.props)
			lbID, lb := only(t, tpl, "AWS::ElasticLoadBalancing::LoadBalancer")
			if got := classicListeners(lb); !reflect.DeepEqual(got, tt.wantListeners) {
				t.Errorf("listeners = %v; want %v", got, tt.wantListeners)
			}
			p := lb["Properties"].(map[string]any)
			if got := dig(p, "HealthCheck", "Target"); got != "HTTP:81/healthz" {
				t.Errorf("health check = %v; want HTTP:81/healthz", got)
			}
			if p["Scheme"] != "internet-facing" || p["CrossZone"] != true {
				t.Errorf("scheme/cross-zone = %v/%v; want internet-facing/true", p["Scheme"], p["CrossZone"])
			}
			if got := tagValue(lb, DefaultTagKey); got != "enforce" {
				t.Errorf("tag %s = %v; want enforce", DefaultTagKey, got)
			}
			lbSG := refID(p["SecurityGroups"].([]any)[0])
			checkInstanceIngress(t, tpl, d, lbSG)
			var open []string
			for _, rule := range dig(resources(tpl, "AWS::EC2::SecurityGroup")[lbSG], "Properties", "SecurityGroupIngress").([]any) {
				open = append(open, flat(dig(rule, "FromPort")))
			}
			sort.Strings(open)
			if !reflect.DeepEqual(open, tt.wantOpen) {
				t.Errorf("load balancer security group opens %v; want %v", open, tt.wantOpen)
			}
			_, asg := only(t, tpl, "AWS::AutoScaling::AutoScalingGroup")
			if got := strs(dig(asg, "Properties", "LoadBalancerNames")); len(got) != 1 || got[0] != "<Ref:"+lbID+">" {
				t.Errorf("ASG LoadBalancerNames = %v; want the Classic ELB", got)
			}
			checkInstances(t, tpl)
		})
	}
}

// checkInstanceIngress: the instances admit exactly ports 80 and 81, from
// the load balancer's security group only.
func checkInstanceIngress(t *testing.T, tpl map[string]any, d *EdgeDemo, lbSG string) {
	t.Helper()
	instSG := d.Stack.GetLogicalId(d.InstanceSecurityGroup.Node().DefaultChild().(awscdk.CfnElement))
	if in := dig(resources(tpl, "AWS::EC2::SecurityGroup")[*instSG], "Properties", "SecurityGroupIngress"); in != nil {
		t.Errorf("instance security group has inline ingress %v; want none", in)
	}
	var ports []string
	for id, r := range resources(tpl, "AWS::EC2::SecurityGroupIngress") {
		p := r["Properties"].(map[string]any)
		if refID(p["GroupId"]) != *instSG {
			continue
		}
		if refID(p["SourceSecurityGroupId"]) != lbSG || p["CidrIp"] != nil || p["FromPort"] != p["ToPort"] {
			t.Errorf("instance ingress %s = %v; want one port from the load balancer's security group %s", id, p, lbSG)
		}
		ports = append(ports, flat(p["FromPort"]))
	}
	sort.Strings(ports)
	if !reflect.DeepEqual(ports, []string{"80", "81"}) {
		t.Errorf("instances admit ports %v; want [80 81]", ports)
	}
}

// checkInstances: AL2023 arm64 from the SSM parameter at deploy time,
// IMDSv2, encrypted disk, isolated subnets without NAT, and a role that reads
// only the proxy binary.
func checkInstances(t *testing.T, tpl map[string]any) {
	t.Helper()
	_, lt := only(t, tpl, "AWS::EC2::LaunchTemplate")
	data := dig(lt, "Properties", "LaunchTemplateData").(map[string]any)
	if data["InstanceType"] != DefaultInstanceType || dig(data, "MetadataOptions", "HttpTokens") != "required" {
		t.Errorf("instance type %v, HttpTokens %v; want %s, required", data["InstanceType"], dig(data, "MetadataOptions", "HttpTokens"), DefaultInstanceType)
	}
	if got := dig(data, "BlockDeviceMappings").([]any)[0]; dig(got, "Ebs", "Encrypted") != true {
		t.Errorf("root volume %v; want encrypted", got)
	}
	param := refID(data["ImageId"])
	p, _ := dig(tpl, "Parameters", param).(map[string]any)
	if p["Type"] != "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>" || p["Default"] != "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64" {
		t.Errorf("ImageId parameter %s = %v; want the AL2023 arm64 SSM parameter resolved at deploy time", param, p)
	}
	if n := len(resources(tpl, "AWS::EC2::NatGateway")); n != 0 {
		t.Errorf("got %d NAT gateways; want 0", n)
	}
	_, ep := only(t, tpl, "AWS::EC2::VPCEndpoint")
	if got := flat(dig(ep, "Properties", "ServiceName")); !strings.HasSuffix(got, ".s3") {
		t.Errorf("VPC endpoint %s; want the S3 gateway endpoint", got)
	}
	_, asg := only(t, tpl, "AWS::AutoScaling::AutoScalingGroup")
	ap := asg["Properties"].(map[string]any)
	if ap["MinSize"] != "2" || ap["MaxSize"] != "2" || ap["HealthCheckType"] != "ELB" {
		t.Errorf("ASG min/max/health = %v/%v/%v; want 2/2/ELB", ap["MinSize"], ap["MaxSize"], ap["HealthCheckType"])
	}
	if !slices.ContainsFunc(asList(ap["Tags"]), func(tag any) bool {
		return dig(tag, "Key") == engine.TagProxyReady && dig(tag, "Value") == "true" && dig(tag, "PropagateAtLaunch") == true
	}) {
		t.Errorf("ASG tags %v; want %s=true propagated to the instances (the readiness gate)", ap["Tags"], engine.TagProxyReady)
	}
	if got := dig(asg, "UpdatePolicy", "AutoScalingRollingUpdate", "MaxBatchSize"); got != float64(1) {
		t.Errorf("ASG rolling update batch = %v; want 1 (a new proxy binary replaces instances one at a time)", got)
	}
	for _, s := range strs(ap["VPCZoneIdentifier"]) {
		if !strings.Contains(s, "Instances") {
			t.Errorf("ASG subnet %s; want the isolated Instances subnets", s)
		}
	}
	_, pol := only(t, tpl, "AWS::IAM::Policy")
	sts := dig(pol, "Properties", "PolicyDocument", "Statement").([]any)
	if len(sts) != 1 || flat(dig(sts[0], "Action")) != "s3:GetObject" || strings.Contains(flat(dig(sts[0], "Resource")), "*") {
		t.Errorf("instance role statements %v; want s3:GetObject on the one proxy object", flat(sts))
	}
}

var cfnToken = regexp.MustCompile(`<(Ref|GetAtt):[^>]+>`)

var s3Download = regexp.MustCompile(`(?m)^aws s3 cp 's3://cdk-hnb659fds-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}/[0-9a-f]{64}[^']*' '/tmp/elbguard-proxy.rpm' --region <Ref:AWS::Region>$`)

// TestEdgeDemoUserData reads the user data back from the template and checks
// it downloads the proxy asset, installs the repository's unit and config
// byte for byte, starts the proxy in front of the demo app, and parses as
// bash.
func TestEdgeDemoUserData(t *testing.T) {
	tpl, _ := edgeStack(t, EdgeDemoProps{})
	_, lt := only(t, tpl, "AWS::EC2::LaunchTemplate")
	script := flat(dig(lt, "Properties", "LaunchTemplateData", "UserData"))
	if !strings.HasPrefix(script, "#!/bin/bash\nset -euo pipefail\n") {
		t.Errorf("user data starts %q; want #!/bin/bash then set -euo pipefail", script[:min(len(script), 60)])
	}
	if !s3Download.MatchString(script) {
		t.Errorf("user data does not download the proxy asset from the bootstrap bucket:\n%s", script[:min(len(script), 600)])
	}
	unit, config, err := ReadProxyFiles(harness.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	files := scriptFiles(script)
	_ = unit // the package installs it
	for path, want := range map[string]string{
		"/etc/elbguard/proxy.yaml": config,
		demoAppPath:                demoApp,
	} {
		if files[path] != want {
			t.Errorf("user data writes %s with %d bytes; want the %d bytes of the repository file", path, len(files[path]), len(want))
		}
	}
	if _, err := proxy.ParseConfig([]byte(files["/etc/elbguard/proxy.yaml"])); err != nil {
		t.Errorf("the proxy rejects the config the user data writes: %v", err)
	}
	order := []string{
		"aws s3 cp ",
		"rpm -U --replacepkgs /tmp/elbguard-proxy.rpm\n",
		"cat > /etc/elbguard/proxy.yaml ",
		"systemctl daemon-reload\n",
		"systemctl enable --now elbguard-demo-app.service elbguard-proxy.socket elbguard-proxy.service\n",
		"systemctl reload-or-restart elbguard-proxy.service\n",
	}
	last := -1
	for _, step := range order {
		i := strings.Index(script, step)
		if i <= last {
			t.Errorf("user data step %q at %d; want it after the previous step (at %d)", step, i, last)
		}
		last = i
	}
	cmd := exec.Command("bash", "-n")
	// CloudFormation fills in the tokens; bash must parse what results.
	cmd.Stdin = strings.NewReader(cfnToken.ReplaceAllString(script, "token"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
}

func TestEdgeDemoNLB(t *testing.T) {
	tests := []struct {
		name          string
		props         EdgeDemoProps
		wantListeners []string
	}{
		{name: "with certificate", props: EdgeDemoProps{LoadBalancer: "nlb", CertificateArn: testCert, TagKey: "team:pp"},
			wantListeners: []string{"TCP:80->80", "TLS:443->81 cert=" + testCert + " policy=ELBSecurityPolicy-TLS13-1-2-2021-06"}},
		{name: "without certificate", props: EdgeDemoProps{LoadBalancer: "nlb"},
			wantListeners: []string{"TCP:80->80", "TCP:8080->81"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, d := edgeStack(t, tt.props)
			_, lb := only(t, tpl, "AWS::ElasticLoadBalancingV2::LoadBalancer")
			p := lb["Properties"].(map[string]any)
			if p["Type"] != "network" || p["Scheme"] != "internet-facing" {
				t.Errorf("load balancer type/scheme = %v/%v; want network/internet-facing", p["Type"], p["Scheme"])
			}
			if got := tagValue(lb, d.Props.TagKey); got != "enforce" {
				t.Errorf("tag %s = %v; want enforce", d.Props.TagKey, got)
			}
			groups := resources(tpl, "AWS::ElasticLoadBalancingV2::TargetGroup")
			var got []string
			for _, l := range resources(tpl, "AWS::ElasticLoadBalancingV2::Listener") {
				lp := l["Properties"].(map[string]any)
				tg := groups[refID(dig(lp["DefaultActions"].([]any)[0], "TargetGroupArn"))]
				s := flat(lp["Protocol"]) + ":" + flat(lp["Port"]) + "->" + flat(dig(tg, "Properties", "Port"))
				if c, ok := lp["Certificates"].([]any); ok {
					s += " cert=" + flat(dig(c[0], "CertificateArn"))
				}
				if pol, ok := lp["SslPolicy"]; ok {
					s += " policy=" + flat(pol)
				}
				got = append(got, s)
				tp := tg["Properties"].(map[string]any)
				if tp["Protocol"] != "TCP" || tp["HealthCheckProtocol"] != "HTTP" || tp["HealthCheckPort"] != "81" || tp["HealthCheckPath"] != "/healthz" {
					t.Errorf("target group %v; want TCP with HTTP health checks on 81/healthz", tp)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.wantListeners) {
				t.Errorf("listeners = %v; want %v", got, tt.wantListeners)
			}
			checkInstanceIngress(t, tpl, d, refID(p["SecurityGroups"].([]any)[0]))
			checkInstances(t, tpl)
		})
	}
}

func TestNewEdgeDemoStackErrors(t *testing.T) {
	root := harness.Root(t)
	tests := []struct {
		name  string
		props EdgeDemoProps
		want  string
	}{
		{name: "invalid props", props: EdgeDemoProps{LoadBalancer: "alb", RepoRoot: root}, want: "LoadBalancer"},
		{name: "missing proxy files", props: EdgeDemoProps{RepoRoot: t.TempDir()}, want: "read proxy unit"},
		{name: "missing package", props: EdgeDemoProps{RepoRoot: root, ProxyPackage: "/nonexistent/elbguard-proxy.rpm"}, want: "run make build-assets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			d, err := NewEdgeDemoStack(app, EdgeDemoStack, nil, &tt.props)
			if d != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewEdgeDemoStack() = %v, %v; want an error containing %q", d, err, tt.want)
			}
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("app has %d stacks after a failed NewEdgeDemoStack; want 0", n)
			}
		})
	}
}

// TestBuild checks the app's wiring: the ElbGuard stack always, the demo
// only with Demo, depending on ElbGuard, and an invalid config rejected.
func TestBuild(t *testing.T) {
	a := assets(t)
	cfg := Config{
		Enforcer: EnforcerProps{TagKey: "team:pp", LambdaAssetDir: a.lambdaDir},
		Edge:     EdgeDemoProps{ProxyPackage: a.proxyPackage, RepoRoot: harness.Root(t)},
	}
	app := awscdk.NewApp(nil)
	if err := Build(app, cfg); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := stackNames(app); !reflect.DeepEqual(got, []string{StackName}) {
		t.Errorf("stacks without demo = %v; want [%s]", got, StackName)
	}

	cfg.Demo = true
	app = awscdk.NewApp(nil)
	if err := Build(app, cfg); err != nil {
		t.Fatalf("Build(demo): %v", err)
	}
	if got := stackNames(app); !reflect.DeepEqual(got, []string{StackName, EdgeDemoStack}) {
		t.Errorf("stacks with demo = %v; want [%s %s]", got, StackName, EdgeDemoStack)
	}
	demo := app.Node().FindChild(jsii.String(EdgeDemoStack)).(awscdk.Stack)
	deps := *demo.Dependencies()
	if len(deps) != 1 || *deps[0].StackName() != StackName {
		t.Errorf("demo stack dependencies = %v; want [%s]", deps, StackName)
	}
	tpl := synthChecked(t, demo)
	_, lb := only(t, tpl, "AWS::ElasticLoadBalancing::LoadBalancer")
	if got := tagValue(lb, "team:pp"); got != "enforce" {
		t.Errorf("demo load balancer tag team:pp = %v; want enforce (the enforcer's TagKey)", got)
	}

	cfg.Enforcer.DefaultMode = "sometimes"
	if err := Build(awscdk.NewApp(nil), cfg); !errors.Is(err, ErrInvalidProps) {
		t.Errorf("Build(invalid) = %v; want ErrInvalidProps", err)
	}
}

func stackNames(app awscdk.App) []string {
	var out []string
	for _, c := range *app.Node().Children() {
		if s, ok := c.(awscdk.Stack); ok {
			out = append(out, *s.StackName())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] == StackName || (out[j] != StackName && out[i] < out[j]) })
	return out
}
