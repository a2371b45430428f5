package events

import "strings"

// Caller returns the ARN that best identifies who made a CloudTrail call:
// the session issuer (the IAM role) for temporary credentials, else the
// identity's own ARN.
func (u UserIdentity) Caller() string {
	if u.SessionContext != nil && u.SessionContext.SessionIssuer.ARN != "" {
		return u.SessionContext.SessionIssuer.ARN
	}
	return u.ARN
}

// SamePrincipal reports whether two principal ARNs name the same IAM role or
// user. It accepts role ARNs (arn:aws:iam::ACCT:role/PATH/NAME) and the STS
// assumed-role ARNs of their sessions (arn:aws:sts::ACCT:assumed-role/NAME/SESSION),
// compares account and role name and ignores role paths, which an
// assumed-role ARN does not carry. Empty ARNs never match.
func SamePrincipal(a, b string) bool {
	ka, kb := principalKey(a), principalKey(b)
	return ka != "" && ka == kb
}

// principalKey normalises a principal ARN to "partition:account:role/NAME" for
// roles and to the ARN itself for anything else.
func principalKey(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	partition, service, account, res := parts[1], parts[2], parts[4], parts[5]
	switch {
	case service == "iam" && strings.HasPrefix(res, "role/"):
		name := res[strings.LastIndex(res, "/")+1:]
		return partition + ":" + account + ":role/" + name
	case service == "sts" && strings.HasPrefix(res, "assumed-role/"):
		fields := strings.Split(res, "/")
		if len(fields) < 2 {
			return ""
		}
		return partition + ":" + account + ":role/" + fields[1]
	default:
		return arn
	}
}

// RoleARNFromCaller turns an sts:GetCallerIdentity ARN into the principal
// elbguard compares events against: an assumed-role session ARN becomes its
// role ARN (without path); any other ARN is returned unchanged.
func RoleARNFromCaller(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		fields := strings.Split(parts[5], "/")
		if len(fields) >= 2 {
			return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + fields[1]
		}
	}
	return arn
}
