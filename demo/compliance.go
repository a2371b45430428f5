package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/test/peer"
)

// Names of the compliance part of the story.
const (
	FrozenName   = "web-frozen" // Classic ELB tagged enforce, exempt until a date
	FrozenUntil  = "2099-12-31"
	FrozenReason = "migrating to an ALB (CHG-1234)"
	notifyTopic  = "elbguard-notifications"
	inboxQueue   = "oncall-inbox"
)

// complianceSide is what the compliance steps share.
type complianceSide struct {
	topicARN string
	queueURL string
}

// complianceEnv is the enforcer's environment for the compliance sinks.
func (c *complianceSide) complianceEnv() []string {
	if c == nil {
		return nil
	}
	return []string{fleet.EnvSecurityHub + "=true", fleet.EnvNotifyTopicARN + "=" + c.topicARN}
}

// setUpCompliance enables Security Hub in moto and subscribes an SQS queue,
// the on-call engineer's inbox, to a notification topic.
func (r *run) setUpCompliance(ctx context.Context) error {
	cfg := r.moto.aws
	if _, err := securityhubsdk.NewFromConfig(cfg).EnableSecurityHub(ctx, &securityhubsdk.EnableSecurityHubInput{}); err != nil {
		return fmt.Errorf("enable Security Hub: %w", err)
	}
	tp, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(notifyTopic)})
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	q := sqs.NewFromConfig(cfg)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(inboxQueue)})
	if err != nil {
		return fmt.Errorf("create queue: %w", err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qo.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("read queue ARN: %w", err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: tp.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
		return fmt.Errorf("subscribe the inbox: %w", err)
	}
	r.compliance = &complianceSide{topicARN: aws.ToString(tp.TopicArn), queueURL: aws.ToString(qo.QueueUrl)}
	r.ui.say("Security Hub enabled; topic %s, subscribed: SQS queue %s (stands in for e-mail)", notifyTopic, inboxQueue)
	return nil
}

// auditToSecurityHub runs elbguard audit --securityhub and shows the
// findings read back from Security Hub: FAILED.
func (r *run) auditToSecurityHub(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r.ui.cmd("elbguard audit --securityhub --output json > /dev/null")
	res, err := peer.Run(ctx, r.cfg.Elbguard, []string{"audit", "--securityhub", "--output", "json"}, r.processOptions(r.moto.env...))
	if err != nil {
		return fmt.Errorf("run elbguard audit --securityhub: %w", err)
	}
	r.ui.block(res.Stderr, true)
	page, err := peer.Run(ctx, r.cfg.Elbguard, []string{"audit", "--output", "html"}, r.processOptions(r.moto.env...))
	if err != nil {
		return fmt.Errorf("run elbguard audit --output html: %w", err)
	}
	report := r.path("report.html")
	if err := os.WriteFile(report, []byte(page.Stdout), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", report, err)
	}
	r.ui.cmd("elbguard audit --output html > " + shortPath(r.cfg.Root, report))
	r.ui.say("one self-contained page: open it in a browser")
	return r.showFindings(ctx, shtypes.ComplianceStatusFailed)
}

// showFindings reads the proxy_protocol findings of the two tagged load
// balancers back from Security Hub and checks their compliance status.
func (r *run) showFindings(ctx context.Context, want shtypes.ComplianceStatus) error {
	hub := securityhubsdk.NewFromConfig(r.moto.aws)
	all := map[string]shtypes.AwsSecurityFinding{}
	p := securityhubsdk.NewGetFindingsPaginator(hub, &securityhubsdk.GetFindingsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("GetFindings: %w", err)
		}
		for _, f := range page.Findings {
			all[aws.ToString(f.Id)] = f
		}
	}
	r.ui.cmd("aws securityhub get-findings")
	ids := []string{
		securityhub.FindingID(compliance.ClassicARN(peer.Region, motoAccount, ClassicName), securityhub.ControlProxyProtocol),
		securityhub.FindingID(compliance.ClassicARN(peer.Region, motoAccount, ClassicName), securityhub.ControlListenerProtocol),
		securityhub.FindingID(r.seed.nlbARN, securityhub.ControlProxyProtocol),
	}
	var lines, bad []string
	for _, id := range ids {
		f, ok := all[id]
		if !ok {
			bad = append(bad, "no finding "+id)
			continue
		}
		status := f.Compliance.Status
		lines = append(lines, fmt.Sprintf("%-13s %-8s %-13s %s", status, f.RecordState, f.Severity.Label, aws.ToString(f.Title)))
		if status != want {
			bad = append(bad, fmt.Sprintf("%s is %s; want %s", id, status, want))
		}
	}
	r.ui.block(strings.Join(lines, "\n"), false)
	r.ui.say("%d findings in Security Hub, one per load balancer and control, updated in place", len(all))
	if len(bad) > 0 {
		return fmt.Errorf("security hub: %s", strings.Join(bad, "; "))
	}
	return nil
}

// showNotification reads the inbox and prints the web-classic message as a
// person receives it.
func (r *run) showNotification(ctx context.Context) error {
	q := sqs.NewFromConfig(r.moto.aws)
	type envelope struct {
		Subject           string
		Message           string
		MessageAttributes map[string]struct{ Value string }
	}
	var got []envelope
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.compliance.queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return fmt.Errorf("read the inbox: %w", err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			var e envelope
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
				return fmt.Errorf("decode notification: %w", err)
			}
			got = append(got, e)
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.compliance.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return fmt.Errorf("delete notification: %w", err)
			}
		}
	}
	r.ui.say("%d notifications in the inbox (one per remediation; none for the skipped or unchanged load balancers):", len(got))
	for _, e := range got {
		r.ui.say("  %s", e.Subject)
	}
	for _, e := range got {
		if !strings.Contains(e.Subject, ClassicName) {
			continue
		}
		r.ui.say("")
		r.ui.block(fmt.Sprintf("Subject: %s\nAttributes: status=%s type=%s account=%s\n\n%s", e.Subject,
			e.MessageAttributes["status"].Value, e.MessageAttributes["type"].Value, e.MessageAttributes["account"].Value, e.Message), false)
		if !strings.Contains(e.Message, "Triggered by:") || !strings.Contains(e.Message, "==>") {
			return fmt.Errorf("the %s notification lacks who triggered it or before ==> after", ClassicName)
		}
		if len(got) != 2 {
			return fmt.Errorf("got %d notifications; want 2 (%s and %s remediated)", len(got), ClassicName, NLBName)
		}
		return nil
	}
	return fmt.Errorf("no notification about %s among %d", ClassicName, len(got))
}

// exemptLeftAlone creates a load balancer tagged enforce with an unexpired
// exemption, sends the enforcer its CreateLoadBalancer event, and checks
// that it is reported exempt and left as it was.
func (r *run) exemptLeftAlone(ctx context.Context, invokeURL string) error {
	c := r.moto.clients()
	tags := []elbtypes.Tag{
		{Key: aws.String(TagKey), Value: aws.String("enforce")},
		{Key: aws.String("elbguard:exempt-until"), Value: aws.String(FrozenUntil)},
		{Key: aws.String("elbguard:exempt-reason"), Value: aws.String(FrozenReason)},
	}
	if _, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String(FrozenName),
		AvailabilityZones: []string{classicZoneA}, Listeners: classicListeners(r.seed.certARN)[:1], Tags: tags}); err != nil {
		return fmt.Errorf("create %s: %w", FrozenName, err)
	}
	r.ui.say("created %s: HTTP:80, tagged %s=enforce, elbguard:exempt-until=%s, elbguard:exempt-reason=%q", FrozenName, TagKey, FrozenUntil, FrozenReason)
	evs, err := patchEvents(r.seed, time.Now())
	if err != nil {
		return err
	}
	body := []byte(strings.ReplaceAll(string(evs[0].Body), `"`+ClassicName+`"`, `"`+FrozenName+`"`))
	inv, err := invoke(ctx, invokeURL, body)
	if err != nil {
		return fmt.Errorf("event for %s: %w", FrozenName, err)
	}
	r.showOutcome(&inv.Outcome, 0)
	if inv.Result == nil || len(inv.Result.Reports) != 1 {
		return fmt.Errorf("the enforcer reported nothing about %s", FrozenName)
	}
	rep := inv.Result.Reports[0]
	applied, _, _ := rep.Changed()
	for _, f := range rep.Findings {
		r.ui.say("finding %s: %s", f.Rule, f.Detail)
	}
	if rep.Status != engine.StatusExempt || applied != 0 {
		return fmt.Errorf("%s is %s with %d changes; want exempt and untouched (needs the engine's exemption support)", FrozenName, rep.Status, applied)
	}
	return nil
}
