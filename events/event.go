// Package events decodes the EventBridge events elbguard reacts to and
// classifies each one into the load balancers to reconcile, a full sweep, or
// nothing (ignored, with a reason).
//
// The package is pure: it makes no AWS calls. Resolving a target group to its
// load balancers is left to the caller (see Decision.TargetGroups).
package events

import (
	"encoding/json"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// EventBridge detail types and sources elbguard understands.
const (
	DetailTypeCloudTrail = "AWS API Call via CloudTrail"
	DetailTypeTagChange  = "Tag Change on Resource"
	DetailTypeScheduled  = "Scheduled Event"

	SourceELB    = "aws.elasticloadbalancing"
	SourceTag    = "aws.tag"
	SourceEvents = "aws.events"

	// APIVersionClassic is detail.apiVersion of Classic Load Balancer calls.
	APIVersionClassic = "2012-06-01"
	// APIVersionV2 is detail.apiVersion of ELBv2 (ALB, NLB, GWLB) calls.
	APIVersionV2 = "2015-12-01"
)

// Event is an EventBridge event: the aws-lambda-go envelope with its detail
// kept raw until the detail type is known.
type Event = awsevents.CloudWatchEvent

// CloudTrailDetail is the detail of an "AWS API Call via CloudTrail" event,
// reduced to the fields elbguard reads.
type CloudTrailDetail struct {
	EventVersion      string             `json:"eventVersion,omitempty"`
	UserIdentity      UserIdentity       `json:"userIdentity"`
	EventTime         string             `json:"eventTime,omitempty"`
	EventSource       string             `json:"eventSource,omitempty"`
	EventName         string             `json:"eventName"`
	AWSRegion         string             `json:"awsRegion,omitempty"`
	SourceIPAddress   string             `json:"sourceIPAddress,omitempty"`
	UserAgent         string             `json:"userAgent,omitempty"`
	ErrorCode         string             `json:"errorCode,omitempty"`
	ErrorMessage      string             `json:"errorMessage,omitempty"`
	RequestParameters *RequestParameters `json:"requestParameters,omitempty"`
	ResponseElements  *ResponseElements  `json:"responseElements,omitempty"`
	RequestID         string             `json:"requestID,omitempty"`
	EventID           string             `json:"eventID,omitempty"`
	APIVersion        string             `json:"apiVersion,omitempty"`
	EventType         string             `json:"eventType,omitempty"`
}

// UserIdentity is the CloudTrail identity that made a call.
type UserIdentity struct {
	Type           string          `json:"type,omitempty"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext holds the issuer of temporary credentials.
type SessionContext struct {
	SessionIssuer SessionIssuer `json:"sessionIssuer"`
}

// SessionIssuer is the role (or user) that issued a session.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// RequestParameters is the union of the request fields of the Classic and
// ELBv2 calls elbguard handles (CloudTrail spells them in lower camel case).
type RequestParameters struct {
	LoadBalancerName  string            `json:"loadBalancerName,omitempty"`
	LoadBalancerNames []string          `json:"loadBalancerNames,omitempty"`
	LoadBalancerArn   string            `json:"loadBalancerArn,omitempty"`
	ResourceArns      []string          `json:"resourceArns,omitempty"`
	ListenerArn       string            `json:"listenerArn,omitempty"`
	TargetGroupArn    string            `json:"targetGroupArn,omitempty"`
	Protocol          string            `json:"protocol,omitempty"`
	Type              string            `json:"type,omitempty"`
	Tags              []Tag             `json:"tags,omitempty"`
	TagKeys           []string          `json:"tagKeys,omitempty"`
	Listeners         []ClassicListener `json:"listeners,omitempty"`
	PolicyName        string            `json:"policyName,omitempty"`
	InstancePort      int               `json:"instancePort,omitempty"`
	RuleArn           string            `json:"ruleArn,omitempty"`
	RulePriorities    []RulePriority    `json:"rulePriorities,omitempty"`
}

// RulePriority is one entry of a SetRulePriorities request.
type RulePriority struct {
	RuleArn  string `json:"ruleArn,omitempty"`
	Priority int    `json:"priority,omitempty"`
}

// ClassicListener is a Classic listener as CloudTrail records it. Protocols
// may be in any case ("http", "HTTP").
type ClassicListener struct {
	Protocol         string `json:"protocol,omitempty"`
	LoadBalancerPort int    `json:"loadBalancerPort,omitempty"`
	InstanceProtocol string `json:"instanceProtocol,omitempty"`
	InstancePort     int    `json:"instancePort,omitempty"`
	SSLCertificateID string `json:"sSLCertificateId,omitempty"`
}

// Tag is a tag in a CloudTrail request (RemoveTags on Classic sends keys only).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// ResponseElements is the part of a CloudTrail response elbguard reads.
type ResponseElements struct {
	LoadBalancers []V2LoadBalancer `json:"loadBalancers,omitempty"`
	Listeners     []V2Listener     `json:"listeners,omitempty"`
}

// V2LoadBalancer is an ELBv2 load balancer in a CreateLoadBalancer response.
type V2LoadBalancer struct {
	LoadBalancerArn  string `json:"loadBalancerArn"`
	LoadBalancerName string `json:"loadBalancerName,omitempty"`
	Type             string `json:"type,omitempty"`
}

// V2Listener is an ELBv2 listener in a CreateListener/ModifyListener response.
type V2Listener struct {
	ListenerArn     string `json:"listenerArn,omitempty"`
	LoadBalancerArn string `json:"loadBalancerArn,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
}

// TagChangeDetail is the detail of a "Tag Change on Resource" event.
type TagChangeDetail struct {
	ChangedTagKeys []string          `json:"changed-tag-keys"`
	Service        string            `json:"service"`
	ResourceType   string            `json:"resource-type"`
	Version        json.Number       `json:"version,omitempty"`
	Tags           map[string]string `json:"tags"`
}
