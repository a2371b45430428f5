package events

import (
	"os"
	"testing"
)

// BenchmarkClassify measures decoding and classifying one CloudTrail event.
func BenchmarkClassify(b *testing.B) {
	raw, err := os.ReadFile("testdata/v2_create_nlb.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Classify(raw, goldenOptions); err != nil {
			b.Fatal(err)
		}
	}
}
