package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/elbguard/elbguard/engine"
)

func TestTableLocatedColumns(t *testing.T) {
	res := &engine.Result{Reports: []engine.Report{
		{Account: "111111111111", Region: "eu-west-1", Type: engine.TypeClassic, Name: "web", Mode: engine.ModeEnforce, Status: engine.StatusCompliant},
		{Account: "333333333333", Region: "us-east-1", Type: "account", Name: "333333333333/us-east-1", Status: engine.StatusError,
			Findings: []engine.Finding{{Rule: "assume_role_failed", Detail: "cannot assume role"}}},
	}, Processed: 2, Counts: map[engine.Status]int{engine.StatusCompliant: 1, engine.StatusError: 1}}
	var b bytes.Buffer
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"ACCOUNT", "REGION", "TYPE", "NAME", "MODE", "STATUS", "CHANGES"}) {
		t.Errorf("header %q; want ACCOUNT and REGION first", got)
	}
	if got := strings.Fields(lines[1]); !slices.Equal(got[:4], []string{"111111111111", "eu-west-1", "classic", "web"}) {
		t.Errorf("row %q", got)
	}
	if !strings.Contains(lines[2], "cannot assume role") {
		t.Errorf("error row %q; want the finding", lines[2])
	}
	// Without locations the table is as before.
	b.Reset()
	res.Reports = res.Reports[:1]
	res.Reports[0].Account, res.Reports[0].Region = "", ""
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "TYPE") {
		t.Errorf("single-account table %q; want TYPE first", b.String())
	}
}

func TestParseOrgFlags(t *testing.T) {
	env := Env{Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		multi   bool
		named   bool // --accounts is the whole scope, the caller's account only when named
	}{
		{"none", nil, "", false, false},
		{"accounts", []string{"--accounts", "111111111111,222222222222"}, "", true, true},
		{"org and all", []string{"--accounts", "org", "--regions", "all", "--role-name", "guard"}, "", true, true},
		{"regions only", []string{"--regions", "us-east-1,eu-west-1"}, "", true, false},
		{"bad account", []string{"--accounts", "1234"}, `--accounts: account "1234"`, false, false},
		{"bad region", []string{"--regions", "us-east-1,nowhere"}, `--regions: region "nowhere"`, false, false},
		{"bad role", []string{"--accounts", "org", "--role-name", "a/b"}, `--role-name "a/b"`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse("audit", tt.args, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.org.multi() != tt.multi || o.orgCfg.NamedOnly != tt.named {
				t.Errorf("got %+v %+v, %v; want multi %v, named only %v", o.org, o.orgCfg, err, tt.multi, tt.named)
			}
		})
	}
}

type fakeRegions struct{ err error }

func (f fakeRegions) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	if aws.ToBool(in.AllRegions) {
		return nil, errors.New("asked for every region, enabled or not")
	}
	return &ec2.DescribeRegionsOutput{Regions: []ec2types.Region{{RegionName: aws.String("us-east-1")}, {RegionName: aws.String("eu-west-1")}, {RegionName: aws.String("bad region")}}}, f.err
}

func TestEnabledRegions(t *testing.T) {
	got, err := enabledRegions(context.Background(), fakeRegions{})
	if err != nil || !slices.Equal(got, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("got %v, %v; want the two well-formed enabled regions", got, err)
	}
	if _, err := enabledRegions(context.Background(), fakeRegions{err: errors.New("denied")}); err == nil {
		t.Errorf("denied: got nil; want an error")
	}
}
