package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/elbguard/elbguard/engine"
)

// NLB attribute keys the migration sets (engine owns the proxy protocol and
// idle timeout ones).
const (
	attrCrossZone       = "load_balancing.cross_zone.enabled"
	attrDeregistration  = "deregistration_delay.timeout_seconds"
	tlsIdleTimeout      = 350 // an NLB TLS listener's idle timeout, fixed by AWS
	nameMax             = 32  // NLB and target group names
	healthMin, healthMx = 2, 10
)

// NLB health check limits (CreateTargetGroup).
const (
	intervalMin, intervalMax = 5, 300
	timeoutMin, timeoutMax   = 2, 120
)

var validName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)

// NLBName is the name of the NLB a Classic load balancer migrates to by
// default: NAME-nlb.
func NLBName(classic string) string { return classic + "-nlb" }

// checkName validates an NLB or target group name as ELBv2 does.
func checkName(name string) error {
	switch {
	case len(name) > nameMax:
		return fmt.Errorf("name %q is %d characters; an NLB name has at most %d (use --nlb-name)", name, len(name), nameMax)
	case !validName.MatchString(name):
		return fmt.Errorf("name %q: want letters, digits and hyphens, not starting or ending with a hyphen", name)
	case strings.HasPrefix(strings.ToLower(name), "internal-"):
		return fmt.Errorf("name %q must not start with internal-", name)
	}
	return nil
}

// targetGroupName is NLB-PORT, the NLB name shortened to fit.
func targetGroupName(nlb string, port int32) string {
	suffix := "-" + strconv.Itoa(int(port))
	if len(nlb)+len(suffix) > nameMax {
		nlb = strings.TrimRight(nlb[:nameMax-len(suffix)], "-")
	}
	return nlb + suffix
}

// translate plans the NLB for s into res: its calls in order, its
// listeners and target groups, and the findings (held ones hold the run).
func translate(s *Source, cfg Config, res *Result) {
	lb := &s.LB
	name := aws.ToString(lb.LoadBalancerName)
	res.NLB.Name = cfg.nlbName(name)
	if err := checkName(res.NLB.Name); err != nil {
		res.hold(RuleNameTaken, "%v", err)
		return
	}
	if len(lb.Subnets) == 0 || aws.ToString(lb.VPCId) == "" {
		res.hold(RuleNoSubnets, "%s is not in a VPC subnet (EC2-Classic or availability zones only); an NLB needs subnets", name)
		return
	}
	proxy := engine.ProxyProtocolPorts(lb, s.Policies)
	idle := int32(60)
	if cs := s.Attributes.ConnectionSettings; cs != nil && cs.IdleTimeout != nil {
		idle = aws.ToInt32(cs.IdleTimeout)
	}

	// Listeners: TCP and SSL move; HTTP and HTTPS do not.
	var moved []elbtypes.ListenerDescription
	for _, ld := range lb.ListenerDescriptions {
		l := ld.Listener
		if l == nil {
			continue
		}
		if p := strings.ToUpper(aws.ToString(l.Protocol)); engine.IsHTTPProtocol(p) {
			res.find(RuleListenerNotMigrated, "listener %s:%d -> %s:%d is not migrated: an NLB does not speak HTTP. Run `elbguard remediate %s` first (it makes HTTP TCP and HTTPS SSL, with the PROXY protocol), or move it to an Application Load Balancer",
				p, l.LoadBalancerPort, engine.InstanceProtocol(l), aws.ToInt32(l.InstancePort), name)
			continue
		}
		moved = append(moved, ld)
	}
	slices.SortFunc(moved, func(a, b elbtypes.ListenerDescription) int {
		return int(a.Listener.LoadBalancerPort - b.Listener.LoadBalancerPort)
	})
	if len(moved) == 0 {
		res.hold(RuleNothingToMigrate, "%s has no TCP or SSL listener; nothing to migrate", name)
		return
	}

	tags := []v2types.Tag{}
	var keys []string
	for k := range s.Tags {
		if !strings.HasPrefix(strings.ToLower(k), "aws:") && k != TagMigratedFrom {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		tags = append(tags, v2types.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	ours := []v2types.Tag{{Key: aws.String(TagMigratedFrom), Value: aws.String(name)}}
	tags = append(tags, ours...)

	scheme := v2types.LoadBalancerSchemeEnumInternetFacing
	if strings.EqualFold(aws.ToString(lb.Scheme), "internal") {
		scheme = v2types.LoadBalancerSchemeEnumInternal
	}
	if len(lb.SecurityGroups) == 0 {
		res.find(RuleNoSecurityGroups, "%s has no security groups, so the NLB is created without any, and an NLB cannot be given security groups later; the instances then see client addresses and NLB health checks, not a load balancer group, in their security group rules", name)
	}
	res.Calls = append(res.Calls, newCall("elbv2:CreateLoadBalancer", "nlb", &elbv2.CreateLoadBalancerInput{
		Name: aws.String(res.NLB.Name), Type: v2types.LoadBalancerTypeEnumNetwork, Scheme: scheme,
		Subnets: slices.Sorted(slices.Values(lb.Subnets)), SecurityGroups: lb.SecurityGroups, Tags: tags,
	}))
	if cz := s.Attributes.CrossZoneLoadBalancing; cz != nil && cz.Enabled {
		res.Calls = append(res.Calls, newCall("elbv2:ModifyLoadBalancerAttributes", "", &elbv2.ModifyLoadBalancerAttributesInput{
			LoadBalancerArn: aws.String(ref("nlb")),
			Attributes:      []v2types.LoadBalancerAttribute{{Key: aws.String(attrCrossZone), Value: aws.String("true")}},
		}))
	}

	// One target group per instance port.
	delay := int32(0)
	if d := s.Attributes.ConnectionDraining; d != nil && d.Enabled {
		delay = aws.ToInt32(d.Timeout)
	}
	var ports []int32
	secure := map[int32]bool{}
	for _, ld := range moved {
		p := aws.ToInt32(ld.Listener.InstancePort)
		ports = append(ports, p)
		if ip := engine.InstanceProtocol(ld.Listener); ip == "SSL" || ip == "HTTPS" {
			secure[p] = true
		}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	ids := s.instances()
	for _, port := range ports {
		tgRef := fmt.Sprintf("tg-%d", port)
		proto := v2types.ProtocolEnumTcp
		if secure[port] {
			proto = v2types.ProtocolEnumTls
		}
		in := &elbv2.CreateTargetGroupInput{
			Name: aws.String(targetGroupName(res.NLB.Name, port)), Protocol: proto, Port: aws.Int32(port),
			VpcId: lb.VPCId, TargetType: v2types.TargetTypeEnumInstance, Tags: ours,
		}
		hc := healthCheck(lb.HealthCheck, port, proxy, res)
		hc.apply(in)
		res.Calls = append(res.Calls, newCall("elbv2:CreateTargetGroup", tgRef, in))
		attrs := []v2types.TargetGroupAttribute{{Key: aws.String(attrDeregistration), Value: aws.String(strconv.Itoa(int(delay)))}}
		if proxy[port] {
			attrs = append(attrs, v2types.TargetGroupAttribute{Key: aws.String(engine.AttrProxyProtocolV2), Value: aws.String("true")})
		}
		res.Calls = append(res.Calls, newCall("elbv2:ModifyTargetGroupAttributes", "", &elbv2.ModifyTargetGroupAttributesInput{
			TargetGroupArn: aws.String(ref(tgRef)), Attributes: attrs,
		}))
		tg := TargetGroup{Name: aws.ToString(in.Name), Port: port, ProxyProtocolV2: proxy[port], HealthCheck: hc.String(), DeregistrationDelay: delay}
		if len(ids) > 0 {
			var targets []v2types.TargetDescription
			for _, id := range ids {
				targets = append(targets, v2types.TargetDescription{Id: aws.String(id), Port: aws.Int32(port)})
				tg.Targets = append(tg.Targets, Target{ID: id, Port: port})
			}
			res.Calls = append(res.Calls, newCall("elbv2:RegisterTargets", "", &elbv2.RegisterTargetsInput{
				TargetGroupArn: aws.String(ref(tgRef)), Targets: targets,
			}))
		}
		res.TargetGroups = append(res.TargetGroups, tg)
	}

	// Listeners, each after its target group.
	for _, ld := range moved {
		l := ld.Listener
		port, inst := l.LoadBalancerPort, aws.ToInt32(l.InstancePort)
		from := fmt.Sprintf("%s:%d -> %s:%d", strings.ToUpper(aws.ToString(l.Protocol)), port, engine.InstanceProtocol(l), inst)
		lRef := fmt.Sprintf("listener-%d", port)
		in := &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(ref("nlb")), Port: aws.Int32(port), Protocol: v2types.ProtocolEnumTcp,
			DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: aws.String(ref(fmt.Sprintf("tg-%d", inst)))}},
			Tags:           ours,
		}
		out := Listener{Port: port, Protocol: "TCP", From: from, TargetGroup: targetGroupName(res.NLB.Name, inst)}
		if strings.EqualFold(aws.ToString(l.Protocol), "SSL") {
			in.Protocol = v2types.ProtocolEnumTls
			out.Protocol = "TLS"
			out.Certificate = aws.ToString(l.SSLCertificateId)
			in.Certificates = []v2types.Certificate{{CertificateArn: l.SSLCertificateId}}
			pol, classic, problem := nlbSecurityPolicy(s, ld)
			switch {
			case problem != nil && cfg.SSLPolicy != "":
				pol = cfg.SSLPolicy
				res.find(RuleSSLPolicyMapped, "%v; --ssl-policy %s is used instead", problem, pol)
			case problem != nil:
				res.hold(RuleSSLPolicy, "%v. Choose one with --ssl-policy (for example ELBSecurityPolicy-TLS13-1-2-2021-06); nothing is created until then", problem)
			default:
				res.find(RuleSSLPolicyMapped, "listener %d: Classic %s becomes %s", port, classic, pol)
			}
			in.SslPolicy = aws.String(pol)
			out.SSLPolicy = pol
			out.IdleTimeout = tlsIdleTimeout
			if idle > tlsIdleTimeout {
				res.find(RuleTLSIdleTimeout, "listener %d: the Classic idle timeout is %d s, but an NLB TLS listener closes idle connections after %d s (fixed by AWS). Long-lived quiet connections (WebSockets) must send pings more often than every %d s, or use a TCP pass-through listener on %d and end TLS on the instances",
					port, idle, tlsIdleTimeout, tlsIdleTimeout, port)
			}
		}
		res.Calls = append(res.Calls, newCall("elbv2:CreateListener", lRef, in))
		if in.Protocol == v2types.ProtocolEnumTcp {
			t := min(max(idle, engine.NetworkMinIdle), engine.NetworkMaxIdle)
			if t != idle {
				res.find(RuleIdleTimeoutRaised, "listener %d: the Classic idle timeout %d s is below the NLB minimum; %d s is used", port, idle, t)
			}
			out.IdleTimeout = t
			res.Calls = append(res.Calls, newCall("elbv2:ModifyListenerAttributes", "", &elbv2.ModifyListenerAttributesInput{
				ListenerArn: aws.String(ref(lRef)),
				Attributes:  []v2types.ListenerAttribute{{Key: aws.String(engine.AttrTCPIdleTimeout), Value: aws.String(strconv.Itoa(int(t)))}},
			}))
		}
		res.Listeners = append(res.Listeners, out)
	}
	notCarried(s, res)
}

// notCarried reports what an NLB cannot carry over: cookie stickiness,
// access logs, back-end authentication.
func notCarried(s *Source, res *Result) {
	name := aws.ToString(s.LB.LoadBalancerName)
	for _, ld := range s.LB.ListenerDescriptions {
		for _, pn := range ld.PolicyNames {
			if p, ok := s.policy(pn); ok && engine.IsStickinessPolicyType(aws.ToString(p.PolicyTypeName)) {
				res.find(RuleStickiness, "listener %d has the cookie stickiness policy %s (%s): an NLB has no cookies, only source-IP stickiness (target group attribute stickiness.type=source_ip), which behaves differently behind NAT; not turned on",
					ld.Listener.LoadBalancerPort, pn, aws.ToString(p.PolicyTypeName))
			}
		}
	}
	for _, b := range s.LB.BackendServerDescriptions {
		for _, pn := range b.PolicyNames {
			if p, ok := s.policy(pn); ok && aws.ToString(p.PolicyTypeName) == "BackendServerAuthenticationPolicyType" {
				res.find(RuleBackendAuth, "instance port %d has the back-end authentication policy %s: an NLB TLS target group does not verify the instances' certificates; not carried over",
					aws.ToInt32(b.InstancePort), pn)
			}
		}
	}
	if al := s.Attributes.AccessLog; al != nil && al.Enabled {
		res.find(RuleAccessLogs, "%s writes access logs to s3://%s/%s: not carried over. An NLB logs TLS connections only, in another format, and its log delivery needs a different bucket policy (delivery.logs.amazonaws.com); set access_logs.s3.enabled, access_logs.s3.bucket and access_logs.s3.prefix on the NLB yourself",
			name, aws.ToString(al.S3BucketName), aws.ToString(al.S3BucketPrefix))
	}
}

// targetHealthCheck is a target group's health check settings.
type targetHealthCheck struct {
	protocol                           v2types.ProtocolEnum
	port, path, matcher                string
	interval, timeout, healthy, unheal int32
}

func (h targetHealthCheck) apply(in *elbv2.CreateTargetGroupInput) {
	in.HealthCheckProtocol = h.protocol
	in.HealthCheckPort = aws.String(h.port)
	if h.path != "" {
		in.HealthCheckPath = aws.String(h.path)
	}
	if h.matcher != "" {
		in.Matcher = &v2types.Matcher{HttpCode: aws.String(h.matcher)}
	}
	in.HealthCheckIntervalSeconds = aws.Int32(h.interval)
	in.HealthCheckTimeoutSeconds = aws.Int32(h.timeout)
	in.HealthyThresholdCount = aws.Int32(h.healthy)
	in.UnhealthyThresholdCount = aws.Int32(h.unheal)
}

func (h targetHealthCheck) String() string {
	return fmt.Sprintf("%s:%s%s every %ds timeout %ds healthy %d unhealthy %d", h.protocol, h.port, h.path, h.interval, h.timeout, h.healthy, h.unheal)
}

// healthCheck translates the Classic health check into the one of the
// target group on instance port tgPort. Values an NLB cannot take are moved
// to the nearest allowed one, with a finding.
func healthCheck(hc *elbtypes.HealthCheck, tgPort int32, proxy map[int32]bool, res *Result) targetHealthCheck {
	h := targetHealthCheck{protocol: v2types.ProtocolEnumTcp, port: "traffic-port", interval: 30, timeout: 10, healthy: 5, unheal: 2}
	if hc == nil {
		res.find(RuleHealthCheck, "the Classic load balancer has no health check; target group %d gets a TCP check on its own port", tgPort)
		return h
	}
	target := aws.ToString(hc.Target)
	proto, rest, _ := strings.Cut(target, ":")
	portText, path, hasPath := strings.Cut(rest, "/")
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		res.find(RuleHealthCheck, "the Classic health check target %q cannot be read; target group %d gets a TCP check on its own port", target, tgPort)
		return h
	}
	if int32(port) != tgPort {
		h.port = portText
		if proxy[int32(port)] != proxy[tgPort] {
			res.find(RuleHealthCheck, "target group %d: its health checks go to instance port %d (the Classic check %s), which %s the PROXY header on the Classic load balancer, while the target group %s proxy protocol v2; the NLB sends its health checks as the target group says",
				tgPort, port, target, map[bool]string{true: "gets", false: "does not get"}[proxy[int32(port)]], map[bool]string{true: "has", false: "does not have"}[proxy[tgPort]])
		}
	}
	switch strings.ToUpper(proto) {
	case "HTTP", "HTTPS":
		h.protocol = v2types.ProtocolEnum(strings.ToUpper(proto))
		h.path = "/"
		if hasPath {
			h.path = "/" + path
		}
		h.matcher = "200" // a Classic HTTP check passes on 200 only
	case "TCP":
	case "SSL":
		res.find(RuleHealthCheck, "target group %d: the Classic check %s completes a TLS handshake; an NLB has no SSL health check, so it checks that a TCP connection opens (use HTTPS with a path for a deeper check)", tgPort, target)
	default:
		res.find(RuleHealthCheck, "the Classic health check protocol %q is unknown; target group %d gets a TCP check", proto, tgPort)
	}
	clamp := func(what string, v, lo, hi int32) int32 {
		c := min(max(v, lo), hi)
		if c != v {
			res.find(RuleHealthCheck, "target group %d: health check %s %d is outside the NLB's %d-%d; %d is used", tgPort, what, v, lo, hi, c)
		}
		return c
	}
	h.interval = clamp("interval", aws.ToInt32(hc.Interval), intervalMin, intervalMax)
	h.timeout = clamp("timeout", aws.ToInt32(hc.Timeout), timeoutMin, timeoutMax)
	h.healthy = clamp("healthy threshold", aws.ToInt32(hc.HealthyThreshold), healthMin, healthMx)
	h.unheal = clamp("unhealthy threshold", aws.ToInt32(hc.UnhealthyThreshold), healthMin, healthMx)
	return h
}
