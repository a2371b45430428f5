//go:build integration

package test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// TestCLIFirstErrors runs the real binary into the errors people meet first
// and wants, for each, exit 2 and one line on stderr that says what to do,
// as the AWS CLI does; --debug adds the full chain.
func TestCLIFirstErrors(t *testing.T) {
	m := harness.StartMoto(t)
	p, err := faultproxy.New(m.URL, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.Intercept("DescribeLoadBalancers", func(w http.ResponseWriter, _ *http.Request, _ url.Values, _ http.Handler) {
		faultproxy.WriteError(w, http.StatusForbidden, "Sender", "AccessDenied", "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers")
	})
	home := t.TempDir()
	noFiles := []string{"HOME=" + home, "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true"}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no region", append(noFiles, "AWS_REGION=", "AWS_DEFAULT_REGION="), []string{"audit"},
			`elbguard: You must specify a region. Run "aws configure", set AWS_REGION, or pass --region.`},
		{"no credentials", append(noFiles, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN="), []string{"audit"},
			`elbguard: Unable to locate credentials. Run "aws configure", set AWS_PROFILE (or --profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`},
		{"unknown profile", noFiles, []string{"audit", "--profile", "nosuch"},
			`elbguard: Unable to locate credentials.`},
		{"endpoint unreachable", []string{"AWS_MAX_ATTEMPTS=1"}, []string{"audit", "--endpoint-url", "http://" + harness.FreeAddr(t)},
			`elbguard: Could not connect to the endpoint URL "http://127.0.0.1:`},
		{"access denied", []string{"AWS_MAX_ATTEMPTS=1"}, []string{"audit", "--endpoint-url", srv.URL},
			`elbguard: access denied to elasticloadbalancing:DescribeLoadBalancers: allow "elasticloadbalancing:DescribeLoadBalancers" in the policy`},
		{"throttled", []string{"AWS_MAX_ATTEMPTS=2", "AWS_RETRY_MODE=standard"}, []string{"audit", "--endpoint-url", srv.URL, "--default-mode", "audit"},
			`elbguard: throttled by AWS on elasticloadbalancing:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "throttled" { // after access denied: throttle every listing
				if err := p.SetRules(faultproxy.Rule{Action: "DescribeLoadBalancers", Kind: faultproxy.Throttle}); err != nil {
					t.Fatal(err)
				}
			}
			res := enfRunCLI(t, m, tt.env, tt.args...)
			lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
			if res.Code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) || res.Stdout != "" {
				t.Fatalf("got exit %d, stdout %q, stderr:\n%s\nwant exit 2 and one line starting %q", res.Code, res.Stdout, res.Stderr, tt.want)
			}
			debug := enfRunCLI(t, m, tt.env, append(tt.args, "--debug")...)
			if debug.Code != 2 || !strings.Contains(debug.Stderr, "elbguard: debug: ") {
				t.Errorf("--debug: got exit %d, stderr:\n%s\nwant the full chain after the line", debug.Code, debug.Stderr)
			}
		})
	}
}
