//go:build integration

package test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/faultproxy"
	"github.com/elbguard/elbguard/test/harness"
)

// The organization the multi-account tests build in moto: moto puts a
// caller in the account of the role it assumed, so one moto_server holds a
// hub and its spokes. The spoke orgMissing has no role: the fault proxy in
// front of STS denies AssumeRole into it, as AWS does when the role is not
// deployed (moto does not check that a role exists).
const (
	orgHub     = "123456789012" // moto's default account: the static test credentials
	orgMissing = "333333333333"
	orgWeb     = "web"       // Classic, HTTP:80, tagged enforce: non_compliant until fixed
	orgAudit   = "web-audit" // Classic, HTTP:80, tagged audit: never changed
	orgSTSVer  = "2011-06-15"
)

var (
	orgSpokes  = []string{"111111111111", "222222222222", orgMissing}
	orgRegions = []string{"us-east-1", "eu-west-1"}
)

// orgRig is moto with a hub and spokes, and the STS fault proxy.
type orgRig struct {
	m        *harness.Moto
	sts      *faultproxy.Proxy
	stsURL   string
	provider *awsclient.Provider // the test's own view, straight to moto
}

// orgStart starts moto and the STS proxy and creates perLB extra Classic
// load balancers (beyond web and web-audit) in every account and region
// of accounts (nil: the hub and orgSpokes).
func orgStart(t *testing.T, accounts []string, regions []string, extra int) *orgRig {
	t.Helper()
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	p, err := faultproxy.New(m.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	orgDenyRoles(p)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	prov, err := awsclient.NewProvider(cfg, awsclient.ProviderConfig{Home: orgHub, Limits: awsclient.Limits{Describe: awsclient.MaxRate, Mutate: awsclient.MaxRate}})
	if err != nil {
		t.Fatal(err)
	}
	rig := &orgRig{m: m, sts: p, stsURL: srv.URL, provider: prov}
	if accounts == nil {
		accounts = append([]string{orgHub}, orgSpokes...)
	}
	if regions == nil {
		regions = orgRegions
	}
	ctx := harness.Context(t, 10*time.Minute)
	type job struct{ account, region, name, mode string }
	jobs := make(chan job)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				c, err := prov.Clients(ctx, j.account, j.region)
				if err == nil {
					_, err = c.Classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
						LoadBalancerName:  aws.String(j.name),
						AvailabilityZones: []string{j.region + "a"},
						Listeners:         []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")},
						Tags:              enfTags(enfModeTag, j.mode, "elbguard:readiness", "skip"), // no instances: a hand-run fleet
					})
				}
				if err != nil && !orgDuplicate(err) {
					select {
					case errs <- fmt.Errorf("create %s in %s/%s: %w", j.name, j.account, j.region, err):
					default:
					}
				}
			}
		})
	}
	for _, a := range accounts {
		for _, r := range regions {
			jobs <- job{a, r, orgWeb, "enforce"}
			jobs <- job{a, r, orgAudit, "audit"}
			for i := range extra {
				jobs <- job{a, r, fmt.Sprintf("web-%03d", i), "enforce"}
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return rig
}

// orgDenyRoles makes the STS proxy deny AssumeRole into orgMissing and
// accounts, as AWS does where no spoke role is deployed.
func orgDenyRoles(p *faultproxy.Proxy, accounts ...string) {
	denied := append([]string{orgMissing}, accounts...)
	p.Intercept("AssumeRole", func(w http.ResponseWriter, r *http.Request, form url.Values, forward http.Handler) {
		arn := form.Get("RoleArn")
		for _, a := range denied {
			if strings.Contains(arn, ":"+a+":") {
				faultproxy.WriteError(w, http.StatusForbidden, "Sender", "AccessDenied",
					"User: arn:aws:sts::"+orgHub+":assumed-role/elbguard-hub/x is not authorized to perform: sts:AssumeRole on resource: "+arn)
				return
			}
		}
		forward.ServeHTTP(w, r)
	})
}

// env is what the elbguard binary and the Lambdas get: moto, with STS
// through the proxy.
func (r *orgRig) env(extra ...string) []string {
	return append([]string{"AWS_ENDPOINT_URL_STS=" + r.stsURL}, extra...)
}

// assumeRoles is how many AssumeRole requests reached the STS proxy.
func (r *orgRig) assumeRoles() int {
	return r.sts.Stats()[faultproxy.Key(orgSTSVer, "AssumeRole")].Requests
}

// fixed reports whether name's HTTP:80 listener is now TCP (remediated) in
// account and region, read straight from moto.
func (r *orgRig) fixed(t *testing.T, account, region, name string) bool {
	t.Helper()
	ctx := harness.Context(t, 30*time.Second)
	c, err := r.provider.Clients(ctx, account, region)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		t.Fatalf("describe %s in %s/%s: %v", name, account, region, err)
	}
	for _, l := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
		if l.Listener.LoadBalancerPort == 80 {
			return aws.ToString(l.Listener.Protocol) == "TCP"
		}
	}
	t.Fatalf("%s in %s/%s has no port 80", name, account, region)
	return false
}

// fixedWhere lists the account/region pairs where name is fixed.
func (r *orgRig) fixedWhere(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, a := range append([]string{orgHub}, orgSpokes...) {
		for _, reg := range orgRegions {
			if r.fixed(t, a, reg, name) {
				out = append(out, a+"/"+reg)
			}
		}
	}
	return out
}

// orgEvent is the AddTags sample moved to account and region, naming name.
func orgEvent(t *testing.T, account, region, name string) []byte {
	t.Helper()
	return enfSampleEvent(t, "classic_add_tags.json", orgHub, account, "us-east-1", region, "web-classic", name)
}

// orgLocations lists "account/region" of every location in want order.
func orgLocations(accounts ...string) []string {
	var out []string
	for _, a := range accounts {
		for _, r := range orgRegions {
			out = append(out, a+"/"+r)
		}
	}
	return out
}

// contextWithTimeout is context.WithTimeout from the background, for a
// deadline shorter than the test's.
func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}

// awsCfg is aws.Config, named for closures in tests.
type awsCfg = aws.Config

// orgCreateMany creates n Classic load balancers scale-NNNN tagged enforce
// with an HTTP:80 listener in account and region.
func orgCreateMany(t *testing.T, ctx context.Context, prov *awsclient.Provider, account, region string, n int) {
	t.Helper()
	c, err := prov.Clients(ctx, account, region)
	if err != nil {
		t.Fatal(err)
	}
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				_, err := c.Classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
					LoadBalancerName:  aws.String(fmt.Sprintf("scale-%04d", i)),
					AvailabilityZones: []string{region + "a"},
					Listeners:         []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, "")},
					Tags:              enfTags(enfModeTag, "enforce", "elbguard:readiness", "skip"),
				})
				if err != nil && !orgDuplicate(err) {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create load balancers in %s/%s: %v", account, region, err)
	}
}

// orgDuplicate reports a DuplicateLoadBalancerName: under load moto's
// development server sometimes drops a connection after creating a load
// balancer, the SDK retries, and the retry finds it (an emulator gap; the
// creation did happen).
func orgDuplicate(err error) bool {
	var dup *elbtypes.DuplicateAccessPointNameException
	return errors.As(err, &dup)
}
