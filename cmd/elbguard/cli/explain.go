package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/elbguard/elbguard/internal/awsclient"
)

// iamPrefix maps the SDK's service ids to IAM's action prefixes.
var iamPrefix = map[string]string{
	"Elastic Load Balancing":    "elasticloadbalancing",
	"Elastic Load Balancing v2": "elasticloadbalancing",
	"EC2":                       "ec2",
	"IAM":                       "iam",
	"ACM":                       "acm",
	"STS":                       "sts",
	"SecurityHub":               "securityhub",
	"SNS":                       "sns",
	"SQS":                       "sqs",
	"Organizations":             "organizations",
	"Route 53":                  "route53",
	"Secrets Manager":           "secretsmanager",
}

// deniedCodes are the error codes AWS answers a call the caller may not make with.
var deniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"AuthorizationError": true, "UnauthorizedAccess": true,
}

// throttleCodes are the error codes of a throttled call.
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true, "RequestThrottledException": true,
}

// explain turns the errors people meet first into one line that says what
// to do, as the AWS CLI does; anything else keeps its own words. The full
// chain is printed too under --debug.
func explain(err error) string {
	var op *smithy.OperationError
	action := ""
	if errors.As(err, &op) {
		action = op.OperationName
		if p, ok := iamPrefix[op.ServiceID]; ok {
			action = p + ":" + op.OperationName
		}
	}
	var api smithy.APIError
	var mre *aws.MissingRegionError
	switch {
	case errors.Is(err, awsclient.ErrNoRegion) || errors.As(err, &mre):
		return "You must specify a region. Run \"aws configure\", set AWS_REGION, or pass --region."
	case credentialsMissing(err):
		return "Unable to locate credentials. Run \"aws configure\", set AWS_PROFILE (or --profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
	case errors.As(err, &api) && deniedCodes[api.ErrorCode()]:
		if action == "" {
			return fmt.Sprintf("access denied (%s): %s", api.ErrorCode(), api.ErrorMessage())
		}
		return fmt.Sprintf("access denied to %s: allow %q in the policy of the caller's role or user (elbguard's IAM policy is in infra/README.md).", action, action)
	case throttled(err):
		where := ""
		if action != "" {
			where = " on " + action
		}
		return fmt.Sprintf("throttled by AWS%s after the SDK's retries: lower --concurrency or ELBGUARD_RATE_READS/ELBGUARD_RATE_WRITES, or run again later.", where)
	}
	if host, ok := unreachable(err); ok {
		return fmt.Sprintf("Could not connect to the endpoint URL %q: check --endpoint-url / AWS_ENDPOINT_URL, the region, and the network.", host)
	}
	return err.Error()
}

// credentialsMissing reports whether err is the SDK's "no credentials found"
// (the default chain ran out, or a named profile does not exist).
func credentialsMissing(err error) bool {
	s := err.Error()
	return strings.Contains(s, "failed to refresh cached credentials") ||
		strings.Contains(s, "failed to retrieve credentials") ||
		strings.Contains(s, "no EC2 IMDS role found") ||
		strings.Contains(s, "static credentials are empty") ||
		strings.Contains(s, "failed to get shared config profile")
}

// throttled reports whether err is a throttling error that the SDK's
// retries did not get past.
func throttled(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && throttleCodes[api.ErrorCode()] {
		return true
	}
	var max *retry.MaxAttemptsError
	return errors.As(err, &max) && errors.As(max.Err, &api) && throttleCodes[api.ErrorCode()]
}

// unreachable reports whether err is a failure to connect to an endpoint,
// and its URL.
func unreachable(err error) (string, bool) {
	var ue *url.Error
	var oe *net.OpError
	var dns *net.DNSError
	if !errors.As(err, &oe) && !errors.As(err, &dns) {
		return "", false
	}
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Scheme + "://" + u.Host, true
		}
		return ue.URL, true
	}
	if dns != nil {
		return dns.Name, true
	}
	if oe.Addr != nil {
		return oe.Addr.String(), true
	}
	return oe.Op, true
}
