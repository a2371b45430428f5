package proxy

import (
	"net/http"
	"testing"
)

func TestSpoofableName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"X-Forwarded-For", true}, {"x-forwarded-proto", true}, {"X_Forwarded_For", true}, {"X-Forwarded_Host", true},
		{"Forwarded", true}, {"X-Real-Ip", true}, {"x_real_ip", true}, {"X-Amzn-Vpce-Id", true}, {"X_AMZN_VPCE_ID", true},
		{"X-Forwarded", true}, {"Forwarded-For", true}, {"True-Client-IP", true}, {"cf_connecting_ip", true},
		{"X-Cluster-Client-Ip", true}, {"Fastly-Client-IP", true}, {"X-Original-Forwarded-For", true}, {"Client-IP", true}, {"X-Client-IP", true},
		{"WL-Proxy-Client-IP", true}, {"x_envoy_external_address", true}, {"X-Original-URL", true}, {"X-Rewrite-Url", true},
		{"X-Amzn-Oidc-Data", true}, {"x_amzn_oidc_identity", true}, {"X-Amzn-Oidc-Anything", true}, {"X-Amzn-Oidc", false},
		{"X-Amzn-Trace-Id", false}, {"X-Original-URLs", false},
		{"X-Real-IPv6", false}, {"Client-IPs", false}, {"Forwardedx", false}, {"X-Request-Id", false}, {"User-Agent", false}, {"", false},
	}
	for _, tt := range tests {
		if got := spoofableName(tt.name); got != tt.want {
			t.Errorf("spoofableName(%q) = %v; want %v", tt.name, got, tt.want)
		}
		if got := spoofableName([]byte(tt.name)); got != tt.want {
			t.Errorf("spoofableName([]byte(%q)) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestDropRequestHeader(t *testing.T) {
	tests := []struct {
		name             string
		allowUnderscores bool
		want             bool
	}{
		{"Connection", false, true}, {"keep-alive", false, true}, {"TE", false, true}, {"Upgrade", false, true},
		{"HTTP2-Settings", false, true}, {"Proxy-Authorization", false, true}, {"Transfer-Encoding", false, true},
		{"X-Forwarded-Host", false, true}, {"CF-Connecting-IP", false, true}, {"Forwarded", false, true},
		{"X_User", false, true}, {"X_User", true, false}, {"X_Forwarded_For", true, true}, {"True_Client_IP", true, true},
		{"Accept", false, false}, {"Cookie", false, false}, {"X-Request-Id", false, false}, {"Upgrade-Insecure-Requests", false, false},
		// drop_request_headers: x-tenant (normalized lower case, '-').
		{"X-Tenant", false, true}, {"x_TENANT", true, true}, {"X-Tenants", false, false}, {"X-Amzn-Oidc-Data", false, true},
	}
	for _, tt := range tests {
		if got := dropRequestHeader(tt.name, headerRules{allowUnderscores: tt.allowUnderscores, drop: []string{"x-tenant"}}); got != tt.want {
			t.Errorf("dropRequestHeader(%q, %v) = %v; want %v", tt.name, tt.allowUnderscores, got, tt.want)
		}
		if got := dropRequestHeader([]byte(tt.name), headerRules{allowUnderscores: tt.allowUnderscores, drop: []string{"x-tenant"}}); got != tt.want {
			t.Errorf("dropRequestHeader([]byte(%q), %v) = %v; want %v", tt.name, tt.allowUnderscores, got, tt.want)
		}
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	tests := []struct {
		method  string
		conn    bool
		upgrade string
		want    bool
	}{
		{http.MethodGet, true, "websocket", true},
		{http.MethodGet, true, " WebSocket\t", true},
		{http.MethodGet, false, "websocket", false},
		{http.MethodPost, true, "websocket", false},
		{http.MethodGet, true, "h2c", false},
		{http.MethodGet, true, "websocket, h2c", false},
		{http.MethodGet, true, "", false},
	}
	for _, tt := range tests {
		if got := webSocketUpgrade(tt.method, true, tt.conn, tt.upgrade); got != tt.want {
			t.Errorf("webSocketUpgrade(%s, %v, %q) = %v; want %v", tt.method, tt.conn, tt.upgrade, got, tt.want)
		}
	}
}
