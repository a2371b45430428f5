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
		{"org units", map[string]string{EnvOrgUnits: "ou-ab12-abcdefgh,r-ab12", EnvAccounts: "111111111111"},
			OrgConfig{Accounts: []string{"111111111111"}, OrgUnits: []string{"ou-ab12-abcdefgh", "r-ab12"}}, ""},
		{"bad org unit", map[string]string{EnvOrgUnits: "o-abcdefghij"}, OrgConfig{}, `ELBGUARD_ORG_UNITS: organizational unit "o-abcdefghij"`},
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

// fakeOrg lists accounts in pages of two and counts the calls. parent
// files accounts (by id) and units under parents; accounts without one are
// in the root r-root.
type fakeOrg struct {
	accounts []orgtypes.Account
	parent   map[string]string
	calls    int
}

func (f *fakeOrg) parentOf(id string) string {
	if p, ok := f.parent[id]; ok {
		return p
	}
	return "r-root"
}

func (f *fakeOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls++
	out := &organizations.ListAccountsForParentOutput{}
	for _, a := range f.accounts {
		if f.parentOf(aws.ToString(a.Id)) == aws.ToString(in.ParentId) {
			out.Accounts = append(out.Accounts, a)
		}
	}
	return out, nil
}

func (f *fakeOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	f.calls++
	out := &organizations.ListOrganizationalUnitsForParentOutput{}
	for child, p := range f.parent {
		if p == aws.ToString(in.ParentId) && strings.HasPrefix(child, "ou-") {
			out.OrganizationalUnits = append(out.OrganizationalUnits, orgtypes.OrganizationalUnit{Id: aws.String(child)})
		}
	}
	return out, nil
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

// TestScopeOrgUnits: the accounts of the StackSet's organizational units,
// recursively, plus the listed ones; the management account in the root and
// an account of another unit are outside; only the listed are explicit.
func TestScopeOrgUnits(t *testing.T) {
	const (
		workloads = "ou-abcd-11111111"
		prod      = "ou-abcd-22222222" // under workloads
		sandbox   = "ou-abcd-33333333"
	)
	org := &fakeOrg{
		accounts: []orgtypes.Account{
			{Id: aws.String("100000000000"), State: orgtypes.AccountStateActive}, // management, in the root
			{Id: aws.String("111111111111"), State: orgtypes.AccountStateActive},
			{Id: aws.String("222222222222"), State: orgtypes.AccountStateActive},
			{Id: aws.String("333333333333"), State: orgtypes.AccountStateActive},
			{Id: aws.String("444444444444"), State: orgtypes.AccountStateSuspended},
		},
		parent: map[string]string{workloads: "r-root", prod: workloads, sandbox: "r-root",
			"111111111111": workloads, "222222222222": prod, "333333333333": sandbox, "444444444444": prod},
	}
	cfg := OrgConfig{OrgUnits: []string{workloads}, Accounts: []string{"555555555555"}}
	if !cfg.Enabled() {
		t.Fatal("org units alone: not enabled")
	}
	s, err := NewScope(cfg, "999999999999", "us-east-1", org)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Accounts(context.Background())
	if want := []string{"999999999999", "555555555555", "111111111111", "222222222222"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("accounts: got %v, %v; want %v", got, err, want)
	}
	for _, tt := range []struct {
		account    string
		explicit   bool
		wantReason string
	}{
		{"999999999999", true, ""},
		{"555555555555", true, ""},
		{"222222222222", false, ""},
		{"333333333333", false, "not an active account of the organizational units ou-abcd-11111111"},
		{"100000000000", false, "not an active account of the organizational units"},
	} {
		if e := s.Explicit(tt.account); e != tt.explicit {
			t.Errorf("Explicit(%s): got %v; want %v", tt.account, e, tt.explicit)
		}
		reason, err := s.Check(context.Background(), tt.account, "us-east-1")
		if err != nil || (tt.wantReason == "") != (reason == "") || !strings.Contains(reason, tt.wantReason) {
			t.Errorf("Check(%s): got %q, %v; want %q", tt.account, reason, err, tt.wantReason)
		}
	}
	if _, err := NewScope(OrgConfig{OrgUnits: []string{workloads}}, "999999999999", "us-east-1", nil); err == nil {
		t.Errorf("org units without a lister: got nil; want an error")
	}
}

// TestScopeNamedOnly: the CLI's --accounts A,B is exactly A and B; the
// caller's own account only when named.
func TestScopeNamedOnly(t *testing.T) {
	for _, tt := range []struct {
		name     string
		accounts []string
		want     []string
	}{
		{"caller not named", []string{"111111111111", "222222222222"}, []string{"111111111111", "222222222222"}},
		{"caller named", []string{"111111111111", "999999999999"}, []string{"999999999999", "111111111111"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewScope(OrgConfig{Accounts: tt.accounts, NamedOnly: true}, "999999999999", "us-east-1", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Accounts(context.Background())
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
			reason, _ := s.Check(context.Background(), "999999999999", "us-east-1")
			if named := slices.Contains(tt.accounts, "999999999999"); named != (reason == "") {
				t.Errorf("Check(caller): got %q; want in scope only when named", reason)
			}
		})
	}
}

func TestParseOrgUnits(t *testing.T) {
	got, err := ParseOrgUnits(" ou-ab12-abcdefgh,r-ab12, ou-ab12-abcdefgh")
	if err != nil || !slices.Equal(got, []string{"ou-ab12-abcdefgh", "r-ab12"}) {
		t.Errorf("got %v, %v; want the two ids", got, err)
	}
	for _, bad := range []string{"ou-x", "o-abcdefghij", "ou-ab12-abcdefgh,", "r-AB12"} {
		if _, err := ParseOrgUnits(bad); err == nil {
			t.Errorf("ParseOrgUnits(%q): got nil; want an error", bad)
		}
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
