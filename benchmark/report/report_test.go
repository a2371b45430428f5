package report

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("%s: Median(%v) = %v; want %v", tt.name, tt.in, got, tt.want)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v; want NaN", got)
	}
}

func TestMet(t *testing.T) {
	tests := []struct {
		name    string
		better  Better
		a, b    float64
		ratio   float64
		met, ok bool
	}{
		{"higher met", Higher, 110, 100, 1.0, true, true},
		{"higher missed", Higher, 80, 100, 0.9, false, true},
		{"lower met", Lower, 9, 10, 1.0, true, true},
		{"lower missed", Lower, 12, 10, 1.0, false, true},
		{"zero divisor", Higher, 1, 0, 1.0, false, false},
		{"both zero", Lower, 0, 0, 1.0, true, true},
		{"negative noise", Lower, -1, 10, 1.0, false, false},
	}
	for _, tt := range tests {
		r := Row{Better: tt.better, Goal: &Goal{Versus: "nginx", Ratio: tt.ratio}}
		r.Set("elbguard", tt.a)
		r.Set("nginx", tt.b)
		met, ok := r.Met("elbguard")
		if met != tt.met || ok != tt.ok {
			t.Errorf("%s: Met = %v, %v; want %v, %v", tt.name, met, ok, tt.met, tt.ok)
		}
	}
}

func TestTableAndMissing(t *testing.T) {
	r := Row{Scenario: "keep-alive GET", Metric: "throughput", Unit: "req/s", Better: Higher,
		Goal: &Goal{Versus: "nginx", Ratio: 1}}
	r.Set("elbguard", 30000)
	r.Set("nginx", 20000)
	r.Fail("haproxy", errors.New("connection refused"))
	rows := []Row{r}
	got := Table(rows, "elbguard", []string{"elbguard", "nginx", "haproxy"}, []string{"nginx", "haproxy"})
	want := "| keep-alive GET | throughput (req/s, higher is better) | 30000 | 20000 | error | 1.50× |  | ≥ 1.0× nginx (1.50×) | yes |"
	if !strings.Contains(got, want) {
		t.Errorf("Table row:\ngot  %s\nwant %s", got, want)
	}
	miss := Missing(rows, []string{"elbguard", "nginx", "haproxy", "other"})
	if len(miss) != 2 || !strings.Contains(miss[0], "connection refused") || !strings.Contains(miss[1], "not measured") {
		t.Errorf("Missing = %q; want the haproxy error and other not measured", miss)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{0.1234, "ms", "0.123"},
		{4.567, "ms", "4.57"},
		{45.67, "KB", "45.7"},
		{45, "calls", "45"},
		{23456.7, "req/s", "23457"},
	}
	for _, tt := range tests {
		if got := Format(tt.v, tt.unit); got != tt.want {
			t.Errorf("Format(%v, %q) = %q; want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

// A figure measured for one tool alone is not missing for the others.
func TestMissingOnly(t *testing.T) {
	r := Row{Scenario: "idle", Metric: "reference p99", Unit: "µs", Only: "elbguard"}
	r.Set("elbguard", 300)
	if miss := Missing([]Row{r}, []string{"elbguard", "nginx", "haproxy"}); len(miss) != 0 {
		t.Errorf("Missing = %q; want none", miss)
	}
	r.Cells = nil
	if miss := Missing([]Row{r}, []string{"elbguard", "nginx"}); len(miss) != 1 || !strings.Contains(miss[0], "elbguard: not measured") {
		t.Errorf("Missing = %q; want elbguard not measured", miss)
	}
}
