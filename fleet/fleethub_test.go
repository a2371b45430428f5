package fleet

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/elbguard/elbguard/internal/awsclient"
)

type fakeLocations struct {
	asked  int
	denied string
}

func (f *fakeLocations) Clients(_ context.Context, account, region string) (*awsclient.Clients, error) {
	f.asked++
	if account == f.denied {
		return nil, awsclient.ErrAssumeRole
	}
	return &awsclient.Clients{Config: aws.Config{Region: region}, Account: account}, nil
}

func TestFleetHubs(t *testing.T) {
	loc := &fakeLocations{denied: "222222222222"}
	h := &fleetHubs{provider: loc}
	ctx := context.Background()
	a, err := h.SecurityHub(ctx, "111111111111", "us-east-1")
	if err != nil || a == nil {
		t.Fatalf("SecurityHub: %v, %v", a, err)
	}
	b, _ := h.SecurityHub(ctx, "111111111111", "us-east-1")
	c, _ := h.SecurityHub(ctx, "111111111111", "eu-west-1")
	if a != b || a == c {
		t.Errorf("clients: same location %p %p, other region %p; want one client per location", a, b, c)
	}
	if loc.asked != 3 {
		t.Errorf("provider asked %d times; want every call (it re-checks the credentials)", loc.asked)
	}
	if _, err := h.SecurityHub(ctx, "222222222222", "us-east-1"); !errors.Is(err, awsclient.ErrAssumeRole) {
		t.Errorf("denied account: %v; want ErrAssumeRole", err)
	}
}
