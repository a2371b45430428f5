package faultproxy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ActionStats counts the requests of one action.
type ActionStats struct {
	// Requests is every request the proxy received for the action.
	Requests int
	// Forwarded is how many reached the backend (delayed ones included).
	Forwarded int
	// Faults counts injected faults by kind ("throttle", "500", "reset",
	// "delay"), and "intercepted" for requests an Interceptor handled.
	Faults map[string]int
}

// Stats maps a key "Version:Action" ("2012-06-01:DescribeTags") to its counts.
type Stats map[string]ActionStats

// Key names an action of an API version in Stats.
func Key(version, action string) string { return version + ":" + action }

// IsMutating reports whether an action may change state: anything but
// Describe*, Get* and List*.
func IsMutating(action string) bool {
	return !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "Get") && !strings.HasPrefix(action, "List")
}

// Totals sums requests, forwarded requests and faults over every action.
func (s Stats) Totals() (requests, forwarded, faults int) {
	for _, a := range s {
		requests += a.Requests
		forwarded += a.Forwarded
		for _, n := range a.Faults {
			faults += n
		}
	}
	return requests, forwarded, faults
}

// ForwardedMutating returns the mutating actions that reached the backend,
// with how many times each did.
func (s Stats) ForwardedMutating() map[string]int {
	out := map[string]int{}
	for k, a := range s {
		_, action, _ := strings.Cut(k, ":")
		if IsMutating(action) && a.Forwarded > 0 {
			out[k] = a.Forwarded
		}
	}
	return out
}

// Faults sums the faults by kind over every action.
func (s Stats) Faults() map[string]int {
	out := map[string]int{}
	for _, a := range s {
		for k, n := range a.Faults {
			out[k] += n
		}
	}
	return out
}

// String is one line: "Action=requests/forwarded" per action, sorted, with
// the API version shortened to "elb" or "elbv2".
func (s Stats) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		a := s[k]
		version, action, _ := strings.Cut(k, ":")
		switch version {
		case VersionClassic:
			version = "elb"
		case VersionV2:
			version = "elbv2"
		}
		parts = append(parts, fmt.Sprintf("%s:%s=%d/%d", version, action, a.Requests, a.Forwarded))
	}
	return strings.Join(parts, " ")
}
