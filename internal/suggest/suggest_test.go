package suggest

import "testing"

func TestNearest(t *testing.T) {
	keys := []string{"proxy_protocol", "trusted_cidrs", "upstream", "securityHub", "defaultMode", "lb"}
	tests := []struct{ word, want string }{
		{"proxy_protocl", "proxy_protocol"}, //nolint:misspell // one deletion: the typo is the input under test
		{"trsuted_cidrs", "trusted_cidrs"},  // a transposition is one edit
		{"securityhub", "securityHub"},      // case only
		{"defaultMod", "defaultMode"},
		{"upstreem", "upstream"},
		{"aa", ""}, // two edits from "lb": too far for a two-letter word
		{"frobnicate", ""},
		{"upstream", "upstream"},
	}
	for _, tt := range tests {
		if got := Nearest(tt.word, keys); got != tt.want {
			t.Errorf("Nearest(%q) = %q; want %q", tt.word, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abc", "abc", 0},
		{"proxy_protocl", "proxy_protocol", 1}, {"mdoe", "mode", 1}, {"upstreams", "upstream", 1}} //nolint:misspell // the typo is the input under test
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
