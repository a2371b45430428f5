package main

import (
	"strings"
	"testing"
)

func TestSplitVersion(t *testing.T) {
	tests := []struct {
		in, version, release string
		wantErr              bool
	}{
		{"1.2.3", "1.2.3", "", false},
		{"1.2.3-4", "1.2.3", "4", false},
		{"0.0.0-48.g62ca445", "0.0.0", "48.g62ca445", false},
		{"0.0.0-48.g62ca445.dirty", "0.0.0", "48.g62ca445.dirty", false},
		{"v1.2.3", "", "", true},
		{"1.2", "", "", true},
		{"1.2.3-4-5", "", "", true}, // rpm Release may not hold "-"
		{"1.2.3-$(rm)", "", "", true},
	}
	for _, tt := range tests {
		v, r, err := splitVersion(tt.in)
		if (err != nil) != tt.wantErr || v != tt.version || r != tt.release {
			t.Errorf("splitVersion(%q) = %q, %q, %v; want %q, %q, error %v", tt.in, v, r, err, tt.version, tt.release, tt.wantErr)
		}
	}
}

func TestDescribeVersion(t *testing.T) {
	tests := []struct{ describe, want string }{
		{"v1.2.3-0-gabc1234", "1.2.3-0.gabc1234"},
		{"v1.2.3-7-gabc1234-dirty", "1.2.3-7.gabc1234.dirty"},
		{"1.2.3-7-gabc1234", "1.2.3-7.gabc1234"},
	}
	for _, tt := range tests {
		m := describeRE.FindStringSubmatch(tt.describe)
		if m == nil {
			t.Errorf("describeRE does not match %q", tt.describe)
			continue
		}
		got := m[1] + "-" + m[2] + ".g" + m[3]
		if m[4] != "" {
			got += ".dirty"
		}
		if got != tt.want {
			t.Errorf("%q -> %q; want %q", tt.describe, got, tt.want)
		}
		if _, _, err := splitVersion(got); err != nil {
			t.Errorf("version %q from git describe is not a valid package version: %v", got, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-arch", "386"}); err == nil || !strings.Contains(err.Error(), "amd64, arm64") {
		t.Errorf("-arch 386: %v; want an error naming the supported architectures", err)
	}
	if _, err := parseFlags([]string{"-formats", "apk"}); err == nil || !strings.Contains(err.Error(), "deb, rpm") {
		t.Errorf("-formats apk: %v; want an error naming deb, rpm", err)
	}
	o, err := parseFlags(nil)
	if err != nil || strings.Join(o.arches, ",") != "amd64,arm64" || strings.Join(o.formats, ",") != "deb,rpm" {
		t.Errorf("defaults: %+v, %v; want amd64,arm64 and deb,rpm", o, err)
	}
}
