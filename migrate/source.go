package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// Source is what the migration reads of a Classic load balancer: its
// description, policies, attributes and tags. It is only ever read.
type Source struct {
	LB         elbtypes.LoadBalancerDescription
	Policies   []elbtypes.PolicyDescription
	Attributes elbtypes.LoadBalancerAttributes
	Tags       map[string]string
}

// ErrNotFound is returned (wrapped) when the Classic load balancer named does
// not exist.
var ErrNotFound = errors.New("migrate: load balancer not found")

// readSource reads the Classic load balancer name: four read calls.
func readSource(ctx context.Context, api ClassicAPI, name string) (*Source, error) {
	out, err := api.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	var nf *elbtypes.AccessPointNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("describe %s: %w", name, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("describe %s: %w", name, err)
	case len(out.LoadBalancerDescriptions) != 1:
		return nil, fmt.Errorf("describe %s: %w", name, ErrNotFound)
	}
	s := &Source{LB: out.LoadBalancerDescriptions[0], Tags: map[string]string{}}
	pols, err := api.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe policies of %s: %w", name, err)
	}
	s.Policies = pols.PolicyDescriptions
	attrs, err := api.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe attributes of %s: %w", name, err)
	}
	if attrs.LoadBalancerAttributes != nil {
		s.Attributes = *attrs.LoadBalancerAttributes
	}
	tags, err := api.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describe tags of %s: %w", name, err)
	}
	for _, d := range tags.TagDescriptions {
		for _, t := range d.Tags {
			s.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return s, nil
}

// policy returns the named policy of the load balancer.
func (s *Source) policy(name string) (elbtypes.PolicyDescription, bool) {
	i := slices.IndexFunc(s.Policies, func(p elbtypes.PolicyDescription) bool { return aws.ToString(p.PolicyName) == name })
	if i < 0 {
		return elbtypes.PolicyDescription{}, false
	}
	return s.Policies[i], true
}

// policyAttribute returns one attribute of a policy.
func policyAttribute(p elbtypes.PolicyDescription, name string) (string, bool) {
	for _, a := range p.PolicyAttributeDescriptions {
		if strings.EqualFold(aws.ToString(a.AttributeName), name) {
			return aws.ToString(a.AttributeValue), true
		}
	}
	return "", false
}

// instances lists the registered instance ids.
func (s *Source) instances() []string {
	var ids []string
	for _, in := range s.LB.Instances {
		if id := aws.ToString(in.InstanceId); id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// dnsName is the Classic load balancer's DNS name, normalised.
func (s *Source) dnsName() string { return normalizeDNS(aws.ToString(s.LB.DNSName)) }

// normalizeDNS lowercases a DNS name and drops the final dot and the
// dualstack. prefix of ELB alias targets.
func normalizeDNS(n string) string {
	n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
	return strings.TrimPrefix(n, "dualstack.")
}
