package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// PublishAPI is the one SNS call the sink makes.
type PublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// DefaultMaxMessages bounds the messages of one run when Sink.MaxMessages is
// zero; the rest are summed up in one more message.
const DefaultMaxMessages = 50

// Sink publishes one message per report worth telling (Compose) to an SNS topic.
type Sink struct {
	// Client makes the calls; required.
	Client PublishAPI
	// TopicARN is the topic; required.
	TopicARN string
	// Locator gives each report's account and region; required.
	Locator *compliance.Locator
	// MaxMessages bounds the messages of one run (a first sweep may
	// remediate hundreds). Zero: DefaultMaxMessages.
	MaxMessages int
}

// Name implements compliance.Sink.
func (s *Sink) Name() string { return "sns" }

// Publish implements compliance.Sink. A failed Publish is not retried here
// (the SDK has retried throttling and 5xx) and does not stop the others.
func (s *Sink) Publish(ctx context.Context, res *engine.Result, t compliance.Trigger) (compliance.Stats, error) {
	var st compliance.Stats
	var errs []error
	limit := s.MaxMessages
	if limit <= 0 {
		limit = DefaultMaxMessages
	}
	var over []string
	var account, region string // of the last report located, for the summary
	for _, r := range res.Reports {
		acct, reg, err := s.Locator.Locate(ctx, r)
		if err != nil {
			if _, ok := Compose(r, t, "", ""); ok {
				st.Failed++
				errs = append(errs, err)
			}
			continue
		}
		account, region = acct, reg
		m, ok := Compose(r, t, account, region)
		if !ok {
			continue
		}
		if st.Sent+st.Failed >= limit {
			over = append(over, fmt.Sprintf("%s %s: %s", r.Type, r.Name, m.Attributes["type"]))
			continue
		}
		s.send(ctx, m, &st, &errs)
	}
	if len(over) > 0 {
		body := fmt.Sprintf("elbguard acted on %d more load balancers in this run than it sends messages for (%d). They are:\n", len(over), limit)
		for _, o := range over {
			body += "  - " + o + "\n"
		}
		s.send(ctx, Message{Subject: Subject(fmt.Sprintf("elbguard: %d more load balancers changed in %s %s", len(over), account, region)),
			Body: body, Attributes: map[string]string{"status": "summary", "type": "summary", "account": account}}, &st, &errs)
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("publish %d of %d notifications to %s failed: %w", st.Failed, st.Failed+st.Sent, s.TopicARN, err)
	}
	return st, nil
}

func (s *Sink) send(ctx context.Context, m Message, st *compliance.Stats, errs *[]error) {
	attrs := map[string]snstypes.MessageAttributeValue{}
	keys := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := m.Attributes[k]; v != "" {
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	st.Calls++
	_, err := s.Client.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(s.TopicARN), Subject: aws.String(m.Subject),
		Message: aws.String(m.Body), MessageAttributes: attrs})
	if err != nil {
		st.Failed++
		*errs = append(*errs, fmt.Errorf("sns:Publish %q: %w", m.Subject, err))
		return
	}
	st.Sent++
}
