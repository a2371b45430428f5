package infra

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// validHub is a hub configuration every case below changes one field of.
func validHub() HubProps {
	return HubProps{OrgID: "o-a1b2c3d4e5", Regions: []string{"us-east-1", "eu-west-1"}}
}

func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("error = %v; want nil", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalidProps) {
		t.Fatalf("error = %v; want an ErrInvalidProps error containing %q", err, want)
	}
}

func TestHubPropsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*HubProps)
		wantErr string
	}{
		{name: "organization", change: func(*HubProps) {}},
		{name: "account list without organization", change: func(h *HubProps) {
			h.OrgID, h.Accounts = "", []string{"111111111111", "222222222222"}
		}},
		{name: "all set", change: func(h *HubProps) {
			h.Accounts, h.SpokeRoleName, h.SweepWorkers, h.RateDescribe, h.RateMutate = []string{"111111111111"}, "team.elbguard@x", 1000, 10, 0.5
			h.Regions = []string{"us-gov-west-1", "ap-southeast-5", "il-central-1", "cn-north-1"}
		}},
		{name: "neither organization nor accounts", change: func(h *HubProps) { h.OrgID = "" }, wantErr: "Hub.OrgID and Hub.Accounts are both empty"},
		{name: "organization id without o-", change: func(h *HubProps) { h.OrgID = "a1b2c3d4e5" }, wantErr: `Hub.OrgID "a1b2c3d4e5": want an organization id`},
		{name: "organization id too short", change: func(h *HubProps) { h.OrgID = "o-abc" }, wantErr: "Hub.OrgID"},
		{name: "organization id upper case", change: func(h *HubProps) { h.OrgID = "o-A1B2C3D4E5" }, wantErr: "Hub.OrgID"},
		{name: "account of 11 digits", change: func(h *HubProps) { h.Accounts = []string{"111111111111", "22222222222"} },
			wantErr: `Hub.Accounts[1] "22222222222": want a 12-digit account id`},
		{name: "account with dashes", change: func(h *HubProps) { h.Accounts = []string{"1111-2222-3333"} }, wantErr: "Hub.Accounts[0]"},
		{name: "no regions", change: func(h *HubProps) { h.Regions = nil }, wantErr: "Hub.Regions is empty"},
		{name: "region twice", change: func(h *HubProps) { h.Regions = []string{"us-east-1", "eu-west-1", "us-east-1"} },
			wantErr: `Hub.Regions[2] "us-east-1": already listed at 0`},
		{name: "account twice", change: func(h *HubProps) { h.Accounts = []string{"111111111111", "111111111111"} }, wantErr: "Hub.Accounts[1]"},
		{name: "availability zone for region", change: func(h *HubProps) { h.Regions = []string{"us-east-1a"} },
			wantErr: `Hub.Regions[0] "us-east-1a": want a region name`},
		{name: "all is not a region here", change: func(h *HubProps) { h.Regions = []string{"all"} }, wantErr: "Hub.Regions[0]"},
		{name: "role name with slash", change: func(h *HubProps) { h.SpokeRoleName = "path/role" }, wantErr: "Hub.SpokeRoleName"},
		{name: "role name too long", change: func(h *HubProps) { h.SpokeRoleName = strings.Repeat("r", 65) }, wantErr: "Hub.SpokeRoleName"},
		{name: "one worker", change: func(h *HubProps) { h.SweepWorkers = 1 }, wantErr: "Hub.SweepWorkers 1: allowed values are 2-1000"},
		{name: "too many workers", change: func(h *HubProps) { h.SweepWorkers = 1001 }, wantErr: "Hub.SweepWorkers"},
		{name: "negative rate", change: func(h *HubProps) { h.RateMutate = -1 }, wantErr: "Hub.RateMutate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validHub()
			tt.change(&h)
			wantInvalid(t, EnforcerProps{Hub: &h}.Validate(), tt.wantErr)
		})
	}
}

func TestHubEnvironment(t *testing.T) {
	url := "https://sqs.us-east-1.amazonaws.com/111111111111/q"
	tests := []struct {
		name string
		hub  HubProps
		want map[string]string
	}{
		{name: "organization, engine's rates", hub: validHub(), want: map[string]string{
			envRoleName: "elbguard-spoke", envAccounts: "org", envRegions: "us-east-1,eu-west-1", envSweepQueueURL: url}},
		{name: "account list, rates", hub: HubProps{Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"eu-west-1"},
			SpokeRoleName: "guard", RateDescribe: 8, RateMutate: 0.5}, want: map[string]string{
			envRoleName: "guard", envAccounts: "111111111111,222222222222", envRegions: "eu-west-1", envSweepQueueURL: url,
			envRateDescribe: "8", envRateMutate: "0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			for k, v := range hubEnvironment(tt.hub.withDefaults(), &url) {
				got[k] = *v
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hubEnvironment() = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestStackSetPropsValidate(t *testing.T) {
	tests := []struct {
		name    string
		props   StackSetProps
		wantErr string
	}{
		{name: "one unit", props: StackSetProps{OrgUnits: []string{"ou-ab12-cdef3456"}}},
		{name: "root and units, self, preferences", props: StackSetProps{OrgUnits: []string{"r-ab12", "ou-ab12-cdef3456gh"}, CallAs: "SELF",
			FailureTolerancePercentage: -1, MaxConcurrentPercentage: 100}},
		{name: "no units", props: StackSetProps{}, wantErr: "StackSet.OrgUnits is empty"},
		{name: "account for unit", props: StackSetProps{OrgUnits: []string{"111111111111"}}, wantErr: `StackSet.OrgUnits[0] "111111111111": want an organizational unit id`},
		{name: "unit without suffix", props: StackSetProps{OrgUnits: []string{"ou-ab12"}}, wantErr: "StackSet.OrgUnits[0]"},
		{name: "call as member", props: StackSetProps{OrgUnits: []string{"r-ab12"}, CallAs: "MEMBER"}, wantErr: `StackSet.CallAs "MEMBER": allowed values are DELEGATED_ADMIN, SELF`},
		{name: "tolerance over 100", props: StackSetProps{OrgUnits: []string{"r-ab12"}, FailureTolerancePercentage: 101}, wantErr: "StackSet.FailureTolerancePercentage"},
		{name: "concurrency over 100", props: StackSetProps{OrgUnits: []string{"r-ab12"}, MaxConcurrentPercentage: 101}, wantErr: "StackSet.MaxConcurrentPercentage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, tt.props.validate(), tt.wantErr)
		})
	}
	got := StackSetProps{OrgUnits: []string{"r-ab12"}}.withDefaults()
	if got.CallAs != "DELEGATED_ADMIN" || got.FailureTolerancePercentage != 10 || got.MaxConcurrentPercentage != 25 {
		t.Errorf("withDefaults() = %+v; want DELEGATED_ADMIN, 10%%, 25%%", got)
	}
}

func TestSpokePropsValidate(t *testing.T) {
	hubRole := "arn:aws:iam::111111111111:role/ElbGuardHub-EnforcerRole61B23341-Abc"
	tests := []struct {
		name       string
		props      SpokeProps
		requireHub bool
		wantErr    string
	}{
		{name: "hub role only", props: SpokeProps{HubRoleArn: hubRole}, requireHub: true},
		{name: "all set", props: SpokeProps{HubRoleArn: "arn:aws-us-gov:iam::111111111111:role/team/hub", HubAccount: "111111111111",
			HubRegion: "us-gov-west-1", RoleRegion: "us-gov-east-1", OrgID: "o-a1b2c3d4e5", RoleName: "guard", DefaultMode: "enforce", TagKey: "pp"}, requireHub: true},
		{name: "stack set leaves the hub to parameters", props: SpokeProps{OrgID: "o-a1b2c3d4e5"}, requireHub: false},
		{name: "no hub role", props: SpokeProps{HubAccount: "111111111111"}, requireHub: true, wantErr: `HubRoleArn "": want an IAM role ARN`},
		{name: "user for role", props: SpokeProps{HubRoleArn: "arn:aws:iam::111111111111:user/ops"}, requireHub: true, wantErr: "HubRoleArn"},
		{name: "hub account differs from role", props: SpokeProps{HubRoleArn: hubRole, HubAccount: "222222222222"}, requireHub: true,
			wantErr: `HubAccount "222222222222": the hub role`},
		{name: "bad hub account", props: SpokeProps{HubAccount: "12"}, wantErr: "HubAccount"},
		{name: "bad hub region", props: SpokeProps{HubRoleArn: hubRole, HubRegion: "Frankfurt"}, requireHub: true, wantErr: `HubRegion "Frankfurt"`},
		{name: "bad role region", props: SpokeProps{RoleRegion: "eu-west"}, wantErr: "RoleRegion"},
		{name: "bad organization", props: SpokeProps{OrgID: "org-1"}, wantErr: "OrgID"},
		{name: "bad role name", props: SpokeProps{RoleName: "a b"}, wantErr: "RoleName"},
		{name: "bad mode", props: SpokeProps{DefaultMode: "strict"}, wantErr: "DefaultMode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, tt.props.validate(tt.requireHub), tt.wantErr)
		})
	}
	if got := (SpokeProps{HubRoleArn: hubRole}).withDefaults(); got.HubAccount != "111111111111" || got.RoleName != DefaultSpokeRoleName {
		t.Errorf("withDefaults() = %+v; want the hub account from the role ARN and role name %s", got, DefaultSpokeRoleName)
	}
}

func TestOrgConfigFromContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		want    OrgConfig
		wantErr string
	}{
		{name: "none", want: OrgConfig{}},
		{
			name: "hub with StackSet, strings from -c",
			ctx: map[string]any{"hub": "true", "orgId": "o-a1b2c3d4e5", "regions": "us-east-1, eu-west-1,", "orgUnits": "ou-ab12-cdef3456",
				"spokeRoleName": "guard", "sweepWorkers": "20", "rateDescribe": "8", "rateMutate": "0.5", "stackSetCallAs": "SELF"},
			want: OrgConfig{
				Hub: &HubProps{OrgID: "o-a1b2c3d4e5", Regions: []string{"us-east-1", "eu-west-1"}, SpokeRoleName: "guard",
					SweepWorkers: 20, RateDescribe: 8, RateMutate: 0.5},
				StackSet: &StackSetProps{OrgUnits: []string{"ou-ab12-cdef3456"}, CallAs: "SELF"},
			},
		},
		{
			name: "hub with accounts, lists from cdk.json",
			ctx:  map[string]any{"hub": true, "accounts": []any{"111111111111", "222222222222"}, "regions": []any{"eu-west-1"}, "rateMutate": float64(2)},
			want: OrgConfig{Hub: &HubProps{Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"eu-west-1"}, RateMutate: 2}},
		},
		{
			name: "spoke",
			ctx: map[string]any{"hubRoleArn": "arn:aws:iam::111111111111:role/hub", "hubRegion": "eu-west-1", "orgId": "o-a1b2c3d4e5",
				"spokeRoleRegion": "us-east-1"},
			want: OrgConfig{Spoke: &SpokeProps{HubRoleArn: "arn:aws:iam::111111111111:role/hub", HubRegion: "eu-west-1", OrgID: "o-a1b2c3d4e5", RoleRegion: "us-east-1"}},
		},
		{name: "list of numbers", ctx: map[string]any{"hub": true, "accounts": []any{float64(1)}}, wantErr: "context accounts=[1]: want a list of strings"},
		{name: "bad rate", ctx: map[string]any{"hub": true, "rateDescribe": "fast"}, wantErr: "context rateDescribe=fast: want a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromContext(func(k string) any { return tt.ctx[k] })
			if tt.wantErr != "" {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromContext() error = %v; want nil", err)
			}
			if !reflect.DeepEqual(got.Org, tt.want) {
				t.Errorf("ConfigFromContext().Org = %s; want %s", dump(got.Org), dump(tt.want))
			}
		})
	}
}

func dump(o OrgConfig) string {
	var b strings.Builder
	if o.Hub != nil {
		b.WriteString("Hub:" + sprint(*o.Hub) + " ")
	}
	if o.StackSet != nil {
		b.WriteString("StackSet:" + sprint(*o.StackSet) + " ")
	}
	if o.Spoke != nil {
		b.WriteString("Spoke:" + sprint(*o.Spoke))
	}
	return b.String()
}

func sprint(v any) string { return fmt.Sprintf("%+v", v) }

func ExampleHubProps() {
	hub := &HubProps{OrgID: "o-a1b2c3d4e5", Regions: []string{"us-east-1", "eu-west-1a"}}
	fmt.Println(EnforcerProps{Hub: hub}.Validate())
	// Output: infra: invalid props: Hub.Regions[1] "eu-west-1a": want a region name such as us-east-1 or eu-central-1
}

func ExampleSpokeProps_Validate() {
	err := SpokeProps{HubRoleArn: "arn:aws:iam::111111111111:role/hub", HubAccount: "222222222222"}.Validate()
	fmt.Println(err)
	// Output: infra: invalid props: HubAccount "222222222222": the hub role arn:aws:iam::111111111111:role/hub is in account 111111111111; want the same account
}
