package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/elbguard/elbguard/internal/awsclient"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run runs the command line with an empty environment.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update, then review):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestHelp: every form of help goes to stdout, exits 0, and a command's
// help lists that command's own flags with their defaults.
func TestHelp(t *testing.T) {
	tests := []struct {
		args   []string
		golden string
	}{
		{[]string{"--help"}, "help.golden"},
		{[]string{"-h"}, "help.golden"},
		{[]string{"help"}, "help.golden"},
		{[]string{"help", "audit"}, "help_audit.golden"},
		{[]string{"audit", "--help"}, "help_audit.golden"},
		{[]string{"audit", "-h"}, "help_audit.golden"},
		{[]string{"help", "remediate"}, "help_remediate.golden"},
		{[]string{"remediate", "web", "--help"}, "help_remediate.golden"},
		{[]string{"help", "handle"}, "help_handle.golden"},
		{[]string{"handle", "--help"}, "help_handle.golden"},
		{[]string{"help", "migrate"}, "help_migrate.golden"},
		{[]string{"migrate", "--help"}, "help_migrate.golden"},
		{[]string{"migrate", "web", "-h"}, "help_migrate.golden"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			out, errs, code := run(t, tt.args...)
			if code != ExitOK || errs != "" {
				t.Fatalf("got exit %d, stderr %q; want 0 and nothing on stderr", code, errs)
			}
			golden(t, tt.golden, out)
		})
	}
	for _, c := range commands {
		out, _, _ := run(t, "help", c.name)
		for _, f := range []string{"--idle-timeout-tag-key", "--profile", "--endpoint-url", "-o, --output", "--debug"} {
			if c.name == "migrate" && f == "--idle-timeout-tag-key" {
				continue // migrate reads no mode tags
			}
			if !strings.Contains(out, f) {
				t.Errorf("help %s: no %s", c.name, f)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: elbguard COMMAND"},
		{[]string{"frobnicate"}, `elbguard: unknown command "frobnicate"; run 'elbguard help' for the list`},
		{[]string{"help", "frobnicate"}, `elbguard: unknown command "frobnicate"`},
		{[]string{"audit", "--bogus"}, "elbguard audit: unknown flag: --bogus\nRun 'elbguard audit --help' for its flags.\n"},
		{[]string{"audit", "--concurrency"}, "elbguard audit: flag needs an argument: --concurrency"},
		{[]string{"audit", "--concurrency", "x"}, `invalid value "x" for flag --concurrency`},
		{[]string{"audit", "-o", "yaml"}, `elbguard audit: --output "yaml": want table, json or html`},
		{[]string{"handle", "-o", "html", "-"}, `elbguard handle: --output "html": want table or json`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			out, errs, code := run(t, tt.args...)
			if code != ExitUsage || out != "" || !strings.Contains(errs, tt.want) {
				t.Errorf("got exit %d, stdout %q, stderr %q; want 2, nothing, %q", code, out, errs, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, a := range []string{"--version", "version"} {
		out, errs, code := run(t, a)
		if code != ExitOK || errs != "" || !regexp.MustCompile(`^elbguard \S+ \(commit \S+, go\S+ \w+/\w+\)\n$`).MatchString(out) {
			t.Errorf("%s: got %d %q %q; want 0 and \"elbguard VERSION (commit C, goV OS/ARCH)\"", a, code, out, errs)
		}
	}
}

// TestExplain: the errors people meet first become one line that says what
// to do; the rest keep their words.
func TestExplain(t *testing.T) {
	op := func(service, name string, err error) error {
		return fmt.Errorf("list load balancers: %w", &smithy.OperationError{ServiceID: service, OperationName: name, Err: err})
	}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:iam::1:user/x is not authorized"}
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	dial := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no region", fmt.Errorf("load AWS configuration: %w; set AWS_REGION or --region", awsclient.ErrNoRegion), `You must specify a region. Run "aws configure", set AWS_REGION, or pass --region.`},
		{"sdk no region", op("EC2", "DescribeRegions", &aws.MissingRegionError{}), `You must specify a region.`},
		{"no credentials", op("Elastic Load Balancing", "DescribeLoadBalancers", errors.New("get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found")), "Unable to locate credentials. Run \"aws configure\""},
		{"denied", op("Elastic Load Balancing v2", "DescribeLoadBalancers", denied), `access denied to elasticloadbalancing:DescribeLoadBalancers: allow "elasticloadbalancing:DescribeLoadBalancers" in the policy`},
		{"ec2 denied", op("EC2", "DescribeTags", &smithy.GenericAPIError{Code: "UnauthorizedOperation"}), `access denied to ec2:DescribeTags`},
		{"throttled", op("Elastic Load Balancing", "DescribeTags", &retry.MaxAttemptsError{Attempt: 3, Err: throttle}), "throttled by AWS on elasticloadbalancing:DescribeTags after the SDK's retries"},
		{"unreachable", op("STS", "GetCallerIdentity", dial), `Could not connect to the endpoint URL "http://127.0.0.1:1"`},
		{"other", errors.New("engine: something else"), "engine: something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explain(tt.err)
			if !strings.HasPrefix(got, tt.want) || strings.Contains(got, "\n") {
				t.Errorf("got  %q\nwant %q... (one line)", got, tt.want)
			}
		})
	}
}
