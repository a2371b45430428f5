package infra

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancing"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/elbguard/elbguard/engine"
)

// Ports of the seed's layout: the load balancer forwards to the proxy's
// redirect listener on 80 and its app listener on 81.
const (
	redirectPort = 80
	appPort      = 81
	// plainAppPort is the load balancer port forwarded to the app listener
	// when no certificate is given (Classic ELB cannot listen on 81).
	plainAppPort = 8080
	healthPath   = "/healthz"
)

// Defaults of EdgeDemoProps.
const (
	// LoadBalancerClassic is a Classic ELB (the seed's setup), the default.
	LoadBalancerClassic = "classic"
	// LoadBalancerNLB is a Network Load Balancer.
	LoadBalancerNLB = "nlb"
	// DefaultInstanceType is the smallest burstable Graviton type.
	DefaultInstanceType = "t4g.micro"
	// DefaultProxyPackage is written by `make build-assets`: the
	// elbguard-proxy .rpm for linux/arm64 (make package builds the same).
	DefaultProxyPackage = "dist/proxy/linux-arm64/elbguard-proxy.rpm"
)

// EdgeDemoProps configures NewEdgeDemoStack. The zero value gives a Classic
// ELB with TCP listeners only, two t4g.micro instances, and the proxy files
// read from the repository in the working directory.
type EdgeDemoProps struct {
	// TagKey is tagged =enforce on the load balancer. Empty: DefaultTagKey.
	TagKey string
	// LoadBalancer is "classic" (default) or "nlb".
	LoadBalancer string
	// CertificateArn (ACM or IAM server certificate) adds SSL:443 -> 81
	// (TLS:443 on an NLB). Empty: TCP only, with TCP:8080 -> 81 so the app
	// is reachable without a certificate; TCP:80 -> 80 always answers the
	// redirect to https.
	CertificateArn string
	// InstanceType must be a Graviton (arm64) type. Empty: t4g.micro.
	InstanceType string
	// ProxyPackage is the linux/arm64 elbguard-proxy .rpm the instances
	// install, uploaded as an S3 asset. Empty: DefaultProxyPackage (relative
	// to the working directory).
	ProxyPackage string
	// ProxyUnit and ProxyConfig are the systemd unit and config the
	// instances install. Empty: read from RepoRoot (ProxyUnitFile,
	// ProxyConfigFile).
	ProxyUnit, ProxyConfig string
	// RepoRoot is the repository root. Empty: the working directory.
	RepoRoot string
}

var (
	gravitonType = regexp.MustCompile(`^(a1|[a-z]+[0-9]+g[a-z0-9-]*)\.[a-z0-9]+$`)
	certArn      = regexp.MustCompile(`^arn:aws[a-z-]*:(acm:[a-z0-9-]+:[0-9]{12}:certificate/.+|iam::[0-9]{12}:server-certificate/.+)$`)
)

func (p EdgeDemoProps) withDefaults() EdgeDemoProps {
	if p.TagKey == "" {
		p.TagKey = DefaultTagKey
	}
	p.LoadBalancer = strings.ToLower(p.LoadBalancer)
	if p.LoadBalancer == "" {
		p.LoadBalancer = LoadBalancerClassic
	}
	if p.InstanceType == "" {
		p.InstanceType = DefaultInstanceType
	}
	if p.ProxyPackage == "" {
		p.ProxyPackage = DefaultProxyPackage
	}
	if p.RepoRoot == "" {
		p.RepoRoot = "."
	}
	return p
}

// Validate reports the first invalid field of p (after defaults), naming the
// field and the allowed values. The error wraps ErrInvalidProps.
func (p EdgeDemoProps) Validate() error {
	p = p.withDefaults()
	if err := (EnforcerProps{TagKey: p.TagKey}).Validate(); err != nil {
		return err
	}
	if p.LoadBalancer != LoadBalancerClassic && p.LoadBalancer != LoadBalancerNLB {
		return fmt.Errorf("%w: LoadBalancer %q: allowed values are %s, %s", ErrInvalidProps, p.LoadBalancer, LoadBalancerClassic, LoadBalancerNLB)
	}
	if p.CertificateArn != "" && !certArn.MatchString(p.CertificateArn) {
		return fmt.Errorf("%w: CertificateArn %q: want an ACM certificate ARN (arn:aws:acm:region:account:certificate/id) or an IAM server certificate ARN", ErrInvalidProps, p.CertificateArn)
	}
	if !gravitonType.MatchString(p.InstanceType) {
		return fmt.Errorf("%w: InstanceType %q: want a Graviton (arm64) type such as t4g.micro or m7g.large", ErrInvalidProps, p.InstanceType)
	}
	return nil
}

// EdgeDemo is what NewEdgeDemoStack built, for tests and extension.
type EdgeDemo struct {
	Stack awscdk.Stack
	// Props are the validated props with defaults applied.
	Props EdgeDemoProps
	// Vpc spans two AZs: public subnets for the load balancer, isolated
	// subnets (no NAT, an S3 gateway endpoint) for the instances.
	Vpc awsec2.Vpc
	// Instances is the Auto Scaling group running elbguard-proxy.
	Instances awsautoscaling.AutoScalingGroup
	// InstanceSecurityGroup admits the proxy ports from the load balancer only.
	InstanceSecurityGroup awsec2.SecurityGroup
	// UserData is the instances' user data.
	UserData awsec2.UserData
}

// NewEdgeDemoStack is the ElbGuardEdgeDemo stack: the seed's architecture
// (client -> load balancer with TCP/SSL listeners -> elbguard-proxy on
// 80/81 -> a sample WebSocket app), deployable. The load balancer is tagged
// TagKey=enforce, so the enforcer (ElbGuard stack) turns on proxy protocol
// within seconds of its creation.
func NewEdgeDemoStack(scope constructs.Construct, id string, stackProps *awscdk.StackProps, props *EdgeDemoProps) (*EdgeDemo, error) {
	var p EdgeDemoProps
	if props != nil {
		p = *props
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	if p.ProxyUnit == "" || p.ProxyConfig == "" {
		unit, config, err := ReadProxyFiles(p.RepoRoot)
		if err != nil {
			return nil, fmt.Errorf("build stack %s: %w", id, err)
		}
		p.ProxyUnit, p.ProxyConfig = unit, config
	}
	install, err := parseProxyInstall(p.ProxyUnit, p.ProxyConfig)
	if err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	if _, err := os.Stat(p.ProxyPackage); err != nil {
		return nil, fmt.Errorf("build stack %s: proxy package (run make build-assets): %w", id, err)
	}

	var sp awscdk.StackProps
	if stackProps != nil {
		sp = *stackProps
	}
	if sp.Description == nil {
		sp.Description = jsii.String("elbguard edge demo: load balancer -> elbguard-proxy (PROXY protocol) -> sample WebSocket app")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	d := &EdgeDemo{Stack: stack, Props: p}

	d.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		MaxAzs:                       jsii.Number(2),
		NatGateways:                  jsii.Number(0),
		RestrictDefaultSecurityGroup: jsii.Bool(false),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("Public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("Instances"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
		},
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
		},
	})

	role := awsiam.NewRole(stack, jsii.String("InstanceRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description: jsii.String("elbguard edge demo instances: read the proxy package asset"),
	})
	binary := awss3assets.NewAsset(stack, jsii.String("ProxyPackage"), &awss3assets.AssetProps{
		Path: jsii.String(p.ProxyPackage),
	})
	// Exactly the one object, not the asset bucket.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadProxyPackage"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: &[]*string{binary.Bucket().ArnForObjects(binary.S3ObjectKey())},
	}))

	d.UserData = awsec2.UserData_ForLinux(nil)
	d.UserData.AddCommands(*jsii.Strings(userDataPreamble...)...)
	downloaded := d.UserData.AddS3DownloadCommand(&awsec2.S3DownloadOptions{
		Bucket:    binary.Bucket(),
		BucketKey: binary.S3ObjectKey(),
		LocalFile: jsii.String("/tmp/elbguard-proxy.rpm"),
		Region:    stack.Region(),
	})
	cmds, err := installCommands(install, *downloaded)
	if err != nil {
		return nil, fmt.Errorf("build stack %s: %w", id, err)
	}
	d.UserData.AddCommands(*jsii.Strings(cmds...)...)

	d.InstanceSecurityGroup = awsec2.NewSecurityGroup(stack, jsii.String("InstanceSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:         d.Vpc,
		Description: jsii.String("elbguard-proxy instances: proxy ports from the load balancer only"),
		// Outbound is needed for S3 (gateway endpoint) only; the isolated
		// subnets have no route to the internet anyway.
		AllowAllOutbound: jsii.Bool(true),
	})
	template := awsec2.NewLaunchTemplate(stack, jsii.String("LaunchTemplate"), &awsec2.LaunchTemplateProps{
		InstanceType: awsec2.NewInstanceType(jsii.String(p.InstanceType)),
		MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
			// An SSM parameter resolved at deploy time, not a lookup.
			CpuType: awsec2.AmazonLinuxCpuType_ARM_64,
		}),
		UserData:      d.UserData,
		Role:          role,
		SecurityGroup: d.InstanceSecurityGroup,
		RequireImdsv2: jsii.Bool(true),
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/xvda"),
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(8), &awsec2.EbsDeviceOptions{
				Encrypted:  jsii.Bool(true),
				VolumeType: awsec2.EbsDeviceVolumeType_GP3,
			}),
		}},
	})
	d.Instances = awsautoscaling.NewAutoScalingGroup(stack, jsii.String("Instances"), &awsautoscaling.AutoScalingGroupProps{
		Vpc:            d.Vpc,
		VpcSubnets:     &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED},
		LaunchTemplate: template,
		MinCapacity:    jsii.Number(2),
		MaxCapacity:    jsii.Number(2),
		HealthChecks: awsautoscaling.HealthChecks_WithAdditionalChecks(&awsautoscaling.AdditionalHealthChecksOptions{
			AdditionalTypes: &[]awsautoscaling.AdditionalHealthCheckType{awsautoscaling.AdditionalHealthCheckType_ELB},
			GracePeriod:     awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Cooldown: awscdk.Duration_Minutes(jsii.Number(5)),
		// A new proxy package or config changes the user data: replace the
		// instances one at a time, keeping one in service.
		UpdatePolicy: awsautoscaling.UpdatePolicy_RollingUpdate(&awsautoscaling.RollingUpdateOptions{
			MaxBatchSize:          jsii.Number(1),
			MinInstancesInService: jsii.Number(1),
			PauseTime:             awscdk.Duration_Minutes(jsii.Number(2)),
		}),
	})

	// The user data installs elbguard-proxy, which reads the PROXY header:
	// the instances say so to elbguard's readiness gate from launch on.
	awscdk.Tags_Of(d.Instances).Add(jsii.String(engine.TagProxyReady), jsii.String("true"), &awscdk.TagProps{ApplyToLaunchedInstances: jsii.Bool(true)})

	switch p.LoadBalancer {
	case LoadBalancerNLB:
		d.addNetworkLoadBalancer()
	default:
		d.addClassicLoadBalancer()
	}
	suppressEdgeFindings(d)
	return d, nil
}

// appFrontPort is the load balancer port forwarded to the app listener.
func (d *EdgeDemo) appFrontPort() float64 {
	if d.Props.CertificateArn != "" {
		return 443
	}
	return plainAppPort
}

// addClassicLoadBalancer is the seed's Classic ELB: TCP:80 -> 80 and
// SSL:443 -> 81 (or TCP:8080 -> 81 without a certificate).
func (d *EdgeDemo) addClassicLoadBalancer() {
	app := &awselasticloadbalancing.LoadBalancerListener{
		ExternalPort:     jsii.Number(d.appFrontPort()),
		ExternalProtocol: awselasticloadbalancing.LoadBalancingProtocol_TCP,
		InternalPort:     jsii.Number(appPort),
		InternalProtocol: awselasticloadbalancing.LoadBalancingProtocol_TCP,
	}
	if d.Props.CertificateArn != "" {
		app.ExternalProtocol = awselasticloadbalancing.LoadBalancingProtocol_SSL
		app.SslCertificateArn = jsii.String(d.Props.CertificateArn)
	}
	lb := awselasticloadbalancing.NewLoadBalancer(d.Stack, jsii.String("LoadBalancer"), &awselasticloadbalancing.LoadBalancerProps{
		Vpc:             d.Vpc,
		InternetFacing:  jsii.Bool(true),
		CrossZone:       jsii.Bool(true),
		SubnetSelection: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		HealthCheck: &awselasticloadbalancing.HealthCheck{
			Port:     jsii.Number(appPort),
			Protocol: awselasticloadbalancing.LoadBalancingProtocol_HTTP,
			Path:     jsii.String(healthPath),
		},
		Listeners: &[]*awselasticloadbalancing.LoadBalancerListener{{
			ExternalPort:     jsii.Number(redirectPort),
			ExternalProtocol: awselasticloadbalancing.LoadBalancingProtocol_TCP,
			InternalPort:     jsii.Number(redirectPort),
			InternalProtocol: awselasticloadbalancing.LoadBalancingProtocol_TCP,
		}, app},
		Targets: &[]awselasticloadbalancing.ILoadBalancerTarget{d.Instances},
	})
	cfn := lb.Node().DefaultChild().(awselasticloadbalancing.CfnLoadBalancer)
	cfn.SetConnectionDrainingPolicy(&awselasticloadbalancing.CfnLoadBalancer_ConnectionDrainingPolicyProperty{
		Enabled: jsii.Bool(true),
		Timeout: jsii.Number(30),
	})
	// Adding the targets already admitted the instance ports (80, 81, and
	// 81 for health checks) from the load balancer's security group only.
	awscdk.Tags_Of(cfn).Add(jsii.String(d.Props.TagKey), jsii.String("enforce"), nil)
	awscdk.NewCfnOutput(d.Stack, jsii.String("LoadBalancerDns"), &awscdk.CfnOutputProps{Value: lb.LoadBalancerDnsName()})
	suppress(lb, true,
		suppression{id: "AwsSolutions-ELB1", reason: "The demo shows a Classic ELB on purpose: it reproduces the seed's setup that elbguard fixes (TCP/SSL listeners with proxy protocol)."},
		suppression{id: "AwsSolutions-ELB2", reason: "Demo stack: access logs would need a log bucket; elbguard-proxy writes an access log with the real client IP on the instances."},
		suppression{id: "AwsSolutions-ELB5", reason: "TCP:80 only answers elbguard-proxy's redirect to HTTPS; TCP:8080 exists only when no certificate is given, to try the demo without one."},
		suppression{id: "AwsSolutions-EC23", reason: "Internet-facing load balancer of a public demo: its listener ports are open to the internet by design."},
	)
}

// addNetworkLoadBalancer is the NLB variant: TCP:80 -> 80 and TLS:443 -> 81
// (or TCP:8080 -> 81 without a certificate), with a security group the
// instances admit.
func (d *EdgeDemo) addNetworkLoadBalancer() {
	sg := awsec2.NewSecurityGroup(d.Stack, jsii.String("LoadBalancerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              d.Vpc,
		Description:      jsii.String("elbguard edge demo NLB: listener ports from the internet"),
		AllowAllOutbound: jsii.Bool(false),
	})
	front := []float64{redirectPort, d.appFrontPort()}
	for _, port := range front {
		sg.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(port)), jsii.String(fmt.Sprintf("listener :%v", port)), nil)
	}
	nlb := awselasticloadbalancingv2.NewNetworkLoadBalancer(d.Stack, jsii.String("LoadBalancer"), &awselasticloadbalancingv2.NetworkLoadBalancerProps{
		Vpc:              d.Vpc,
		InternetFacing:   jsii.Bool(true),
		CrossZoneEnabled: jsii.Bool(true),
		VpcSubnets:       &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		SecurityGroups:   &[]awsec2.ISecurityGroup{sg},
	})
	awscdk.Tags_Of(nlb.Node().DefaultChild()).Add(jsii.String(d.Props.TagKey), jsii.String("enforce"), nil)
	health := &awselasticloadbalancingv2.HealthCheck{
		Port:     jsii.String(fmt.Sprint(appPort)),
		Protocol: awselasticloadbalancingv2.Protocol_HTTP,
		Path:     jsii.String(healthPath),
	}
	listen := func(id string, frontPort, backPort float64) {
		lp := &awselasticloadbalancingv2.BaseNetworkListenerProps{
			Port:     jsii.Number(frontPort),
			Protocol: awselasticloadbalancingv2.Protocol_TCP,
		}
		if frontPort == 443 {
			lp.Protocol = awselasticloadbalancingv2.Protocol_TLS
			lp.SslPolicy = awselasticloadbalancingv2.SslPolicy_RECOMMENDED_TLS
			lp.Certificates = &[]awselasticloadbalancingv2.IListenerCertificate{
				awselasticloadbalancingv2.ListenerCertificate_FromArn(jsii.String(d.Props.CertificateArn)),
			}
		}
		l := nlb.AddListener(jsii.String(id), lp)
		l.AddTargets(jsii.String(id+"Targets"), &awselasticloadbalancingv2.AddNetworkTargetsProps{
			Port:        jsii.Number(backPort),
			Protocol:    awselasticloadbalancingv2.Protocol_TCP,
			Targets:     &[]awselasticloadbalancingv2.INetworkLoadBalancerTarget{d.Instances},
			HealthCheck: health,
		})
	}
	listen("Redirect", redirectPort, redirectPort)
	listen("App", d.appFrontPort(), appPort)
	for _, port := range []float64{redirectPort, appPort} {
		d.InstanceSecurityGroup.AddIngressRule(sg, awsec2.Port_Tcp(jsii.Number(port)),
			jsii.String(fmt.Sprintf("elbguard-proxy :%v from the load balancer", port)), nil)
		sg.AddEgressRule(d.InstanceSecurityGroup, awsec2.Port_Tcp(jsii.Number(port)),
			jsii.String(fmt.Sprintf("to elbguard-proxy :%v", port)), nil)
	}
	awscdk.NewCfnOutput(d.Stack, jsii.String("LoadBalancerDns"), &awscdk.CfnOutputProps{Value: nlb.LoadBalancerDnsName()})
	suppress(nlb, true,
		suppression{id: "AwsSolutions-ELB2", reason: "Demo stack: access logs would need a log bucket; elbguard-proxy writes an access log with the real client IP on the instances."},
	)
	suppress(sg, false,
		suppression{id: "AwsSolutions-EC23", reason: "Internet-facing load balancer of a public demo: its listener ports are open to the internet by design."},
	)
}

// suppressEdgeFindings records why the demo's remaining cdk-nag findings are
// accepted.
func suppressEdgeFindings(d *EdgeDemo) {
	suppress(d.Vpc, false, suppression{
		id:     "AwsSolutions-VPC7",
		reason: "Demo VPC with no NAT and no internet route from the instances; flow logs would add cost without serving the demo. Add them for production.",
	})
	suppress(d.Instances, true,
		suppression{id: "AwsSolutions-AS3", reason: "Demo fleet of fixed size 2: scaling-event notifications would have no one to notify."},
	)
}
