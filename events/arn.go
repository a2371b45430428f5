package events

import "strings"

// ARN kinds of Elastic Load Balancing resources.
const (
	arnLoadBalancer = "loadbalancer/"
	arnListener     = "listener/"
	arnTargetGroup  = "targetgroup/"
)

// elbResource splits an Elastic Load Balancing ARN into its resource part
// ("loadbalancer/net/name/id", "loadbalancer/name", ...). It reports false for
// anything that is not an elasticloadbalancing ARN.
func elbResource(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" {
		return "", false
	}
	return parts[5], true
}

// ClassicNameFromARN returns the name of a Classic Load Balancer ARN
// (arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/NAME) and false
// for any other ARN, ELBv2 load balancers included.
func ClassicNameFromARN(arn string) (string, bool) {
	res, ok := elbResource(arn)
	if !ok || !strings.HasPrefix(res, arnLoadBalancer) {
		return "", false
	}
	name := strings.TrimPrefix(res, arnLoadBalancer)
	if name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// IsV2LoadBalancerARN reports whether arn names an ELBv2 load balancer
// (loadbalancer/app|net|gwy/NAME/ID).
func IsV2LoadBalancerARN(arn string) bool {
	res, ok := elbResource(arn)
	return ok && strings.HasPrefix(res, arnLoadBalancer) && strings.Count(res, "/") == 3
}

// IsTargetGroupARN reports whether arn names an ELBv2 target group.
func IsTargetGroupARN(arn string) bool {
	res, ok := elbResource(arn)
	return ok && strings.HasPrefix(res, arnTargetGroup)
}

// LoadBalancerARNFromListener derives a load balancer ARN from one of its
// listener ARNs (listener/net/NAME/LBID/LISTENERID → loadbalancer/net/NAME/LBID)
// without an API call. It reports false when arn is not a listener ARN.
func LoadBalancerARNFromListener(arn string) (string, bool) {
	res, ok := elbResource(arn)
	if !ok || !strings.HasPrefix(res, arnListener) || strings.Count(res, "/") != 4 {
		return "", false
	}
	prefix := strings.TrimSuffix(arn, res)
	rest := strings.TrimPrefix(res, arnListener)
	rest = rest[:strings.LastIndex(rest, "/")]
	return prefix + arnLoadBalancer + rest, true
}

// arnListenerRule is the ARN kind of an ELBv2 listener rule.
const arnListenerRule = "listener-rule/"

// LoadBalancerARNFromRule derives a load balancer ARN from one of its rule
// ARNs (listener-rule/net/NAME/LBID/LISTENERID/RULEID →
// loadbalancer/net/NAME/LBID) without an API call. It reports false when arn
// is not a rule ARN.
func LoadBalancerARNFromRule(arn string) (string, bool) {
	res, ok := elbResource(arn)
	if !ok || !strings.HasPrefix(res, arnListenerRule) || strings.Count(res, "/") != 5 {
		return "", false
	}
	f := strings.Split(strings.TrimPrefix(res, arnListenerRule), "/")
	return strings.TrimSuffix(arn, res) + arnLoadBalancer + strings.Join(f[:3], "/"), true
}

// isNetwork reports whether a load balancer ARN names a Network Load Balancer.
func isNetwork(lbARN string) bool {
	res, _ := elbResource(lbARN)
	return strings.HasPrefix(res, arnLoadBalancer+"net/")
}
