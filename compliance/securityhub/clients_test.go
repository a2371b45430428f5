package securityhub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// accountHub is a fake Security Hub of one account and region: like AWS with
// the default product ARN, it rejects findings of any other location.
type accountHub struct {
	fakeHub
	account, region string
	foreign         int
}

func (h *accountHub) BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	for _, f := range in.Findings {
		if aws.ToString(f.AwsAccountId) != h.account || aws.ToString(f.Region) != h.region ||
			aws.ToString(f.ProductArn) != ProductARN(h.region, h.account) {
			h.foreign++
		}
	}
	return h.fakeHub.BatchImportFindings(ctx, in, optFns...)
}

// fakeClients hands out one accountHub per location; denied locations fail
// as a role that cannot be assumed.
type fakeClients struct {
	hubs   map[[2]string]*accountHub
	denied map[[2]string]bool
	asked  []string
}

var errDenied = errors.New("assume role: AccessDenied")

func (c *fakeClients) SecurityHub(_ context.Context, account, region string) (ImportAPI, error) {
	key := [2]string{account, region}
	c.asked = append(c.asked, account+"/"+region)
	if c.denied[key] {
		return nil, errDenied
	}
	if c.hubs[key] == nil {
		c.hubs[key] = &accountHub{account: account, region: region}
	}
	return c.hubs[key], nil
}

// fleetResult has n compliant NLBs in every account and region, stamped
// with their location as a multi-account run does.
func fleetResult(accounts, regions []string, n int) *engine.Result {
	res := &engine.Result{}
	for _, a := range accounts {
		for _, r := range regions {
			for i := range n {
				res.Reports = append(res.Reports, engine.Report{Name: fmt.Sprintf("nlb-%d", i), Type: engine.TypeNetwork,
					ARN:     fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/net/nlb-%d/1", r, a, i),
					Account: a, Region: r, Mode: engine.ModeEnforce, Status: engine.StatusCompliant})
			}
		}
	}
	return res
}

func TestSinkImportsEachLocationWithItsClient(t *testing.T) {
	const hub, spoke = "111111111111", "222222222222"
	accounts, regions := []string{hub, spoke}, []string{"us-east-1", "eu-west-1"}
	tests := []struct {
		name       string
		denied     [][2]string
		wantSent   int
		wantFailed int
		wantErr    string
	}{
		{name: "all locations", wantSent: 4 * 3},
		{name: "one role not assumable", denied: [][2]string{{spoke, "eu-west-1"}}, wantSent: 3 * 3, wantFailed: 3,
			wantErr: "security hub client of 222222222222 in eu-west-1: assume role: AccessDenied"},
		{name: "every spoke denied", denied: [][2]string{{spoke, "eu-west-1"}, {spoke, "us-east-1"}}, wantSent: 2 * 3, wantFailed: 2 * 3,
			wantErr: "import 6 of 12 findings into Security Hub failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own := &fakeHub{}
			cl := &fakeClients{hubs: map[[2]string]*accountHub{}, denied: map[[2]string]bool{}}
			for _, d := range tt.denied {
				cl.denied[d] = true
			}
			s := &Sink{Client: own, Clients: cl, Locator: &compliance.Locator{Region: "us-east-1", Account: hub}}
			st, err := s.Publish(context.Background(), fleetResult(accounts, regions, 3), compliance.Trigger{Kind: compliance.TriggerSweep})
			if st.Sent != tt.wantSent || st.Failed != tt.wantFailed {
				t.Errorf("sent %d failed %d; want %d and %d", st.Sent, st.Failed, tt.wantSent, tt.wantFailed)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v; want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && !errors.Is(err, errDenied) {
				t.Errorf("error %v does not wrap the client's error", err)
			}
			if len(own.calls) != 0 {
				t.Errorf("the caller's own client imported %v; every report named its location", own.calls)
			}
			want := []string{hub + "/eu-west-1", hub + "/us-east-1", spoke + "/eu-west-1", spoke + "/us-east-1"}
			if !slices.Equal(cl.asked, want) {
				t.Errorf("clients asked %v; want %v (each location once, in order)", cl.asked, want)
			}
			for key, h := range cl.hubs {
				if h.foreign != 0 {
					t.Errorf("%v: imported %d findings of another location", key, h.foreign)
				}
				if len(h.calls) != 1 || len(h.calls[0]) != 3 {
					t.Errorf("%v: calls %v; want one call of its 3 findings", key, h.calls)
				}
			}
			if got := len(cl.hubs); got != 4-len(tt.denied) {
				t.Errorf("%d locations imported; want %d", got, 4-len(tt.denied))
			}
		})
	}
}

// TestSinkOwnLocation: reports without an account are the caller's and go
// through Client even when Clients is set; without Clients, everything does
// (the single-account path).
func TestSinkOwnLocation(t *testing.T) {
	t.Run("reports without account", func(t *testing.T) {
		own := &fakeHub{}
		cl := &fakeClients{hubs: map[[2]string]*accountHub{}}
		s := &Sink{Client: own, Clients: cl, Locator: &compliance.Locator{Region: "us-east-1", STS: &fakeSTS{}}}
		st, err := s.Publish(context.Background(), nlbs(3), compliance.Trigger{Kind: compliance.TriggerSweep})
		if err != nil || st.Sent != 3 || len(own.calls) != 1 || len(cl.asked) != 0 {
			t.Errorf("sent %d, err %v, own calls %d, clients asked %v; want 3 sent by the own client alone", st.Sent, err, len(own.calls), cl.asked)
		}
	})
	t.Run("no Clients", func(t *testing.T) {
		own := &fakeHub{}
		s := &Sink{Client: own, Locator: &compliance.Locator{Region: "us-east-1", Account: "111111111111"}}
		res := fleetResult([]string{"111111111111"}, []string{"us-east-1"}, 2)
		st, err := s.Publish(context.Background(), res, compliance.Trigger{Kind: compliance.TriggerSweep})
		if err != nil || st.Sent != 2 || len(own.calls) != 1 {
			t.Errorf("sent %d, err %v, own calls %d; want 2 sent in one call", st.Sent, err, len(own.calls))
		}
	})
}
