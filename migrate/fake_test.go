package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// fakeClassic serves one Source.
type fakeClassic struct{ s *Source }

func (f *fakeClassic) DescribeLoadBalancers(_ context.Context, in *elb.DescribeLoadBalancersInput, _ ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error) {
	if in.LoadBalancerNames[0] != aws.ToString(f.s.LB.LoadBalancerName) {
		return nil, &elbtypes.AccessPointNotFoundException{Message: aws.String("not found")}
	}
	return &elb.DescribeLoadBalancersOutput{LoadBalancerDescriptions: []elbtypes.LoadBalancerDescription{f.s.LB}}, nil
}

func (f *fakeClassic) DescribeLoadBalancerPolicies(context.Context, *elb.DescribeLoadBalancerPoliciesInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancerPoliciesOutput, error) {
	return &elb.DescribeLoadBalancerPoliciesOutput{PolicyDescriptions: f.s.Policies}, nil
}

func (f *fakeClassic) DescribeLoadBalancerAttributes(context.Context, *elb.DescribeLoadBalancerAttributesInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancerAttributesOutput, error) {
	a := f.s.Attributes
	return &elb.DescribeLoadBalancerAttributesOutput{LoadBalancerAttributes: &a}, nil
}

func (f *fakeClassic) DescribeTags(context.Context, *elb.DescribeTagsInput, ...func(*elb.Options)) (*elb.DescribeTagsOutput, error) {
	var tags []elbtypes.Tag
	for k, v := range f.s.Tags {
		tags = append(tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return &elb.DescribeTagsOutput{TagDescriptions: []elbtypes.TagDescription{{LoadBalancerName: f.s.LB.LoadBalancerName, Tags: tags}}}, nil
}

// fakeV2 records every write as "API JSON" and answers with made-up ARNs;
// fail makes the named API fail; health is every target's state.
type fakeV2 struct {
	V2API  // reads the tests do not reach panic
	mu     sync.Mutex
	writes []string
	fail   string
	health string
}

func (f *fakeV2) record(api string, in any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, "elbv2:"+api+" "+string(render(in)))
	if f.fail == api {
		return errors.New("injected failure")
	}
	return nil
}

func (f *fakeV2) DescribeLoadBalancers(context.Context, *elbv2.DescribeLoadBalancersInput, ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	return nil, &v2types.LoadBalancerNotFoundException{Message: aws.String("none")}
}

func (f *fakeV2) DescribeTargetGroups(context.Context, *elbv2.DescribeTargetGroupsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error) {
	return &elbv2.DescribeTargetGroupsOutput{}, nil
}

func (f *fakeV2) DescribeTags(context.Context, *elbv2.DescribeTagsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	return &elbv2.DescribeTagsOutput{}, nil
}

func (f *fakeV2) CreateLoadBalancer(_ context.Context, in *elbv2.CreateLoadBalancerInput, _ ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error) {
	if err := f.record("CreateLoadBalancer", in); err != nil {
		return nil, err
	}
	return &elbv2.CreateLoadBalancerOutput{LoadBalancers: []v2types.LoadBalancer{{LoadBalancerName: in.Name,
		LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/" + aws.ToString(in.Name) + "/1"),
		DNSName:         aws.String(aws.ToString(in.Name) + "-1.elb.us-east-1.amazonaws.com"), CanonicalHostedZoneId: aws.String("Z26RNL4JYFTOTI")}}}, nil
}

func (f *fakeV2) ModifyLoadBalancerAttributes(_ context.Context, in *elbv2.ModifyLoadBalancerAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyLoadBalancerAttributesOutput, error) {
	return &elbv2.ModifyLoadBalancerAttributesOutput{}, f.record("ModifyLoadBalancerAttributes", in)
}

func (f *fakeV2) CreateTargetGroup(_ context.Context, in *elbv2.CreateTargetGroupInput, _ ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error) {
	if err := f.record("CreateTargetGroup", in); err != nil {
		return nil, err
	}
	return &elbv2.CreateTargetGroupOutput{TargetGroups: []v2types.TargetGroup{{TargetGroupName: in.Name,
		TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + aws.ToString(in.Name) + "/2")}}}, nil
}

func (f *fakeV2) ModifyTargetGroupAttributes(_ context.Context, in *elbv2.ModifyTargetGroupAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error) {
	return &elbv2.ModifyTargetGroupAttributesOutput{}, f.record("ModifyTargetGroupAttributes", in)
}

func (f *fakeV2) RegisterTargets(_ context.Context, in *elbv2.RegisterTargetsInput, _ ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error) {
	return &elbv2.RegisterTargetsOutput{}, f.record("RegisterTargets", in)
}

func (f *fakeV2) CreateListener(_ context.Context, in *elbv2.CreateListenerInput, _ ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error) {
	if err := f.record("CreateListener", in); err != nil {
		return nil, err
	}
	return &elbv2.CreateListenerOutput{Listeners: []v2types.Listener{{Port: in.Port,
		ListenerArn: aws.String(fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/x/1/%d", aws.ToInt32(in.Port)))}}}, nil
}

func (f *fakeV2) ModifyListenerAttributes(_ context.Context, in *elbv2.ModifyListenerAttributesInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyListenerAttributesOutput, error) {
	return &elbv2.ModifyListenerAttributesOutput{}, f.record("ModifyListenerAttributes", in)
}

func (f *fakeV2) DescribeTargetHealth(_ context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	state := v2types.TargetHealthStateEnum(f.health)
	if state == "" {
		state = v2types.TargetHealthStateEnumHealthy
	}
	return &elbv2.DescribeTargetHealthOutput{TargetHealthDescriptions: []v2types.TargetHealthDescription{{
		Target: &v2types.TargetDescription{Id: aws.String("i-0aaa"), Port: aws.Int32(80)}, TargetHealth: &v2types.TargetHealth{State: state}}}}, nil
}

// fakeEC2 answers ec2:DescribeTags with elbguard:proxy-ready per instance.
type fakeEC2 map[string]string

func (f fakeEC2) DescribeTags(_ context.Context, in *ec2.DescribeTagsInput, _ ...func(*ec2.Options)) (*ec2.DescribeTagsOutput, error) {
	var out []ec2types.TagDescription
	for _, id := range in.Filters[0].Values {
		if v, ok := f[id]; ok {
			out = append(out, ec2types.TagDescription{ResourceId: aws.String(id), Key: aws.String("elbguard:proxy-ready"), Value: aws.String(v)})
		}
	}
	return &ec2.DescribeTagsOutput{Tags: out}, nil
}

// fakeIAM knows the server certificates in it.
type fakeIAM map[string]bool

func (f fakeIAM) GetServerCertificate(_ context.Context, in *iam.GetServerCertificateInput, _ ...func(*iam.Options)) (*iam.GetServerCertificateOutput, error) {
	if !f[aws.ToString(in.ServerCertificateName)] {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no such certificate")}
	}
	return &iam.GetServerCertificateOutput{}, nil
}

// resolvedParams is what the plan says each call sends, with the ARNs the
// fake returned in place of ${REF}.
func resolvedParams(t interface{ Fatal(...any) }, res *Result) []string {
	refs := map[string]string{}
	var out []string
	for _, c := range res.Calls {
		in, err := c.resolved(refs)
		if err != nil {
			t.Fatal(err)
		}
		if c.Ref != "" {
			refs[c.Ref] = c.Result
		}
		raw, _ := json.Marshal(render(in))
		out = append(out, c.API+" "+string(raw))
	}
	return out
}
