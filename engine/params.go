package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// Params renders a request the engine sends as a person reads it in a plan,
// e.g. "SSL:443->TCP:81 cert=arn:..." for CreateLoadBalancerListeners. The
// plan and the change read it from the same request value.
func Params(in any) string {
	switch in := in.(type) {
	case *elb.CreateLoadBalancerPolicyInput:
		attrs := make([]string, 0, len(in.PolicyAttributes))
		for _, a := range in.PolicyAttributes {
			attrs = append(attrs, aws.ToString(a.AttributeName)+"="+aws.ToString(a.AttributeValue))
		}
		return fmt.Sprintf("%s %s %s", aws.ToString(in.PolicyName), aws.ToString(in.PolicyTypeName), strings.Join(attrs, ","))
	case *elb.SetLoadBalancerPoliciesForBackendServerInput:
		return fmt.Sprintf("instance-port=%d policies=%s", aws.ToInt32(in.InstancePort), list(in.PolicyNames))
	case *elb.DeleteLoadBalancerListenersInput:
		ports := make([]string, 0, len(in.LoadBalancerPorts))
		for _, p := range in.LoadBalancerPorts {
			ports = append(ports, strconv.Itoa(int(p)))
		}
		return strings.Join(ports, ",")
	case *elb.CreateLoadBalancerListenersInput:
		ls := make([]string, 0, len(in.Listeners))
		for _, l := range in.Listeners {
			ls = append(ls, listenerParams(l))
		}
		return strings.Join(ls, " ")
	case *elb.AddTagsInput: // a restore record: its value is signed at the time of the call
		keys := make([]string, 0, len(in.Tags))
		for _, t := range in.Tags {
			keys = append(keys, aws.ToString(t.Key)+"=(signed record)")
		}
		return strings.Join(keys, ",")
	case *elb.RemoveTagsInput:
		keys := make([]string, 0, len(in.Tags))
		for _, t := range in.Tags {
			keys = append(keys, aws.ToString(t.Key))
		}
		return strings.Join(keys, ",")
	case *elb.SetLoadBalancerPoliciesOfListenerInput:
		return fmt.Sprintf("%d policies=%s", in.LoadBalancerPort, list(in.PolicyNames))
	case *elb.ModifyLoadBalancerAttributesInput:
		if a := in.LoadBalancerAttributes; a != nil && a.ConnectionSettings != nil {
			return fmt.Sprintf("idle-timeout=%d", aws.ToInt32(a.ConnectionSettings.IdleTimeout))
		}
	case *elbv2.ModifyTargetGroupAttributesInput:
		attrs := make([]string, 0, len(in.Attributes))
		for _, a := range in.Attributes {
			attrs = append(attrs, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
		}
		return nameFromARN(aws.ToString(in.TargetGroupArn)) + " " + strings.Join(attrs, ",")
	case *elbv2.ModifyListenerAttributesInput:
		attrs := make([]string, 0, len(in.Attributes))
		for _, a := range in.Attributes {
			attrs = append(attrs, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
		}
		l := aws.ToString(in.ListenerArn)
		return "listener/" + l[strings.LastIndex(l, "/")+1:] + " " + strings.Join(attrs, ",")
	case *elbv2.AddTagsInput:
		tags := make([]string, 0, len(in.Tags))
		for _, t := range in.Tags {
			tags = append(tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
		}
		return strings.Join(tags, ",")
	}
	return ""
}

// listenerParams renders a Classic listener as PROTO:PORT->PROTO:PORT [cert=ARN].
func listenerParams(l elbtypes.Listener) string {
	inst := aws.ToString(l.InstanceProtocol)
	if inst == "" {
		inst = aws.ToString(l.Protocol)
	}
	s := fmt.Sprintf("%s:%d->%s:%d", strings.ToUpper(aws.ToString(l.Protocol)), l.LoadBalancerPort, strings.ToUpper(inst), aws.ToInt32(l.InstancePort))
	if c := aws.ToString(l.SSLCertificateId); c != "" {
		s += " cert=" + c
	}
	return s
}

func list(names []string) string { return "[" + strings.Join(names, ",") + "]" }
