// Package awsclient builds the AWS SDK clients elbguard uses from the
// standard AWS configuration (environment, profiles, AWS_ENDPOINT_URL), with
// every call counted.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/internal/awscount"
)

// Clients are the SDK clients of one configuration, sharing one Counter.
type Clients struct {
	Config  aws.Config
	Classic *elb.Client
	V2      *elbv2.Client
	STS     *sts.Client
	Counter *awscount.Counter
}

// Load reads the standard AWS configuration; a non-empty region overrides
// AWS_REGION and profiles. It fails when no region is configured.
func Load(ctx context.Context, region string) (*Clients, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("load AWS configuration: no region; set AWS_REGION or --region")
	}
	return FromConfig(cfg), nil
}

// FromConfig builds counted clients from an existing configuration.
func FromConfig(cfg aws.Config) *Clients {
	c := awscount.New()
	c.Instrument(&cfg)
	return &Clients{
		Config:  cfg,
		Classic: elb.NewFromConfig(cfg),
		V2:      elbv2.NewFromConfig(cfg),
		STS:     sts.NewFromConfig(cfg),
		Counter: c,
	}
}
