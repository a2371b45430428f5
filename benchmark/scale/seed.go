package scale

import (
	"github.com/elbguard/elbguard/engine"

	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// TagKey and TagValue put every seeded load balancer in scope, in enforce
// mode.
const (
	TagKey   = "elbguard:proxy-protocol"
	TagValue = "enforce"
)

// Name returns the name of the i-th seeded load balancer.
func Name(i int) string { return fmt.Sprintf("bench-%04d", i) }

// awsConfig loads an SDK configuration the standard way from env
// ("KEY=value" pairs such as peer.Moto.Env), without touching this
// process's environment.
func awsConfig(ctx context.Context, env []string) (aws.Config, error) {
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(vals["AWS_REGION"]),
		config.WithBaseEndpoint(vals["AWS_ENDPOINT_URL"]),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: vals["AWS_ACCESS_KEY_ID"], SecretAccessKey: vals["AWS_SECRET_ACCESS_KEY"], Source: "bench"}, nil
		})),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config for %s: %w", vals["AWS_ENDPOINT_URL"], err)
	}
	return cfg, nil
}

// Seed creates n Classic ELBs in the emulator that env points at, each
// with an HTTP:80 → HTTP:80 listener (not compliant: no proxy protocol,
// not TCP) and the enforce tag, eight at a time.
func Seed(ctx context.Context, env []string, n int) error {
	cfg, err := awsConfig(ctx, env)
	if err != nil {
		return err
	}
	client := elb.NewFromConfig(cfg)
	jobs := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				_, err := client.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
					LoadBalancerName:  aws.String(Name(i)),
					AvailabilityZones: []string{"us-east-1a"},
					Listeners: []elbtypes.Listener{{
						Protocol: aws.String("HTTP"), LoadBalancerPort: 80,
						InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80),
					}},
					// No instance is registered: elbguard:readiness=skip, or the
					// readiness gate holds them all (no_backends) and nothing
					// is measured.
					Tags: []elbtypes.Tag{{Key: aws.String(TagKey), Value: aws.String(TagValue)}, {Key: aws.String(engine.TagReadiness), Value: aws.String("skip")}},
				})
				if err != nil {
					select {
					case errc <- fmt.Errorf("create load balancer %s: %w", Name(i), err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case err := <-errc:
			close(jobs)
			wg.Wait()
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
