package demo

import (
	"errors"
	"io"
	"testing"
)

func TestParseFlags(t *testing.T) {
	noColour := func(string) string { return "" }
	base := []string{"--root", "/repo", "--workdir", "/tmp/w", "--elbguard", "/b/elbguard", "--bootstrap", "/b/bootstrap", "--proxy", "/b/proxy"}
	tests := []struct {
		name    string
		args    []string
		tty     bool
		getenv  func(string) string
		part    string
		colour  bool
		wantErr bool
	}{
		{"default part is all", base, false, noColour, PartAll, false, false},
		{"enforcer", append(base[:len(base):len(base)], "enforcer"), false, noColour, PartEnforcer, false, false},
		{"proxy needs only the proxy", []string{"--root", "/r", "--workdir", "/w", "--proxy", "/p", "proxy"}, false, noColour, PartProxy, false, false},
		{"colour on a terminal", base, true, noColour, PartAll, true, false},
		{"NO_COLOR wins", base, true, func(k string) string {
			if k == "NO_COLOR" {
				return "1"
			}
			return ""
		}, PartAll, false, false},
		{"colour always", append([]string{"--color", "always"}, base...), false, noColour, PartAll, true, false},
		{"bad colour", append([]string{"--color", "rainbow"}, base...), false, noColour, "", false, true},
		{"unknown part", append(base[:len(base):len(base)], "sweeper"), false, noColour, "", false, true},
		{"two parts", append(base[:len(base):len(base)], "proxy", "enforcer"), false, noColour, "", false, true},
		{"enforcer without bootstrap", []string{"--root", "/r", "--workdir", "/w", "--elbguard", "/e", "enforcer"}, false, noColour, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseFlags(tt.args, io.Discard, tt.getenv, tt.tty)
			if tt.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("got %v; want an error wrapping ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want no error", err)
			}
			if cfg.Part != tt.part || cfg.Colour != tt.colour {
				t.Errorf("got part %q colour %t; want %q %t", cfg.Part, cfg.Colour, tt.part, tt.colour)
			}
		})
	}
}
