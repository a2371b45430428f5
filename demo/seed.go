package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/test/peer"
)

// Names of the load balancers the demo creates: the seed's "before".
const (
	TagKey       = "elbguard:proxy-protocol"
	ClassicName  = "web-classic" // Classic ELB, tagged enforce
	LegacyName   = "web-legacy"  // the same shape, untagged: must stay untouched
	NLBName      = "edge-nlb"    // NLB with a TCP listener, tagged enforce
	TargetGroup  = "edge-tcp"    // the NLB's target group, tagged enforce
	CertName     = DemoHost      // IAM server certificate name
	SelfRoleARN  = "arn:aws:iam::123456789012:role/elbguard-enforcer"
	motoAccount  = "123456789012"
	classicZoneA = peer.Region + "a"
	classicZoneB = peer.Region + "b"
)

// motoEnv is how the demo and the programs it starts reach moto_server.
type motoEnv struct {
	url string
	env []string // AWS_ENDPOINT_URL, region, static credentials
	aws aws.Config
}

// clients are the SDK clients the demo uses to set the scene and read it
// back.
type clients struct {
	elb   *elb.Client
	elbv2 *elbv2.Client
	iam   *iam.Client
	ec2   *ec2.Client
}

func (m motoEnv) clients() clients {
	return clients{
		elb:   elb.NewFromConfig(m.aws),
		elbv2: elbv2.NewFromConfig(m.aws),
		iam:   iam.NewFromConfig(m.aws),
		ec2:   ec2.NewFromConfig(m.aws),
	}
}

// newMotoEnv describes the moto_server at url: the environment for child
// processes (the standard AWS variables) and an SDK configuration for the
// demo itself that ignores the user's own AWS profile.
func newMotoEnv(url string) motoEnv {
	env := (&peer.Moto{URL: url}).Env()
	// The user's own elbguard settings must not change the story.
	env = append(env,
		"ELBGUARD_TAG_KEY="+TagKey,
		"ELBGUARD_DEFAULT_MODE=off",
		"ELBGUARD_DRY_RUN=false",
		"ELBGUARD_LOG_LEVEL=info",
	)
	return motoEnv{
		url: url,
		env: env,
		aws: aws.Config{
			Region:       peer.Region,
			BaseEndpoint: aws.String(url),
			Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		},
	}
}

// seed is what the demo created in moto.
type seed struct {
	certARN     string
	vpcID       string
	subnets     []string
	nlbARN      string
	tgARN       string
	listenerARN string
}

// classicListeners are the seed's listeners: HTTP:80 to instance port 80
// (the redirect) and HTTPS:443, TLS ended at the load balancer, to instance
// port 81 (the app).
func classicListeners(certARN string) []elbtypes.Listener {
	return []elbtypes.Listener{
		{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)},
		{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(81), SSLCertificateId: aws.String(certARN)},
	}
}

// createSeed uploads the certificate and creates the load balancers.
func (r *run) createSeed(ctx context.Context) error {
	c := r.moto.clients()
	s := &seed{}
	cert, err := c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String(CertName),
		CertificateBody:       aws.String(string(r.cert.CertPEM)),
		PrivateKey:            aws.String(string(r.cert.KeyPEM)),
	})
	if err != nil {
		return fmt.Errorf("upload server certificate %s to IAM: %w", CertName, err)
	}
	s.certARN = aws.ToString(cert.ServerCertificateMetadata.Arn)
	r.ui.say("IAM server certificate %s (self-signed, made just now)", s.certARN)

	// The seed's load balancers have no instances (the article's are hand-run):
	// readiness=skip, or the gate would hold them (no_backends); web-gated
	// below shows the gate.
	enforce := []elbtypes.Tag{{Key: aws.String(TagKey), Value: aws.String("enforce")}, {Key: aws.String(engine.TagReadiness), Value: aws.String("skip")}}
	for _, lb := range []struct {
		name string
		tags []elbtypes.Tag
		note string
	}{
		{ClassicName, enforce, "tagged " + TagKey + "=enforce"},
		{LegacyName, nil, "untagged: elbguard must leave it alone"},
	} {
		_, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName:  aws.String(lb.name),
			Listeners:         classicListeners(s.certARN),
			AvailabilityZones: []string{classicZoneA, classicZoneB},
			Tags:              lb.tags,
		})
		if err != nil {
			return fmt.Errorf("create Classic load balancer %s: %w", lb.name, err)
		}
		r.ui.say("Classic ELB %-12s HTTP:80→HTTP:80, HTTPS:443→HTTP:81  %s", lb.name, lb.note)
	}

	s.vpcID, s.subnets, err = defaultSubnets(ctx, c.ec2)
	if err != nil {
		return err
	}
	nlb, err := c.elbv2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:    aws.String(NLBName),
		Type:    elbv2types.LoadBalancerTypeEnumNetwork,
		Scheme:  elbv2types.LoadBalancerSchemeEnumInternetFacing,
		Subnets: s.subnets,
	})
	if err != nil {
		return fmt.Errorf("create network load balancer %s: %w", NLBName, err)
	}
	if len(nlb.LoadBalancers) != 1 {
		return fmt.Errorf("create network load balancer %s: got %d load balancers back; want 1", NLBName, len(nlb.LoadBalancers))
	}
	s.nlbARN = aws.ToString(nlb.LoadBalancers[0].LoadBalancerArn)
	tg, err := c.elbv2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:       aws.String(TargetGroup),
		Protocol:   elbv2types.ProtocolEnumTcp,
		Port:       aws.Int32(80),
		VpcId:      aws.String(s.vpcID),
		TargetType: elbv2types.TargetTypeEnumInstance,
	})
	if err != nil {
		return fmt.Errorf("create target group %s: %w", TargetGroup, err)
	}
	s.tgARN = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	lst, err := c.elbv2.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(s.nlbARN),
		Protocol:        elbv2types.ProtocolEnumTcp,
		Port:            aws.Int32(80),
		DefaultActions: []elbv2types.Action{{
			Type:           elbv2types.ActionTypeEnumForward,
			TargetGroupArn: aws.String(s.tgARN),
		}},
	})
	if err != nil {
		return fmt.Errorf("create TCP listener on %s: %w", NLBName, err)
	}
	s.listenerARN = aws.ToString(lst.Listeners[0].ListenerArn)
	r.ui.say("NLB         %-12s TCP:80 → target group %s (default VPC %s, subnets %s)",
		NLBName, TargetGroup, s.vpcID, strings.Join(s.subnets, ", "))
	if _, err := c.elbv2.AddTags(ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{s.nlbARN, s.tgARN},
		Tags:         []elbv2types.Tag{{Key: aws.String(TagKey), Value: aws.String("enforce")}, {Key: aws.String(engine.TagReadiness), Value: aws.String("skip")}},
	}); err != nil {
		return fmt.Errorf("tag %s and target group %s: %w", NLBName, TargetGroup, err)
	}
	r.ui.say("then the platform team tags %s and %s %s=enforce", NLBName, TargetGroup, TagKey)
	if _, err := c.elb.AddTags(ctx, &elb.AddTagsInput{
		LoadBalancerNames: []string{LegacyName},
		Tags:              []elbtypes.Tag{{Key: aws.String("CostCenter"), Value: aws.String("1234")}},
	}); err != nil {
		return fmt.Errorf("tag %s: %w", LegacyName, err)
	}
	r.ui.say("then someone tags %s CostCenter=1234 (not an elbguard tag)", LegacyName)
	r.seed = s
	return nil
}

// defaultSubnets returns the default VPC that moto, like a new AWS account,
// provides, and two of its subnets in different zones.
func defaultSubnets(ctx context.Context, c *ec2.Client) (string, []string, error) {
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}},
	})
	if err != nil {
		return "", nil, fmt.Errorf("describe the default VPC's subnets: %w", err)
	}
	var vpc string
	var subnets []string
	zones := map[string]bool{}
	for _, sn := range out.Subnets {
		z := aws.ToString(sn.AvailabilityZone)
		if zones[z] || (vpc != "" && aws.ToString(sn.VpcId) != vpc) {
			continue
		}
		zones[z] = true
		vpc = aws.ToString(sn.VpcId)
		subnets = append(subnets, aws.ToString(sn.SubnetId))
		if len(subnets) == 2 {
			return vpc, subnets, nil
		}
	}
	return "", nil, errors.New("describe the default VPC's subnets: fewer than two default subnets in different zones")
}
