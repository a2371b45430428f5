package procmem

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestParentOf(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want int
		ok   bool
	}{
		{"plain", "42 (nginx) S 7 42 42 0 -1", 7, true},
		{"comm with spaces and parens", "43 (nginx: worker (x)) S 42 42 42 0", 42, true},
		{"truncated", "44 (x) S", 0, false},
		{"no comm", "garbage", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parentOf([]byte(tt.stat))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parentOf(%q) = %d, %v; want %d, %v", tt.stat, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// fakeProc lays out a /proc with a master (10), two workers (11, 12) and an
// unrelated process (20).
func fakeProc(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	procs := []struct {
		pid, ppid int
		rss       string
	}{{10, 1, "1000"}, {11, 10, "200"}, {12, 10, "300"}, {20, 1, "9999"}}
	for _, p := range procs {
		d := filepath.Join(dir, strconv.Itoa(p.pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(p.pid) + " (x) S " + strconv.Itoa(p.ppid) + " 1 1 0\n"
		status := "Name:\tx\nVmPeak:\t 5 kB\nVmRSS:\t " + p.rss + " kB\n"
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTreeRSS(t *testing.T) {
	proc := fakeProc(t)
	got, n, err := TreeRSS(proc, 10)
	if err != nil {
		t.Fatalf("TreeRSS: %v", err)
	}
	if want := int64(1500) << 10; got != want || n != 3 {
		t.Errorf("TreeRSS(10) = %d bytes in %d processes; want %d in 3", got, n, want)
	}
	if _, _, err := TreeRSS(proc, 99); err == nil {
		t.Errorf("TreeRSS(99) of a missing process: got nil error; want one")
	}
}

func TestRSSOfThisProcess(t *testing.T) {
	n, err := RSS("/proc", os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if n <= 0 {
		t.Errorf("RSS of this process = %d; want > 0", n)
	}
}

func TestCPUOf(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{name: "plain", stat: "42 (nginx) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0", want: 3250 * time.Millisecond, ok: true},
		{name: "comm with spaces and parens", stat: "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", want: 70 * time.Millisecond, ok: true},
		{name: "truncated", stat: "7 (x) R 1 7", ok: false},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuOf([]byte(tt.stat))
			if got != tt.want || ok != tt.ok {
				t.Errorf("cpuOf = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	d0, err := CPUTime("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the process's CPU time has grown by 30ms (the machine may
	// be shared: wall time says little).
	for deadline := time.Now().Add(10 * time.Second); ; {
		d, err := CPUTime("/proc", os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if d-d0 >= 30*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPUTime grew by %v in 10s of spinning; want 30ms", d-d0)
		}
	}
}
