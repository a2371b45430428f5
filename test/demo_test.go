//go:build integration

package test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/elbguard/elbguard/test/harness"
)

// runDemo runs `scripts/demo.sh PART` exactly as `make demo` does, with a
// private work directory and extra flags, and returns its output and the
// work directory.
func runDemo(t *testing.T, part string, flags ...string) (string, string) {
	t.Helper()
	root := harness.Root(t)
	work := t.TempDir()
	args := append([]string{filepath.Join(root, "scripts", "demo.sh"), part, "--color", "never", "--workdir", work}, flags...)
	res := harness.Run(t, 9*time.Minute, "bash", args, harness.WithDir(root), harness.WithEnv("NO_COLOR=1"))
	out := res.Stdout + res.Stderr
	if res.Code != 0 {
		t.Fatalf("scripts/demo.sh %s exited %d; want 0\n%s", part, res.Code, out)
	}
	return out, work
}

// TestDemoAll runs the whole demo (`make demo`) against a moto_server of the
// test's own, then checks its outcome independently: the tagged load
// balancers fixed and the untagged one untouched (read back from moto with
// the SDK), the 301 to https, the WebSocket echo, and the access log line
// with the client address the load balancer announced.
func TestDemoAll(t *testing.T) {
	for _, tool := range []string{"moto_server", "aws-lambda-rie", "haproxy"} {
		harness.Tool(t, tool)
	}
	m := harness.StartMoto(t)
	out, work := runDemo(t, "all", "--moto-url", m.URL)

	for _, want := range []string{
		"All 21 steps passed",
		"HTTP/1.1 301 Moved Permanently",
		"Location: https://demo.elbguard.test/login?next=%2Fchat&lang=en",
		`sent "bye", got it back`,
		"HAProxy: TCP:80 on",
		"web-gated (mode enforce): held, no changes",
		"finding backends_not_ready: 1 of 1 registered instances lack elbguard:proxy-ready=true",
		"held DeleteLoadBalancerListeners 80",
		"held: backends_not_ready 1 of 1 registered instances lack",
		"Plan: 2 to change, 0 held, 0 deferred.",
		"web-gated (mode enforce): remediated, 11 changes",
		"migrate web-classic -> web-classic-nlb: planned",
		"NLB web-classic-nlb created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q\n%s", want, out)
		}
	}

	// The access log: every line from the client at 127.0.0.2, the
	// WebSocket session among them.
	lines := demoFileLines(t, filepath.Join(work, "access.log"))
	var ws string
	for _, l := range lines {
		if !strings.HasPrefix(l, "127.0.0.2 ") {
			t.Errorf("access log line %q does not start with the announced client IP 127.0.0.2", l)
		}
		if strings.Contains(l, `"GET /ws HTTP/1.1" 101 `) {
			ws = l
		}
	}
	if ws == "" {
		t.Errorf("access log has no line for the WebSocket session; got %q", lines)
	}

	// The load balancers, read back from moto independently of the demo.
	cfg := m.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	classic := elb.NewFromConfig(cfg)
	lbs, err := classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatalf("describe Classic load balancers: %v", err)
	}
	got := map[string][]string{}       // name -> "PROTO:port>instance port"
	instances := map[string][]string{} // name -> registered instance ids
	backend := map[string][]string{}   // name -> "port:policy"
	for _, lb := range lbs.LoadBalancerDescriptions {
		name := aws.ToString(lb.LoadBalancerName)
		for _, ld := range lb.ListenerDescriptions {
			got[name] = append(got[name], strings.ToUpper(aws.ToString(ld.Listener.Protocol))+":"+
				demoItoa(ld.Listener.LoadBalancerPort)+">"+demoItoa(aws.ToInt32(ld.Listener.InstancePort)))
		}
		slices.Sort(got[name])
		for _, in := range lb.Instances {
			instances[name] = append(instances[name], aws.ToString(in.InstanceId))
		}
		for _, b := range lb.BackendServerDescriptions {
			for _, p := range b.PolicyNames {
				backend[name] = append(backend[name], demoItoa(aws.ToInt32(b.InstancePort))+":"+p)
			}
		}
	}
	// moto reports a Classic listener's own protocol as its instance
	// protocol, so only the front protocols and the ports are compared.
	if want := []string{"SSL:443>81", "TCP:80>80"}; !slices.Equal(got["web-classic"], want) {
		t.Errorf("web-classic listeners: got %q; want %q", got["web-classic"], want)
	}
	if want := []string{"HTTP:80>80", "HTTPS:443>81"}; !slices.Equal(got["web-legacy"], want) {
		t.Errorf("web-legacy (untagged) listeners: got %q; want them untouched: %q", got["web-legacy"], want)
	}
	for _, port := range []string{"80", "81"} {
		found := false
		for _, b := range backend["web-classic"] {
			found = found || strings.HasPrefix(b, port+":")
		}
		if !found {
			t.Errorf("web-classic instance port %s has no backend policy; got %q", port, backend["web-classic"])
		}
	}
	if len(backend["web-classic"]) > 0 {
		pols, err := classic.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String("web-classic")})
		if err != nil {
			t.Fatalf("describe web-classic policies: %v", err)
		}
		proxy := false
		for _, p := range pols.PolicyDescriptions {
			for _, a := range p.PolicyAttributeDescriptions {
				proxy = proxy || (aws.ToString(p.PolicyTypeName) == "ProxyProtocolPolicyType" &&
					aws.ToString(a.AttributeName) == "ProxyProtocol" && aws.ToString(a.AttributeValue) == "true")
			}
		}
		if !proxy {
			t.Errorf("web-classic has no ProxyProtocolPolicyType policy with ProxyProtocol=true")
		}
	}
	// The readiness step's load balancer: enforced only after its one
	// instance was tagged elbguard:proxy-ready=true.
	if want := []string{"SSL:443>81", "TCP:80>80"}; !slices.Equal(got["web-gated"], want) {
		t.Errorf("web-gated listeners: got %q; want %q (enforced once its instance is ready)", got["web-gated"], want)
	}
	if len(instances["web-gated"]) != 1 {
		t.Fatalf("web-gated instances: got %q; want one", instances["web-gated"])
	}
	tags, err := ec2.NewFromConfig(cfg).DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("resource-id"), Values: instances["web-gated"]},
		{Name: aws.String("key"), Values: []string{"elbguard:proxy-ready"}},
	}})
	if err != nil {
		t.Fatalf("describe tags of %s: %v", instances["web-gated"][0], err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "true" {
		t.Errorf("instance %s behind web-gated: elbguard:proxy-ready tags %+v; want true", instances["web-gated"][0], tags.Tags)
	}
	if len(backend["web-legacy"]) > 0 {
		t.Errorf("web-legacy (untagged) backend policies: got %q; want none", backend["web-legacy"])
	}

	v2 := elbv2.NewFromConfig(cfg)
	tgs, err := v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"edge-tcp"}})
	if err != nil || len(tgs.TargetGroups) != 1 {
		t.Fatalf("describe target group edge-tcp: %v (%d found)", err, len(tgs.TargetGroups))
	}
	attrs, err := v2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tgs.TargetGroups[0].TargetGroupArn})
	if err != nil {
		t.Fatalf("describe edge-tcp attributes: %v", err)
	}
	pp2 := "absent" // moto omits proxy_protocol_v2.enabled until it is set
	for _, a := range attrs.Attributes {
		if aws.ToString(a.Key) == "proxy_protocol_v2.enabled" {
			pp2 = aws.ToString(a.Value)
		}
	}
	if pp2 != "true" {
		t.Errorf("edge-tcp proxy_protocol_v2.enabled: got %s; want true", pp2)
	}
}

// TestDemoProxyStandIn runs the proxy half with the Go stand-in load
// balancer that replaces HAProxy on machines without it.
func TestDemoProxyStandIn(t *testing.T) {
	out, work := runDemo(t, "proxy", "--no-haproxy")
	for _, want := range []string{"All 7 steps passed", "the stand-in load balancer: TCP:80 on", "HTTP/1.1 301 Moved Permanently", `sent "bye", got it back`} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q\n%s", want, out)
		}
	}
	lines := demoFileLines(t, filepath.Join(work, "access.log"))
	if len(lines) != 3 {
		t.Errorf("access log: got %d lines; want 3 (redirect, request, WebSocket): %q", len(lines), lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "127.0.0.2 ") {
			t.Errorf("access log line %q does not start with the announced client IP 127.0.0.2", l)
		}
	}
}

func demoFileLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func demoItoa(n int32) string { return strconv.Itoa(int(n)) }
