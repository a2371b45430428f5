// Package awsclient builds the AWS SDK clients elbguard uses from the
// standard AWS configuration (environment, profiles, AWS_ENDPOINT_URL).
// Anything more (call counting for `elbguard --stats`, the benchmarks)
// is installed by the caller that asks for it, as an Option.
package awsclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Clients are the SDK clients of one configuration: one account in one
// region.
type Clients struct {
	// Account is the account the clients act in; empty when not known (a
	// single-account run that never asked).
	Account string
	Config  aws.Config
	Classic *elb.Client
	V2      *elbv2.Client
	STS     *sts.Client
	// IAM and ACM read the certificates of Classic HTTPS/SSL listeners
	// before a listener is replaced (engine.WithCertificates).
	IAM *iam.Client
	ACM *acm.Client
	// EC2 reads instance tags for the readiness gate (ec2:DescribeTags).
	EC2 *ec2.Client
}

// Option changes the configuration before the clients are built, for
// example awscount.Counter.Instrument.
type Option func(*aws.Config)

// Load reads the standard AWS configuration; a non-empty region overrides
// AWS_REGION and profiles. It fails when no region is configured.
func Load(ctx context.Context, region string, opts ...Option) (*Clients, error) {
	return LoadWith(ctx, Settings{Region: region}, opts...)
}

// LoadWith is Load with awscli-like overrides.
func LoadWith(ctx context.Context, s Settings, opts ...Option) (*Clients, error) {
	cfg, err := LoadSettings(ctx, s)
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg, opts...), nil
}

// LoadConfig reads the standard AWS configuration as Load does, without
// building clients (the base of a Provider).
func LoadConfig(ctx context.Context, region string) (aws.Config, error) {
	return LoadSettings(ctx, Settings{Region: region})
}

// Settings override the standard AWS configuration as awscli's global
// options do; the zero value overrides nothing.
type Settings struct {
	Region      string // --region: over AWS_REGION and the profile's region
	Profile     string // --profile: over AWS_PROFILE
	EndpointURL string // --endpoint-url: over AWS_ENDPOINT_URL, for every service
}

// ErrNoRegion is returned when no region is configured anywhere.
var ErrNoRegion = errors.New("no AWS region")

// LoadSettings reads the standard AWS configuration with s's overrides. It
// fails with ErrNoRegion when no region is configured.
func LoadSettings(ctx context.Context, s Settings) (aws.Config, error) {
	var load []func(*config.LoadOptions) error
	if s.Region != "" {
		load = append(load, config.WithRegion(s.Region))
	}
	if s.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(s.Profile))
	}
	if s.EndpointURL != "" {
		load = append(load, config.WithBaseEndpoint(s.EndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w; set AWS_REGION or --region", ErrNoRegion)
	}
	return cfg, nil
}

// FromConfig builds the clients from an existing configuration.
func FromConfig(cfg aws.Config, opts ...Option) *Clients {
	for _, o := range opts {
		o(&cfg)
	}
	return &Clients{
		Config:  cfg,
		Classic: elb.NewFromConfig(cfg),
		V2:      elbv2.NewFromConfig(cfg),
		STS:     sts.NewFromConfig(cfg),
		IAM:     iam.NewFromConfig(cfg),
		ACM:     acm.NewFromConfig(cfg),
		EC2:     ec2.NewFromConfig(cfg),
	}
}

// Region is the region the clients act in.
func (c *Clients) Region() string { return c.Config.Region }
