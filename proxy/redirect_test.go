package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRedirectTarget(t *testing.T) {
	tests := []struct {
		name, host, uri, redirectHost string
		want                          string
		wantErr                       bool
	}{
		{"plain", "example.com", "/a/b?c=d", "", "https://example.com/a/b?c=d", false},
		{"port stripped", "example.com:80", "/", "", "https://example.com/", false},
		{"encoded kept byte for byte", "example.com", "/a%2Fb/%E2%82%AC?q=%20x&r=a+b", "", "https://example.com/a%2Fb/%E2%82%AC?q=%20x&r=a+b", false},
		{"ipv4", "10.0.0.1:8080", "/x", "", "https://10.0.0.1/x", false},
		{"ipv6", "[2001:db8::1]:80", "/x", "", "https://[2001:db8::1]/x", false},
		{"redirect_host wins", "evil.example", "/x", "good.example", "https://good.example/x", false},
		{"absolute form", "example.com", "http://other/p?q", "", "https://example.com/p?q", false},
		{"absolute form no path", "example.com", "http://other", "", "https://example.com/", false},
		{"asterisk", "example.com", "*", "", "https://example.com/", false},
		{"empty host", "", "/", "", "", true},
		{"host with slash", "a/b", "/", "", "", true},
		{"host with userinfo", "user@host", "/", "", "", true},
		{"host with space", "a b", "/", "", "", true},
		{"bad ipv6", "[zz::1]", "/", "", "", true},
		{"leading dot", ".example.com", "/", "", "", true},
		{"control in uri", "example.com", "/a\x01", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RedirectTarget(tt.host, tt.uri, tt.redirectHost)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("RedirectTarget(%q, %q, %q) = %q, %v; want %q, error %v", tt.host, tt.uri, tt.redirectHost, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRedirectListener(t *testing.T) {
	cfg := Config{Listeners: []ListenerConfig{{Mode: ModeRedirect, HSTS: "max-age=31536000"}}}
	s, addrs := startServer(t, cfg)
	hdr := v1Header("203.0.113.1:1", "10.0.0.1:80")
	resp, _, err := roundTrip(t, addrs[0], cat(hdr, get("/path/%7Euser?x=%41&y", "www.example.com:80")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("status %d; want 301", resp.StatusCode)
	}
	if got := resp.Header.Get("Location"); got != "https://www.example.com/path/%7Euser?x=%41&y" {
		t.Errorf("Location = %q", got)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS = %q", got)
	}
	resp, _, err = roundTrip(t, addrs[0], cat(hdr, []byte("GET / HTTP/1.0\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("missing Host: status %d; want 400", resp.StatusCode)
	}
	// Counted after the answer is flushed: the client may read it first.
	got := metricValue(t, s, "elbguard_proxy_requests_total", map[string]string{"code": "301"})
	for deadline := time.Now().Add(2 * time.Second); got != 1 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = metricValue(t, s, "elbguard_proxy_requests_total", map[string]string{"code": "301"})
	}
	if got != 1 {
		t.Errorf("requests{code=301} = %v; want 1", got)
	}
}

func FuzzRedirectTarget(f *testing.F) {
	for _, s := range [][2]string{{"example.com", "/a?b"}, {"[::1]:80", "/"}, {"h:1", "http://x/y"}, {"", "*"}, {"a b", "/\x00"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, uri string) {
		got, err := RedirectTarget(host, uri, "")
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "https://") {
			t.Fatalf("target %q lacks https://", got)
		}
		rest := got[len("https://"):]
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; c <= ' ' || c == 0x7f {
				t.Fatalf("target %q contains control or space byte", got)
			}
		}
		h := host[:stripPort(host)]
		if !strings.HasPrefix(rest, h) || !validHost(h) {
			t.Fatalf("target %q does not start with the valid host %q", got, h)
		}
		// The host must end where the path begins: no userinfo or path smuggled in.
		if after := rest[len(h):]; after != "" && after[0] != '/' {
			t.Fatalf("target %q: host %q is followed by %q, want /", got, h, after)
		}
		if strings.ContainsAny(h, "/@?#\\") {
			t.Fatalf("host %q contains URL delimiters", h)
		}
	})
}

func ExampleRedirectTarget() {
	target, err := RedirectTarget("www.example.com:80", "/docs/a%20b?lang=en", "")
	fmt.Println(target, err)
	// Output: https://www.example.com/docs/a%20b?lang=en <nil>
}
