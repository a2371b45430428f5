package migrate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
)

// CallStatus is the outcome of one planned API call.
type CallStatus string

// Call statuses, stable in JSON.
const (
	CallPlanned      CallStatus = "planned"
	CallApplied      CallStatus = "applied"
	CallFailed       CallStatus = "failed"
	CallNotAttempted CallStatus = "not_attempted"
)

// Call is one API call of a plan: the exact request, as the SDK sends it.
// A value "${REF}" in Params is the ARN returned by the earlier call whose
// Ref is REF (the load balancer, a target group or a listener being
// created); apply substitutes it and changes nothing else.
type Call struct {
	API    string          `json:"api"`
	Params json.RawMessage `json:"params"`
	Ref    string          `json:"ref,omitempty"`
	Status CallStatus      `json:"status"`
	// Result is the ARN (or change id) the call returned.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`

	input any // *SDK input; Params is its rendering
}

// newCall renders input into a planned call.
func newCall(api, ref string, input any) *Call {
	return &Call{API: api, Ref: ref, Status: CallPlanned, Params: render(input), input: input}
}

// render is the JSON of an SDK input without its null and empty members,
// keys sorted: what the plan shows.
func render(input any) json.RawMessage {
	raw, err := json.Marshal(input)
	if err != nil { // SDK inputs are plain data: this does not happen
		return json.RawMessage(fmt.Sprintf("%q", err.Error()))
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	out, _ := json.Marshal(prune(v))
	return out
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			x = prune(x)
			if empty(x) {
				delete(t, k)
				continue
			}
			t[k] = x
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	}
	return v
}

func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

var refPattern = regexp.MustCompile(`\$\{([a-z0-9-]+)\}`)

// resolved returns a copy of the call's input with every ${REF} replaced by
// the ARN refs holds for it; a reference to a call that returned nothing is
// an error.
func (c *Call) resolved(refs map[string]string) (any, error) {
	raw, err := json.Marshal(c.input)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.API, err)
	}
	var missing []string
	raw = refPattern.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(refPattern.FindSubmatch(m)[1])
		v, ok := refs[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		q, _ := json.Marshal(v) // a JSON string: its body goes inside the quotes the placeholder is in
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s refers to %v, which no earlier call returned", c.API, missing)
	}
	out := reflect.New(reflect.TypeOf(c.input).Elem()).Interface()
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.API, err)
	}
	return out, nil
}

// ref is the placeholder for the ARN call ref returns.
func ref(name string) string { return "${" + name + "}" }
