package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassifyConfigGolden classifies every Config rule sample in
// testdata/config and compares with its golden file.
func TestClassifyConfigGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/config: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ClassifyConfig(raw)
			if err != nil {
				t.Fatalf("ClassifyConfig: %v", err)
			}
			if d.ResultToken == "" {
				t.Errorf("got no result token; want the event's")
			}
			checkGolden(t, file, d)
		})
	}
}

func TestClassifyConfigMalformed(t *testing.T) {
	tests := []struct{ name, raw string }{
		{name: "not json", raw: "{"},
		{name: "no token", raw: `{"invokingEvent":"{\"messageType\":\"ScheduledNotification\"}"}`},
		{name: "invoking event not json", raw: `{"invokingEvent":"{","resultToken":"t"}`},
		{name: "change without item", raw: `{"invokingEvent":"{\"messageType\":\"ConfigurationItemChangeNotification\"}","resultToken":"t"}`},
		{name: "v2 without arn", raw: `{"invokingEvent":"{\"messageType\":\"ConfigurationItemChangeNotification\",\"configurationItem\":{\"resourceType\":\"AWS::ElasticLoadBalancingV2::LoadBalancer\",\"resourceId\":\"x\"}}","resultToken":"t"}`},
		{name: "oversized", raw: `{"resultToken":"t","invokingEvent":"` + strings.Repeat(" ", MaxEventBytes) + `"}`},
	}
	for _, tt := range tests {
		if _, err := ClassifyConfig([]byte(tt.raw)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v; want ErrMalformed", tt.name, err)
		}
	}
}

func FuzzClassifyConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/config/*.json")
	for _, file := range files {
		if raw, err := os.ReadFile(file); err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ClassifyConfig(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v; want nil or ErrMalformed", err)
			}
			return
		}
		if d.Kind == KindReconcile && len(d.Classic)+len(d.LoadBalancers) != 1 {
			t.Fatalf("got %+v; want exactly one target", d)
		}
	})
}
