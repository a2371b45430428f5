package awsclient

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func isolate(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

func TestLoadNeedsRegion(t *testing.T) {
	isolate(t)
	if _, err := Load(context.Background(), ""); !errors.Is(err, ErrNoRegion) {
		t.Errorf("got %v; want ErrNoRegion", err)
	}
}

func TestLoadUsesStandardEndpointSetting(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
	c, err := Load(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Config.Region != "eu-west-1" || c.Config.BaseEndpoint == nil || *c.Config.BaseEndpoint != "http://127.0.0.1:5000" {
		t.Errorf("got region %q endpoint %v; want eu-west-1 and the AWS_ENDPOINT_URL", c.Config.Region, c.Config.BaseEndpoint)
	}
	if c.Classic == nil || c.V2 == nil || c.STS == nil || c.EC2 == nil {
		t.Errorf("got %+v; want every client", c)
	}
}

func TestOptionsApplyBeforeClients(t *testing.T) {
	isolate(t)
	var saw string
	c, err := Load(context.Background(), "eu-west-1", func(cfg *aws.Config) { saw = cfg.Region; cfg.AppID = "elbguard-test" })
	if err != nil {
		t.Fatal(err)
	}
	if saw != "eu-west-1" || c.Config.AppID != "elbguard-test" {
		t.Errorf("option saw region %q, config AppID %q; want the loaded region and the option's change", saw, c.Config.AppID)
	}
}
