package events

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzClassify feeds arbitrary bytes to Classify: it must never panic, must
// return either a Decision or ErrMalformed, and a reconcile must name a target.
func FuzzClassify(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"detail-type":"Tag Change on Resource","source":"aws.tag","resources":["arn:aws:elasticloadbalancing:r:a:loadbalancer/x"],"detail":{}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := Classify(raw, goldenOptions)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		switch d.Kind {
		case KindReconcile:
			if len(d.Classic)+len(d.LoadBalancers)+len(d.TargetGroups) == 0 {
				t.Fatalf("reconcile without targets: %+v", d)
			}
		case KindIgnored:
			if d.Reason == "" {
				t.Fatalf("ignored without reason: %+v", d)
			}
		case KindSweep:
		default:
			t.Fatalf("unknown kind %q", d.Kind)
		}
	})
}
