package events

import "testing"

func TestARNs(t *testing.T) {
	const p = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
	tests := []struct {
		arn         string
		wantClassic string
		wantV2      bool
		wantTG      bool
		wantFromLsn string
	}{
		{p + "loadbalancer/web", "web", false, false, ""},
		{p + "loadbalancer/net/edge/50dc", "", true, false, ""},
		{p + "loadbalancer/app/web/8e44", "", true, false, ""},
		{p + "targetgroup/tcp/73e2", "", false, true, ""},
		{p + "listener/net/edge/50dc/f2f7", "", false, false, p + "loadbalancer/net/edge/50dc"},
		{p + "listener-rule/app/web/8e44/f2f7/1", "", false, false, ""},
		{"arn:aws:ec2:us-east-1:1:instance/i-1", "", false, false, ""},
		{"garbage", "", false, false, ""},
		{"", "", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			if got, _ := ClassicNameFromARN(tt.arn); got != tt.wantClassic {
				t.Errorf("ClassicNameFromARN = %q; want %q", got, tt.wantClassic)
			}
			if got := IsV2LoadBalancerARN(tt.arn); got != tt.wantV2 {
				t.Errorf("IsV2LoadBalancerARN = %v; want %v", got, tt.wantV2)
			}
			if got := IsTargetGroupARN(tt.arn); got != tt.wantTG {
				t.Errorf("IsTargetGroupARN = %v; want %v", got, tt.wantTG)
			}
			if got, _ := LoadBalancerARNFromListener(tt.arn); got != tt.wantFromLsn {
				t.Errorf("LoadBalancerARNFromListener = %q; want %q", got, tt.wantFromLsn)
			}
		})
	}
}

func TestSamePrincipal(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"arn:aws:iam::1:role/R", "arn:aws:iam::1:role/R", true},
		{"arn:aws:iam::1:role/service-role/R", "arn:aws:sts::1:assumed-role/R/session", true},
		{"arn:aws:iam::1:role/R", "arn:aws:iam::2:role/R", false},
		{"arn:aws:iam::1:role/R", "arn:aws:iam::1:role/S", false},
		{"arn:aws:iam::1:user/moto", "arn:aws:iam::1:user/moto", true},
		{"", "", false},
		{"x", "x", false},
	}
	for _, tt := range tests {
		if got := SamePrincipal(tt.a, tt.b); got != tt.want {
			t.Errorf("SamePrincipal(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRoleARNFromCaller(t *testing.T) {
	tests := []struct{ in, want string }{
		{"arn:aws:sts::1:assumed-role/ElbGuard-Enforcer/fn", "arn:aws:iam::1:role/ElbGuard-Enforcer"},
		{"arn:aws:iam::1:user/moto", "arn:aws:iam::1:user/moto"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := RoleARNFromCaller(tt.in); got != tt.want {
			t.Errorf("RoleARNFromCaller(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoadBalancerARNFromRule(t *testing.T) {
	const p = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
	tests := []struct {
		arn, want string
		ok        bool
	}{
		{p + "listener-rule/net/edge/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee", p + "loadbalancer/net/edge/50dc6c495c0c9188", true},
		{p + "listener-rule/app/web/5d0c7cc6a1f1b2c3/9a8b7c6d5e4f3a2b/0c1d2e3f4a5b6c7d", p + "loadbalancer/app/web/5d0c7cc6a1f1b2c3", true},
		{p + "listener/net/edge/50dc6c495c0c9188/f2f7dc8efc522ab2", "", false},
		{p + "listener-rule/net/edge/50dc6c495c0c9188", "", false},
		{"arn:aws:ec2:us-east-1:123456789012:listener-rule/net/a/b/c/d", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := LoadBalancerARNFromRule(tt.arn)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LoadBalancerARNFromRule(%q) = %q, %v; want %q, %v", tt.arn, got, ok, tt.want, tt.ok)
		}
	}
}
