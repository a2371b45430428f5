package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/elbguard/elbguard/engine"
)

// The readiness gate's part of the story: the seed's warning in code. A
// load balancer must not send the PROXY header to an instance whose server
// does not read it.
const (
	GatedName = "web-gated" // Classic ELB tagged enforce, one instance behind it
	// motoAMI is an image moto knows (it loads its example AMIs).
	motoAMI = "ami-12c6146b"
)

// readinessGate creates a Classic ELB tagged enforce with an EC2 instance
// registered that lacks elbguard:proxy-ready=true, sends the enforcer its
// CreateLoadBalancer event and checks that nothing changed; then tags the
// instance ready, sends an AddTags event and checks that it was enforced.
func (r *run) readinessGate(ctx context.Context, invokeURL string) error {
	c := r.moto.clients()
	if _, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(GatedName),
		Listeners:         classicListeners(r.seed.certARN),
		AvailabilityZones: []string{classicZoneA, classicZoneB},
		Tags:              []elbtypes.Tag{{Key: aws.String(TagKey), Value: aws.String("enforce")}},
	}); err != nil {
		return fmt.Errorf("create Classic load balancer %s: %w", GatedName, err)
	}
	run, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(motoAMI), InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(r.seed.subnets[0]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(GatedName + "-app")}}}},
	})
	if err != nil {
		return fmt.Errorf("run an instance for %s: %w", GatedName, err)
	}
	if len(run.Instances) != 1 {
		return fmt.Errorf("run an instance for %s: got %d instances; want 1", GatedName, len(run.Instances))
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	if _, err := c.elb.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String(GatedName), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}},
	}); err != nil {
		return fmt.Errorf("register %s with %s: %w", id, GatedName, err)
	}
	r.ui.say("Classic ELB %s: HTTP:80, HTTPS:443, tagged %s=enforce", GatedName, TagKey)
	r.ui.say("EC2 instance %s registered with it (default VPC, %s), without %s=true:", id, r.seed.subnets[0], engine.TagProxyReady)
	r.ui.say("its server does not read the PROXY header yet; turning proxy protocol on would break every request")

	// Held: the CreateLoadBalancer event changes nothing.
	rep, err := r.sendGated(ctx, invokeURL, "01-create-web-classic.json", "readiness-1-create-"+GatedName+".json", `"`+ClassicName+`"`, `"`+GatedName+`"`)
	if err != nil {
		return err
	}
	applied, _, _ := rep.Changed()
	detail := findingOf(rep, engine.RuleBackendsNotReady)
	r.ui.say("finding %s: %s", engine.RuleBackendsNotReady, detail)
	if rep.Status != engine.StatusHeld || applied != 0 || !strings.Contains(detail, id) {
		return fmt.Errorf("%s is %s with %d changes and finding %s %q; want held, no changes, the finding naming %s",
			GatedName, rep.Status, applied, engine.RuleBackendsNotReady, detail, id)
	}
	if err := r.checkGated(ctx, id, false); err != nil {
		return err
	}

	// Ready: the instance is tagged, the next event enforces.
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{id},
		Tags:      []ec2types.Tag{{Key: aws.String(engine.TagProxyReady), Value: aws.String("true")}},
	}); err != nil {
		return fmt.Errorf("tag %s %s=true: %w", id, engine.TagProxyReady, err)
	}
	r.ui.say("")
	r.ui.say("the proxy is installed on %s (proxy_protocol: optional), then it is tagged %s=true", id, engine.TagProxyReady)
	r.ui.say("instance tags are not events elbguard reacts to (the sweep finds them); here the team tags the load balancer again")
	rep, err = r.sendGated(ctx, invokeURL, "05-tag-web-legacy-costcenter.json", "readiness-2-tag-"+GatedName+".json",
		`"`+LegacyName+`"`, `"`+GatedName+`"`, `"CostCenter"`, `"`+TagKey+`"`, `"1234"`, `"enforce"`)
	if err != nil {
		return err
	}
	if rep.Status != engine.StatusRemediated {
		return fmt.Errorf("%s is %s (%s); want remediated once %s is ready", GatedName, rep.Status, findings(rep), id)
	}
	return r.checkGated(ctx, id, true)
}

// sendGated sends the event template file with the seed's identifiers and
// the replacements (old, new pairs), keeps it in the events directory as
// saveAs, and returns the enforcer's one report.
func (r *run) sendGated(ctx context.Context, invokeURL, file, saveAs string, oldnew ...string) (engine.Report, error) {
	evs, err := patchEvents(r.seed, time.Now())
	if err != nil {
		return engine.Report{}, err
	}
	var body []byte
	for _, ev := range evs {
		if ev.File == file {
			body = []byte(strings.NewReplacer(oldnew...).Replace(string(ev.Body)))
		}
	}
	if body == nil {
		return engine.Report{}, fmt.Errorf("no event template %s", file)
	}
	ev, err := newEvent(saveAs, body, time.Now())
	if err != nil {
		return engine.Report{}, err
	}
	dir := r.path("events")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return engine.Report{}, fmt.Errorf("make %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, saveAs), ev.Body, 0o644); err != nil {
		return engine.Report{}, fmt.Errorf("write %s: %w", saveAs, err)
	}
	r.ui.say("")
	r.ui.say("%s %s: %s", ev.API, ev.Name, ev.Targets)
	began := time.Now()
	inv, err := invoke(ctx, invokeURL, ev.Body)
	if err != nil {
		return engine.Report{}, fmt.Errorf("event %s: %w", saveAs, err)
	}
	r.showOutcome(&inv.Outcome, time.Since(began))
	if inv.Result == nil || len(inv.Result.Reports) != 1 || inv.Result.Reports[0].Name != GatedName {
		return engine.Report{}, fmt.Errorf("event %s: the enforcer did not report on %s alone (%s)", saveAs, GatedName, inv.Decision.Reason)
	}
	return inv.Result.Reports[0], nil
}

// checkGated reads the load balancer back from the emulator and checks it
// against what the gate promises.
func (r *run) checkGated(ctx context.Context, instance string, enforced bool) error {
	st, err := ReadState(ctx, r.moto.aws)
	if err != nil {
		return err
	}
	g := st.Classic[GatedName]
	lines := []string{"instances " + strings.Join(g.Instances, ", ")}
	for _, l := range g.Listeners {
		lines = append(lines, "listener "+l)
	}
	if len(g.BackendLines) == 0 {
		lines = append(lines, "backend policies: none")
	}
	lines = append(lines, g.BackendLines...)
	r.ui.say("%s read back from the emulator:", GatedName)
	r.ui.block(strings.Join(lines, "\n"), false)
	return st.CheckGated(instance, enforced)
}

// findingOf joins the details of rep's findings of rule.
func findingOf(rep engine.Report, rule string) string {
	var out []string
	for _, f := range rep.Findings {
		if f.Rule == rule {
			out = append(out, f.Detail)
		}
	}
	return strings.Join(out, "; ")
}
