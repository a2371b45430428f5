package fleet

import (
	"strings"
	"testing"
)

func TestForeignEvent(t *testing.T) {
	tests := []struct {
		name, raw, account, region string
		want                       string // substring; empty: handled here
	}{
		{"own", `{"account":"111111111111","region":"us-east-1"}`, "111111111111", "us-east-1", ""},
		{"other account", `{"account":"222222222222","region":"us-east-1"}`, "111111111111", "us-east-1", "account 222222222222 but these credentials are account 111111111111"},
		{"other region", `{"account":"111111111111","region":"eu-west-1"}`, "111111111111", "us-east-1", "region eu-west-1 but this run is in us-east-1"},
		{"no location (verification batch)", `{"Records":[]}`, "111111111111", "us-east-1", ""},
		{"undecodable", `not json`, "111111111111", "us-east-1", ""},
		{"caller unknown", `{"account":"222222222222","region":"us-east-1"}`, "", "us-east-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ForeignEvent([]byte(tt.raw), tt.account, tt.region)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}
