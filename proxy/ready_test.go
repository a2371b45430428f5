package proxy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestReadyTagValue(t *testing.T) {
	tests := []struct {
		name      string
		listeners []ListenerConfig
		want      string
	}{
		{"default config", Default().Listeners, "80,81"},
		{"off left out", []ListenerConfig{{Listen: ":81", ProxyProtocol: ProxyOptional}, {Listen: "127.0.0.1:8081", ProxyProtocol: ProxyOff}, {Listen: ":80", ProxyProtocol: ProxyRequired}}, "80,81"},
		{"same port twice", []ListenerConfig{{Listen: "10.0.0.1:80", ProxyProtocol: ProxyRequired}, {Listen: "10.0.0.2:80", ProxyProtocol: ProxyRequired}}, "80"},
		{"none read it", []ListenerConfig{{Listen: ":22", ProxyProtocol: ProxyOff}}, "false"},
		{"no port", []ListenerConfig{{Listen: "/run/x.sock", ProxyProtocol: ProxyRequired}}, "false"},
	}
	for _, tt := range tests {
		if got := (Config{Listeners: tt.listeners}).ReadyTagValue(); got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, got, tt.want)
		}
	}
}

// TestCheckPrintsReadyPorts: the install step reads the tag value from
// `elbguard-proxy check --print-ready-ports`.
func TestCheckPrintsReadyPorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	cfg := "listeners:\n  - listen: \":81\"\n    mode: http\n    upstream: http://127.0.0.1:8080\n  - listen: \":80\"\n    mode: redirect\n  - listen: \":22\"\n    mode: tcp\n    proxy_protocol: \"off\"\n    upstream: 127.0.0.1:2222\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"check", "--config", path, "--print-ready-ports"}, &stdout, &stderr); code != 0 || stdout.String() != "80,81\n" {
		t.Errorf("got exit %d, stdout %q (stderr %s); want 0 and \"80,81\\n\"", code, stdout.String(), stderr.String())
	}
}
