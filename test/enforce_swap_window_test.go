//go:build integration

package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/test/harness"
)

// TestListenerSwapWindowMoto measures the outage window of a Classic
// listener swap as the engine itself times it: from the moment
// DeleteLoadBalancerListeners returned to the moment CreateLoadBalancerListeners
// returned for the same port (the "listener swapped" log line's
// dark_seconds), one load balancer at a time. It is moto's figure on this
// machine, a lower bound for AWS, where each call is a network round trip to
// the regional endpoint and the change then propagates to the load
// balancer's nodes. docs/tags.md ("The outage window of a Classic listener swap") quotes it.
func TestListenerSwapWindowMoto(t *testing.T) {
	const lbs = 10
	m := harness.StartMoto(t)
	cfg := m.Config(t)
	ctx := enfCtxT(t)
	classic := elb.NewFromConfig(cfg)
	certPEM, keyPEM := enfSelfSignedPEM(t, "swap.example.test")
	up := enfMust[*iam.UploadServerCertificateOutput](t, "upload server certificate")(iam.NewFromConfig(cfg).UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("swap-example"), CertificateBody: aws.String(certPEM), PrivateKey: aws.String(keyPEM)}))
	var names []string
	for i := range lbs {
		name := fmt.Sprintf("swap-%02d", i)
		enfMust[*elb.CreateLoadBalancerOutput](t, "create "+name)(classic.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			LoadBalancerName: aws.String(name), AvailabilityZones: []string{"us-east-1a"},
			Listeners: []elbtypes.Listener{enfListener("HTTP", 80, "HTTP", 80, ""), enfListener("HTTPS", 443, "HTTP", 81, aws.ToString(up.ServerCertificateMetadata.Arn))},
			Tags:      enfTags(enfModeTag, "enforce", "elbguard:readiness", "skip")}))
		names = append(names, name)
	}
	var logs bytes.Buffer
	eng, err := fleet.NewEngine(awsclient.FromConfig(cfg), engine.Config{Concurrency: 1}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Reconcile(harness.Context(t, 60*time.Second), engine.Targets{Classic: names})
	if err != nil || res.Counts[engine.StatusRemediated] != lbs {
		t.Fatalf("got %+v, %v; want %d remediated", res.Counts, err, lbs)
	}
	var dark []float64
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var line struct {
			Msg  string  `json:"msg"`
			Dark float64 `json:"dark_seconds"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listener swapped" {
			dark = append(dark, line.Dark)
		}
	}
	if len(dark) != 2*lbs {
		t.Fatalf("got %d swap timings; want %d (two listeners per load balancer)", len(dark), 2*lbs)
	}
	slices.Sort(dark)
	ms := func(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }
	t.Logf("Classic listener swap against moto, %d listeners (HTTP:80 and HTTPS:443 on %d load balancers), delete returned -> create returned: median %s, p90 %s, max %s",
		len(dark), lbs, ms(dark[len(dark)/2]), ms(dark[len(dark)*9/10]), ms(dark[len(dark)-1]))
	for _, d := range dark {
		if d <= 0 || d > 40 {
			t.Errorf("swap window %s; want between 0 and the swap's 40 s budget", ms(d))
		}
	}
}
