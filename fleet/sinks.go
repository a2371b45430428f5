package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/notify"
	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// Environment variables that turn on the compliance sinks.
const (
	EnvSecurityHub    = "ELBGUARD_SECURITY_HUB"     // true|false; default false: import findings into Security Hub
	EnvNotifyTopicARN = "ELBGUARD_NOTIFY_TOPIC_ARN" // SNS topic for notifications; default none
)

// Publish metrics (EMF, namespace ElbGuard), emitted with dimension
// Function and without dimensions; the CDK app alarms on MetricPublishFailures.
const (
	MetricFindingsImported    = "FindingsImported"
	MetricFindingsFailed      = "FindingsFailed"
	MetricNotificationsSent   = "NotificationsSent"
	MetricNotificationsFailed = "NotificationsFailed"
	MetricPublishFailures     = "PublishFailures"
)

// Sinks says which compliance sinks to publish to.
type Sinks struct {
	// SecurityHub imports findings with BatchImportFindings.
	SecurityHub bool
	// NotifyTopicARN, when set, receives notifications.
	NotifyTopicARN string
}

// SinksFromEnv reads ELBGUARD_SECURITY_HUB and ELBGUARD_NOTIFY_TOPIC_ARN.
func SinksFromEnv(getenv func(string) string) (Sinks, error) {
	var s Sinks
	if v := getenv(EnvSecurityHub); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%w: %s=%q; want true or false", ErrEnv, EnvSecurityHub, v)
		}
		s.SecurityHub = b
	}
	s.NotifyTopicARN = strings.TrimSpace(getenv(EnvNotifyTopicARN))
	if s.NotifyTopicARN != "" && !strings.HasPrefix(s.NotifyTopicARN, "arn:") {
		return s, fmt.Errorf("%w: %s=%q; want an SNS topic ARN", ErrEnv, EnvNotifyTopicARN, s.NotifyTopicARN)
	}
	return s, nil
}

// NewPublisher builds the publisher of the sinks s asks for on the clients'
// configuration; nil when s asks for none.
func NewPublisher(s Sinks, clients *awsclient.Clients, log *slog.Logger) *compliance.Publisher {
	return NewFleetPublisher(s, clients, nil, log)
}

// NewFleetPublisher is NewPublisher for a hub: with a fleet, the findings
// of each account and region are imported into Security Hub with that
// location's credentials (fleet nil: all with clients').
func NewFleetPublisher(s Sinks, clients *awsclient.Clients, fleet *Fleet, log *slog.Logger) *compliance.Publisher {
	if !s.SecurityHub && s.NotifyTopicARN == "" {
		return nil
	}
	loc := &compliance.Locator{Region: clients.Config.Region, STS: clients.STS}
	p := &compliance.Publisher{Log: log}
	if s.SecurityHub {
		hub := &securityhub.Sink{Client: securityhubsdk.NewFromConfig(clients.Config), Locator: loc, Log: log}
		if fleet != nil {
			hub.Clients = &fleetHubs{provider: fleet.Provider}
		}
		p.Sinks = append(p.Sinks, hub)
	}
	if s.NotifyTopicARN != "" {
		p.Sinks = append(p.Sinks, &notify.Sink{Client: sns.NewFromConfig(clients.Config), TopicARN: s.NotifyTopicARN, Locator: loc})
	}
	return p
}

// TriggerOf says what started a run, from the event's decision.
func TriggerOf(d events.Decision) compliance.Trigger {
	if d.Kind == events.KindSweep {
		return compliance.Trigger{Kind: compliance.TriggerSweep, EventName: d.DetailType}
	}
	return compliance.Trigger{Kind: compliance.TriggerEvent, EventName: d.EventName, Caller: d.Identity}
}

// publish hands a finished run to the sinks and writes their metrics. The
// run's own outcome is unaffected by anything here.
func publish(ctx context.Context, log *slog.Logger, p *compliance.Publisher, res *engine.Result, t compliance.Trigger, metrics io.Writer, function string) {
	if p == nil || res == nil {
		return
	}
	// A copy, so that this invocation's logger (with its request id) is
	// not left behind in the shared publisher.
	pp := *p
	pp.Log = log
	totals := pp.Publish(ctx, res, t)
	if metrics == nil {
		return
	}
	line, err := PublishEMF(totals, function, time.Now())
	if err == nil {
		_, err = fmt.Fprintf(metrics, "%s\n", line)
	}
	if err != nil {
		log.ErrorContext(ctx, "write publish metrics", "error", err.Error())
	}
}

// PublishEMF renders one EMF line with what the sinks sent and failed.
func PublishEMF(totals compliance.Totals, function string, now time.Time) ([]byte, error) {
	hub, sn := totals["securityhub"], totals["sns"]
	values := []struct {
		name string
		v    int
	}{
		{MetricFindingsImported, hub.Sent}, {MetricFindingsFailed, hub.Failed},
		{MetricNotificationsSent, sn.Sent}, {MetricNotificationsFailed, sn.Failed},
		{MetricPublishFailures, totals.Failed()},
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	doc := map[string]any{DimensionFunction: function}
	ms := make([]metric, 0, len(values))
	for _, v := range values {
		doc[v.name] = v.v
		ms = append(ms, metric{Name: v.name, Unit: "Count"})
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{DimensionFunction}, {}},
			"Metrics":    ms,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode publish EMF: %w", err)
	}
	return b, nil
}

// publisherFromEnv is NewFleetPublisher with the sinks the environment asks for.
func publisherFromEnv(getenv func(string) string, clients *awsclient.Clients, fleet *Fleet, log *slog.Logger) (*compliance.Publisher, error) {
	s, err := SinksFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return NewFleetPublisher(s, clients, fleet, log), nil
}
