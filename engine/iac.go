package engine

import (
	"fmt"
	"strings"
)

// IaCTag is a tag that marks a load balancer as owned by infrastructure as
// code that adds no tag of its own (Terraform, OpenTofu, Pulumi,
// Crossplane): the team's convention, such as ManagedBy=terraform or
// crossplane.io/claim-name.
type IaCTag struct {
	// Key is the tag key, matched exactly (AWS tag keys are case-sensitive).
	Key string
	// Value, when HasValue, is the value the tag must have (any case);
	// otherwise any value matches.
	Value    string
	HasValue bool
}

// String is the tag as ParseIaCTags reads it.
func (t IaCTag) String() string {
	if t.HasValue {
		return t.Key + "=" + t.Value
	}
	return t.Key
}

// maxIaCTags bounds the configured IaC owner tags.
const maxIaCTags = 50

// ParseIaCTags reads "KEY[=VALUE],...": a key alone matches any value,
// KEY=VALUE that value (compared in any case); a key is split at its first
// "=". Empty gives none.
func ParseIaCTags(s string) ([]IaCTag, error) {
	var out []IaCTag
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		k, v, has := strings.Cut(item, "=")
		t := IaCTag{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), HasValue: has}
		if err := t.validate(); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) > maxIaCTags {
		return nil, fmt.Errorf("%w: %d IaC owner tags; want at most %d", ErrConfig, len(out), maxIaCTags)
	}
	return out, nil
}

func (t IaCTag) validate() error {
	switch {
	case t.Key == "" || len(t.Key) > 128:
		return fmt.Errorf("%w: IaC owner tag %q: want KEY or KEY=VALUE, a key of 1 to 128 characters", ErrConfig, t.String())
	case len(t.Value) > 256:
		return fmt.Errorf("%w: IaC owner tag %q: want a value of at most 256 characters", ErrConfig, t.String())
	case t.HasValue && t.Value == "":
		return fmt.Errorf("%w: IaC owner tag %q: want a value after =, or the key alone for any value", ErrConfig, t.String())
	}
	return nil
}

// match reports whether tags carry t, and the tag as found.
func (t IaCTag) match(tags map[string]string) (string, bool) {
	v, ok := tags[t.Key]
	if !ok || (t.HasValue && !strings.EqualFold(strings.TrimSpace(v), t.Value)) {
		return "", false
	}
	return t.Key + "=" + v, true
}
