package proxy

import "testing"

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
