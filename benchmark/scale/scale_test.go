package scale

import (
	"net/url"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestCallsString(t *testing.T) {
	c := Calls{ByAction: map[string]int{"elb:DescribeTags": 5, "elb:DescribeLoadBalancers": 1, "elb:CreateLoadBalancerPolicy": 5}, Writes: 5}
	want := "11 calls (elb:CreateLoadBalancerPolicy 5, elb:DescribeTags 5, elb:DescribeLoadBalancers 1), 5 writes"
	if got := c.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestCustodianPolicyIsTheListenerAudit(t *testing.T) {
	var doc struct {
		Policies []struct {
			Name     string `yaml:"name"`
			Resource string `yaml:"resource"`
			Filters  []struct {
				Type  string   `yaml:"type"`
				Key   string   `yaml:"key"`
				Op    string   `yaml:"op"`
				Value []string `yaml:"value"`
			} `yaml:"filters"`
		} `yaml:"policies"`
	}
	if err := yaml.Unmarshal([]byte(CustodianPolicy), &doc); err != nil {
		t.Fatalf("CustodianPolicy is not YAML: %v", err)
	}
	if len(doc.Policies) != 1 || doc.Policies[0].Resource != "aws.elb" || len(doc.Policies[0].Filters) != 1 {
		t.Fatalf("policy = %+v; want one aws.elb policy with one filter", doc)
	}
	f := doc.Policies[0].Filters[0]
	if f.Type != "value" || f.Key != "ListenerDescriptions[].Listener.Protocol" || f.Op != "intersect" || len(f.Value) != 2 {
		t.Errorf("filter = %+v; want a value filter intersecting listener protocols with HTTP, HTTPS", f)
	}
}

func TestName(t *testing.T) {
	if got := Name(7); got != "bench-0007" {
		t.Errorf("Name(7) = %q; want bench-0007", got)
	}
}

func TestQueryKey(t *testing.T) {
	auth := func(svc string) string {
		return "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/" + svc + "/aws4_request, SignedHeaders=host, Signature=x"
	}
	tests := []struct {
		name, auth, target, body, want string
	}{
		{"classic", auth("elasticloadbalancing"), "", "Action=DescribeTags&Version=2012-06-01", "elb:DescribeTags"},
		{"v2", auth("elasticloadbalancing"), "", "Action=DescribeLoadBalancers&Version=2015-12-01", "elbv2:DescribeLoadBalancers"},
		{"json protocol", auth("tagging"), "ResourceGroupsTaggingAPI_20170126.GetResources", "{}", "tagging:GetResources"},
		{"unsigned garbage", "", "", "%%%", "unknown:unknown"},
	}
	for _, tt := range tests {
		form, _ := url.ParseQuery(tt.body)
		if got := queryKey(tt.auth, tt.target, form); got != tt.want {
			t.Errorf("%s: queryKey = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestStatsCalls(t *testing.T) {
	stderr := "some log line\nAPI calls by action:\n  elb:DescribeLoadBalancers=3\n  elb:DescribeTags=50\n  not a line\n"
	got := statsCalls(stderr)
	if len(got) != 2 || got["elb:DescribeLoadBalancers"] != 3 || got["elb:DescribeTags"] != 50 {
		t.Errorf("statsCalls = %v; want DescribeLoadBalancers 3 and DescribeTags 50", got)
	}
	if got := statsCalls("no stats"); len(got) != 0 {
		t.Errorf("statsCalls without stats = %v; want empty", got)
	}
}
