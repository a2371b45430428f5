//go:build integration

package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/test/harness"
)

// TestProxyBehindHAProxy puts HAProxy in the load balancer's place, once
// with send-proxy (v1) and once with send-proxy-v2, and drives requests from
// distinct loopback sources so the client address is visible end to end.
func TestProxyBehindHAProxy(t *testing.T) {
	for _, sendProxy := range []string{"send-proxy", "send-proxy-v2"} {
		t.Run(sendProxy, func(t *testing.T) {
			upstream, app := pxStartApp(t)
			p := pxStartProxy(t, upstream, "")
			lbRedirect, lbApp := harness.FreeAddr(t), harness.FreeAddr(t)
			harness.StartHAProxy(t, harness.HAProxyTCPDefaults+fmt.Sprintf(`frontend redirect
  bind %s
  default_backend proxy_redirect
frontend app
  bind %s
  default_backend proxy_app
backend proxy_redirect
  server p %s %s
backend proxy_app
  server p %s %s
`, lbRedirect, lbApp, p.Redirect, sendProxy, p.App, sendProxy))

			t.Run("spoofed X-Forwarded-For is replaced", func(t *testing.T) {
				out := pxCurl(t, "127.0.0.5", "-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Real-IP: 6.6.6.6",
					"-H", "Forwarded: for=6.6.6.6", "http://"+lbApp+"/hello?x=1")
				if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, "hello 127.0.0.5") {
					t.Fatalf("curl through HAProxy: %q; want 200 hello 127.0.0.5", out)
				}
				r := app.last(t)
				for k, want := range map[string]string{"X-Forwarded-For": "127.0.0.5", "X-Real-Ip": "127.0.0.5",
					"X-Forwarded-Proto": "https", "Forwarded": ""} {
					if got := strings.Join(r.Header.Values(k), ","); got != want {
						t.Errorf("app saw %s = %q; want %q", k, got, want)
					}
				}
				pxWaitLog(t, p.Log, `127.0.0.5 - - [`)
			})

			t.Run("redirect", func(t *testing.T) {
				out := pxCurl(t, "127.0.0.6", "-H", "Host: www.example.com", "http://"+lbRedirect+"/a%20b/c?d=%2F&e")
				if !strings.HasPrefix(out, "HTTP/1.1 301") || !strings.Contains(out, "Location: https://www.example.com/a%20b/c?d=%2F&e\r\n") {
					t.Errorf("redirect: %q; want 301 to https://www.example.com/a%%20b/c?d=%%2F&e", out)
				}
			})

			t.Run("websocket echo", func(t *testing.T) {
				pxWSEcho(t, pxClientFrom("127.0.0.7"), "ws://"+lbApp+"/ws")
				if got := app.last(t).Header.Get("X-Forwarded-For"); got != "127.0.0.7" {
					t.Errorf("app saw X-Forwarded-For %q on the WebSocket; want 127.0.0.7", got)
				}
				pxWaitLog(t, p.Log, `"GET /ws HTTP/1.1" 101`)
			})
		})
	}
}

// TestProxyBehindNginxStream puts nginx's stream module with
// proxy_protocol on in the load balancer's place.
func TestProxyBehindNginxStream(t *testing.T) {
	upstream, app := pxStartApp(t)
	p := pxStartProxy(t, upstream, "")
	lb := harness.FreeAddr(t)
	harness.StartNginx(t, fmt.Sprintf(`%s
error_log stderr;
events { worker_connections 256; }
stream {
  server {
    listen %s;
    proxy_pass %s;
    proxy_protocol on;
  }
}
`, harness.NginxStreamModule(), lb, p.App))
	out := pxCurl(t, "127.0.0.8", "-H", "X-Forwarded-For: 6.6.6.6", "http://"+lb+"/via-nginx")
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, "hello 127.0.0.8") {
		t.Fatalf("curl through nginx: %q; want 200 hello 127.0.0.8", out)
	}
	if got := app.last(t).Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.8" {
		t.Errorf("app saw X-Forwarded-For %q; want [127.0.0.8]", got)
	}
	pxWSEcho(t, pxClientFrom("127.0.0.9"), "ws://"+lb+"/ws")
	if got := app.last(t).Header.Get("X-Forwarded-For"); got != "127.0.0.9" {
		t.Errorf("app saw X-Forwarded-For %q on the WebSocket; want 127.0.0.9", got)
	}
}
