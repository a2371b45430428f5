package loadgen

import (
	"errors"
	"testing"
	"time"
)

func TestResultPercentileAndErr(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	r := Result{Ops: 1000, Elapsed: 2 * time.Second, Latencies: lat, Bytes: 4e6}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0.999, 999 * time.Microsecond}, {1, 1000 * time.Microsecond}}
	for _, tt := range tests {
		if got := r.Percentile(tt.q); got != tt.want {
			t.Errorf("Percentile(%v) = %v; want %v", tt.q, got, tt.want)
		}
	}
	if got := r.Rate(); got != 500 {
		t.Errorf("Rate() = %v; want 500", got)
	}
	if got := r.MBps(); got != 2 {
		t.Errorf("MBps() = %v; want 2", got)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v; want nil", err)
	}
	boom := errors.New("boom")
	bad := []Result{
		{},
		{FirstError: boom},
		{Ops: 100, Errors: 2, FirstError: boom},
	}
	for _, b := range bad {
		if b.Err() == nil {
			t.Errorf("Result%+v.Err() = nil; want an error", b)
		}
	}
}
