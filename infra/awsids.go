package infra

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/elbguard/elbguard/internal/awsclient"
)

// Formats of the AWS identifiers the organization stacks take from context.
// They are checked at synthesis so that a typo fails `cdk synth` with the
// field's name instead of a stack that deploys and guards nothing.
var (
	// orgIDPattern is an AWS Organizations organization id.
	orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// accountIDPattern is a 12-digit AWS account id.
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	// orgUnitPattern is an organizational unit id, or the organization's root
	// id (StackSet deployment targets accept both).
	orgUnitPattern = awsclient.OrgUnitRE // the hub walks the same ids
	// regionPattern is an AWS region name: us-east-1, eu-central-2,
	// us-gov-west-1, ap-southeast-5, il-central-1, cn-north-1.
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$`)
	// roleNamePattern is an IAM role name (without path).
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// roleArnPattern is an IAM role ARN (any partition, optional path); the
	// submatch is the account id.
	roleArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
)

// checkIDs reports the first of values that does not match pattern, naming
// field and what was wanted, or that repeats an earlier one. Empty values are
// errors too.
func checkIDs(field string, values []string, pattern *regexp.Regexp, want string) error {
	for i, v := range values {
		if !pattern.MatchString(v) {
			return fmt.Errorf("%w: %s[%d] %q: want %s", ErrInvalidProps, field, i, v, want)
		}
		if j := slices.Index(values[:i], v); j >= 0 {
			return fmt.Errorf("%w: %s[%d] %q: already listed at %d", ErrInvalidProps, field, i, v, j)
		}
	}
	return nil
}

// checkID is checkIDs for one value.
func checkID(field, value string, pattern *regexp.Regexp, want string) error {
	if !pattern.MatchString(value) {
		return fmt.Errorf("%w: %s %q: want %s", ErrInvalidProps, field, value, want)
	}
	return nil
}

// What each identifier must look like, for the error messages.
const (
	wantOrgID     = "an organization id o-[a-z0-9]{10,32}, e.g. o-a1b2c3d4e5"
	wantAccountID = "a 12-digit account id"
	wantOrgUnit   = "an organizational unit id ou-xxxx-xxxxxxxx or the root id r-xxxx"
	wantRegion    = "a region name such as us-east-1 or eu-central-1"
	wantRoleName  = "an IAM role name of 1-64 letters, digits and +=,.@_-"
	wantRoleArn   = "an IAM role ARN arn:aws:iam::123456789012:role/NAME"
)
