package events

import (
	"encoding/json"
	"fmt"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// AWS Config rule events: what Config sends a custom Lambda rule.
const (
	// Config resource types of the load balancers elbguard evaluates.
	ConfigTypeClassic = "AWS::ElasticLoadBalancing::LoadBalancer"
	ConfigTypeV2      = "AWS::ElasticLoadBalancingV2::LoadBalancer"

	// invokingEvent message types.
	ConfigChange    = "ConfigurationItemChangeNotification"
	ConfigOversized = "OversizedConfigurationItemChangeNotification"
	ConfigScheduled = "ScheduledNotification"
)

// ConfigEvent is the event AWS Config invokes a custom rule's Lambda with;
// InvokingEvent is a JSON document in a string.
type ConfigEvent = awsevents.ConfigEvent

// ConfigInvokingEvent is the decoded invokingEvent, reduced to what elbguard
// reads. A change notification carries configurationItem; an oversized one
// only configurationItemSummary; a scheduled one neither.
type ConfigInvokingEvent struct {
	MessageType              string             `json:"messageType"`
	NotificationCreationTime string             `json:"notificationCreationTime,omitempty"`
	ConfigurationItem        *ConfigurationItem `json:"configurationItem,omitempty"`
	ConfigurationItemSummary *ConfigurationItem `json:"configurationItemSummary,omitempty"`
}

// ConfigurationItem is the part of a configuration item (or its summary)
// elbguard reads.
type ConfigurationItem struct {
	ResourceType                 string `json:"resourceType"`
	ResourceID                   string `json:"resourceId"`
	ResourceName                 string `json:"resourceName,omitempty"`
	ARN                          string `json:"ARN,omitempty"`
	AWSRegion                    string `json:"awsRegion,omitempty"`
	AWSAccountID                 string `json:"awsAccountId,omitempty"`
	ConfigurationItemStatus      string `json:"configurationItemStatus,omitempty"`
	ConfigurationItemCaptureTime string `json:"configurationItemCaptureTime,omitempty"`
}

// ConfigDecision is the classification of one Config rule event.
type ConfigDecision struct {
	// Kind: KindReconcile (evaluate the one resource), KindSweep (a
	// scheduled evaluation of every load balancer) or KindIgnored.
	Kind   Kind   `json:"kind"`
	Reason string `json:"reason,omitempty"`
	// MessageType is the invokingEvent's messageType.
	MessageType string `json:"message_type"`
	// ResourceType and ResourceID name the resource to evaluate, for
	// KindReconcile and for a resource answered NotApplicable.
	ResourceType string `json:"resource_type,omitempty"`
	ResourceID   string `json:"resource_id,omitempty"`
	// NotApplicable: answer NOT_APPLICABLE for the resource without reading
	// it (deleted, or out of the rule's scope).
	NotApplicable bool `json:"not_applicable,omitempty"`
	// Classic and LoadBalancers are the engine's targets for KindReconcile.
	Classic       []string `json:"classic,omitempty"`
	LoadBalancers []string `json:"load_balancers,omitempty"`
	// OrderingTime is the evaluation's ordering timestamp: the item's
	// capture time, or the notification's creation time.
	OrderingTime string `json:"ordering_time,omitempty"`
	// ResultToken is passed back to PutEvaluations (not in golden files).
	ResultToken string `json:"-"`
}

// deleted configuration item statuses.
var configDeleted = map[string]bool{"ResourceDeleted": true, "ResourceDeletedNotRecorded": true, "ResourceNotRecorded": true}

// ClassifyConfig decodes a Config rule event and decides what to evaluate.
// It returns an error wrapping ErrMalformed for undecodable input or input
// over MaxEventBytes.
func ClassifyConfig(raw []byte) (ConfigDecision, error) {
	if len(raw) > MaxEventBytes {
		return ConfigDecision{}, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMalformed, len(raw), MaxEventBytes)
	}
	var ev ConfigEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ConfigDecision{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if ev.InvokingEvent == "" || ev.ResultToken == "" {
		return ConfigDecision{}, fmt.Errorf("%w: missing invokingEvent or resultToken", ErrMalformed)
	}
	var inv ConfigInvokingEvent
	if err := json.Unmarshal([]byte(ev.InvokingEvent), &inv); err != nil {
		return ConfigDecision{}, fmt.Errorf("%w: invokingEvent: %w", ErrMalformed, err)
	}
	d := ConfigDecision{MessageType: inv.MessageType, ResultToken: ev.ResultToken, OrderingTime: inv.NotificationCreationTime}
	var item *ConfigurationItem
	switch inv.MessageType {
	case ConfigScheduled:
		d.Kind = KindSweep
		return d, nil
	case ConfigChange:
		item = inv.ConfigurationItem
	case ConfigOversized:
		item = inv.ConfigurationItemSummary
	default:
		d.Kind, d.Reason = KindIgnored, fmt.Sprintf("unhandled messageType %q", inv.MessageType)
		return d, nil
	}
	if item == nil || item.ResourceID == "" {
		return ConfigDecision{}, fmt.Errorf("%w: %s without a configuration item", ErrMalformed, inv.MessageType)
	}
	d.ResourceType, d.ResourceID = item.ResourceType, item.ResourceID
	if item.ConfigurationItemCaptureTime != "" {
		d.OrderingTime = item.ConfigurationItemCaptureTime
	}
	switch {
	case item.ResourceType != ConfigTypeClassic && item.ResourceType != ConfigTypeV2:
		d.Kind, d.Reason = KindIgnored, fmt.Sprintf("resource type %s is not a Classic or ELBv2 load balancer", item.ResourceType)
	case ev.EventLeftScope:
		d.Kind, d.NotApplicable, d.Reason = KindIgnored, true, "the resource left the rule's scope"
	case configDeleted[item.ConfigurationItemStatus]:
		d.Kind, d.NotApplicable, d.Reason = KindIgnored, true, "configuration item status "+item.ConfigurationItemStatus
	case item.ResourceType == ConfigTypeClassic:
		d.Kind, d.Classic = KindReconcile, []string{item.ResourceID}
	default:
		arn := item.ResourceID
		if !IsV2LoadBalancerARN(arn) {
			arn = item.ARN
		}
		if !IsV2LoadBalancerARN(arn) {
			return ConfigDecision{}, fmt.Errorf("%w: ELBv2 resource %q without a load balancer ARN", ErrMalformed, item.ResourceID)
		}
		d.Kind, d.LoadBalancers = KindReconcile, []string{arn}
	}
	return d, nil
}
