package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

func TestOrgConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    OrgConfig
		wantErr string
	}{
		{"empty is single-account", nil, OrgConfig{}, ""},
		{"list", map[string]string{EnvAccounts: " 111111111111, 222222222222,111111111111", EnvRegions: "us-east-1,eu-west-1"},
			OrgConfig{Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1", "eu-west-1"}}, ""},
		{"org", map[string]string{EnvAccounts: "ORG", EnvRoleName: "guard", EnvSweepQueueURL: "https://sqs/q", EnvRateDescribe: "5", EnvRateMutate: "0.5"},
			OrgConfig{Org: true, RoleName: "guard", QueueURL: "https://sqs/q", Limits: awsclient.Limits{Describe: 5, Mutate: 0.5}}, ""},
		{"bad account", map[string]string{EnvAccounts: "111111111111,abc"}, OrgConfig{}, `ELBGUARD_ACCOUNTS: account "abc"`},
		{"bad region", map[string]string{EnvRegions: "us-east-1,Mars"}, OrgConfig{}, `ELBGUARD_REGIONS: region "Mars"`},
		{"bad role", map[string]string{EnvRoleName: "a/b"}, OrgConfig{}, `ELBGUARD_ROLE_NAME="a/b"`},
		{"zero rate", map[string]string{EnvRateMutate: "0"}, OrgConfig{}, `ELBGUARD_RATE_MUTATE="0"`},
		{"huge rate", map[string]string{EnvRateDescribe: "1e9"}, OrgConfig{}, `ELBGUARD_RATE_DESCRIBE="1e9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OrgConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrEnv) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v; want an ErrEnv containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) || got.Enabled() != tt.want.Enabled() {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

// fakeOrg lists accounts in pages of two and counts the calls.
type fakeOrg struct {
	accounts []orgtypes.Account
	calls    int
}

func (f *fakeOrg) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.calls++
	start := 0
	if in.NextToken != nil {
		if _, err := fmt.Sscan(*in.NextToken, &start); err != nil {
			return nil, err
		}
	}
	end := min(start+2, len(f.accounts))
	out := &organizations.ListAccountsOutput{Accounts: f.accounts[start:end]}
	if end < len(f.accounts) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func TestScopeCheck(t *testing.T) {
	org := &fakeOrg{accounts: []orgtypes.Account{
		{Id: aws.String("111111111111"), State: orgtypes.AccountStateActive},
		{Id: aws.String("222222222222"), State: orgtypes.AccountStateSuspended},
		{Id: aws.String("333333333333"), Status: orgtypes.AccountStatusActive},
		{Id: aws.String("444444444444"), State: orgtypes.AccountStatePendingClosure},
	}}
	orgScope, err := NewScope(OrgConfig{Org: true, Regions: []string{"us-east-1", "eu-west-1"}}, "999999999999", "us-east-1", org)
	if err != nil {
		t.Fatal(err)
	}
	listScope, err := NewScope(OrgConfig{Accounts: []string{"111111111111"}}, "999999999999", "eu-central-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		scope           *Scope
		account, region string
		wantReason      string // empty: in scope
	}{
		{"org active", orgScope, "111111111111", "eu-west-1", ""},
		{"org active by old Status", orgScope, "333333333333", "us-east-1", ""},
		{"org suspended", orgScope, "222222222222", "us-east-1", "not an active account of the organization"},
		{"org closing", orgScope, "444444444444", "us-east-1", "not an active account of the organization"},
		{"org outsider", orgScope, "555555555555", "us-east-1", "not an active account of the organization"},
		{"hub always", orgScope, "999999999999", "us-east-1", ""},
		{"region not guarded", orgScope, "111111111111", "ap-south-1", "region ap-south-1 is not guarded"},
		{"malformed account", orgScope, "1111", "us-east-1", `malformed account id "1111"`},
		{"malformed region", orgScope, "111111111111", "us_east_1", `malformed region "us_east_1"`},
		{"list member in own region", listScope, "111111111111", "eu-central-1", ""},
		{"list non-member", listScope, "222222222222", "eu-central-1", "not in the configured accounts"},
		{"list other region", listScope, "111111111111", "us-east-1", "region us-east-1 is not guarded (guarded: eu-central-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, err := tt.scope.Check(context.Background(), tt.account, tt.region)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.wantReason == "") != (reason == "") || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("got reason %q; want %q", reason, tt.wantReason)
			}
		})
	}
	accounts, err := orgScope.Accounts(context.Background())
	if err != nil || !slices.Equal(accounts, []string{"999999999999", "111111111111", "333333333333"}) {
		t.Errorf("accounts: got %v, %v; want the hub then the active ones", accounts, err)
	}
	if _, err := NewScope(OrgConfig{Org: true}, "999999999999", "us-east-1", nil); err == nil {
		t.Errorf("org without a lister: got nil; want an error")
	}
}

// fakeQueue records SendMessageBatch calls; failAt fails that entry id.
type fakeQueue struct {
	batches [][]string
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var bodies []string
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		bodies = append(bodies, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	q.batches = append(q.batches, bodies)
	return out, nil
}

func TestEnqueueBatchesAndSplits(t *testing.T) {
	var units []Unit
	for i := range 23 {
		units = append(units, Unit{Account: fmt.Sprintf("%012d", i), Region: "us-east-1"})
	}
	long := &engine.Targets{}
	for i := range maxRemaining + 5 {
		long.Classic = append(long.Classic, fmt.Sprintf("lb-%d", i))
	}
	long.LoadBalancers = []string{"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1"}
	units = append(units, Unit{Account: "111111111111", Region: "us-east-1", Remaining: long, Part: 2})
	q := &fakeQueue{}
	n, err := Enqueue(context.Background(), q, "https://q", units)
	if err != nil {
		t.Fatal(err)
	}
	if n != 23+3 || len(q.batches) != 3 || len(q.batches[0]) != 10 || len(q.batches[2]) != 6 {
		t.Fatalf("got %d sent in batches of %v; want 26 in 10, 10, 6", n, func() (s []int) {
			for _, b := range q.batches {
				s = append(s, len(b))
			}
			return s
		}())
	}
	var last Unit
	if err := json.Unmarshal([]byte(q.batches[2][5]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Part != 2 || len(last.Remaining.LoadBalancers) != 1 || len(last.Remaining.Classic) != 0 {
		t.Errorf("last split part: got %+v; want part 2 with the one ELBv2 ARN", last)
	}
}

func TestMergeAndLocationError(t *testing.T) {
	a := &engine.Result{Reports: []engine.Report{{Account: "222222222222", Region: "us-east-1", Name: "b", Status: engine.StatusCompliant}},
		Found: 1, Processed: 1, Counts: map[engine.Status]int{engine.StatusCompliant: 1}}
	b := LocationError("111111111111", "eu-west-1", fmt.Errorf("x: %w", awsclient.ErrAssumeRole))
	got := Merge(a, nil, b)
	if got.Found != 2 || got.Counts[engine.StatusError] != 1 || got.Reports[0].Account != "111111111111" ||
		got.Reports[0].Findings[0].Rule != RuleAssumeRole || got.Reports[0].Type != TypeLocation {
		t.Errorf("got %+v; want two reports, the assume-role error first", got)
	}
}

func TestEMFLocationKeepsDimensions(t *testing.T) {
	res := &engine.Result{Found: 1, Processed: 1, Counts: map[engine.Status]int{engine.StatusRemediated: 1}}
	line, err := EMFLocation(res, FunctionSweeper, "111111111111", "eu-west-1", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	s := string(line)
	for _, want := range []string{`"Account":"111111111111"`, `"Region":"eu-west-1"`, `"Dimensions":[["Function"]]`, `"Remediated":1`} {
		if !strings.Contains(s, want) {
			t.Errorf("EMF %s lacks %s", s, want)
		}
	}
}
