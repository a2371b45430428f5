package demo

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// The CloudTrail events the demo sends, as EventBridge delivers them
// ("AWS API Call via CloudTrail"), with sample identifiers that patch
// replaces with the ones moto gave out.
//
//go:embed testdata/*.json
var eventFiles embed.FS

// Sample identifiers in the event templates.
const (
	sampleCertARN = "arn:aws:iam::123456789012:server-certificate/demo.elbguard.test"
	sampleNLBARN  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/edge-nlb/50dc6c495c0c9188"
	sampleTGARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge-tcp/73e2d6bc24d8a067"
	sampleVPC     = "vpc-0123456789abcdef0"
	sampleSubnetA = "subnet-0a1b2c3d"
	sampleSubnetB = "subnet-4e5f6a7b"
)

// event is one patched CloudTrail event ready to send.
type event struct {
	File    string // template name, e.g. 01-create-web-classic.json
	Name    string // detail.eventName
	API     string // Classic (2012-06-01) or ELBv2 (2015-12-01)
	Caller  string // detail.userIdentity.arn
	Targets string // what the call was about, for people
	Body    []byte
}

// eventTemplates returns the template names in the order they are sent.
func eventTemplates() ([]string, error) {
	entries, err := eventFiles.ReadDir("testdata")
	if err != nil {
		return nil, fmt.Errorf("list event templates: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// patchEvents fills the templates with the seed's real identifiers and the
// current time.
func patchEvents(s *seed, now time.Time) ([]event, error) {
	subnets := append(slices.Clone(s.subnets), "", "")
	repl := strings.NewReplacer(
		sampleCertARN, s.certARN,
		sampleNLBARN, s.nlbARN,
		sampleTGARN, s.tgARN,
		sampleVPC, s.vpcID,
		sampleSubnetA, subnets[0],
		sampleSubnetB, subnets[1],
	)
	names, err := eventTemplates()
	if err != nil {
		return nil, err
	}
	var out []event
	for i, name := range names {
		raw, err := eventFiles.ReadFile(path.Join("testdata", name))
		if err != nil {
			return nil, fmt.Errorf("read event template %s: %w", name, err)
		}
		ev, err := newEvent(name, []byte(repl.Replace(string(raw))), now.Add(time.Duration(i)*time.Second))
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// newEvent sets the event's times and reads what the demo prints about it.
func newEvent(file string, raw []byte, at time.Time) (event, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return event{}, fmt.Errorf("decode event template %s: %w", file, err)
	}
	detail, ok := m["detail"].(map[string]any)
	if !ok {
		return event{}, fmt.Errorf("event template %s: no detail object", file)
	}
	ts := at.UTC().Format(time.RFC3339)
	m["time"] = ts
	detail["eventTime"] = ts
	ev := event{File: file}
	ev.Name, _ = detail["eventName"].(string)
	switch detail["apiVersion"] {
	case "2012-06-01":
		ev.API = "Classic"
	case "2015-12-01":
		ev.API = "ELBv2"
	}
	if id, ok := detail["userIdentity"].(map[string]any); ok {
		ev.Caller, _ = id["arn"].(string)
		// An assumed-role session began a little before the call.
		if sc, ok := id["sessionContext"].(map[string]any); ok {
			if attrs, ok := sc["attributes"].(map[string]any); ok {
				attrs["creationDate"] = at.Add(-17 * time.Minute).UTC().Format(time.RFC3339)
			}
		}
	}
	ev.Targets = describeTargets(detail)
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return event{}, fmt.Errorf("encode event %s: %w", file, err)
	}
	ev.Body = body
	return ev, nil
}

// describeTargets names what a CloudTrail call was about.
func describeTargets(detail map[string]any) string {
	req, _ := detail["requestParameters"].(map[string]any)
	var parts []string
	add := func(v any) {
		switch x := v.(type) {
		case string:
			parts = append(parts, shortARN(x))
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					parts = append(parts, shortARN(s))
				}
			}
		}
	}
	for _, k := range []string{"loadBalancerName", "name", "loadBalancerNames", "resourceArns"} {
		add(req[k])
	}
	var tags []string
	if ts, ok := req["tags"].([]any); ok {
		for _, t := range ts {
			if m, ok := t.(map[string]any); ok {
				tags = append(tags, fmt.Sprintf("%v=%v", m["key"], m["value"]))
			}
		}
	}
	s := strings.Join(parts, ", ")
	if len(tags) > 0 {
		s += " [" + strings.Join(tags, ", ") + "]"
	}
	return s
}

// shortARN keeps the resource part of an ELB ARN: "targetgroup/edge-tcp/…".
func shortARN(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 {
		return s
	}
	res := parts[5]
	if i := strings.LastIndexByte(res, '/'); i > 0 && strings.Count(res, "/") >= 2 {
		res = res[:i]
	}
	return res
}
