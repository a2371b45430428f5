package benchmark

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// Machine describes where the numbers were measured.
type Machine struct {
	Date     string  `json:"date"`
	Cores    int     `json:"cores"`
	CPU      string  `json:"cpu"`
	Kernel   string  `json:"kernel"`
	MemoryGB float64 `json:"memory_gb"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load when the run
	// started: other work on the machine skews every figure.
	LoadAvg  string            `json:"load_average"`
	Versions map[string]string `json:"versions"`
}

// describeMachine reads cores, CPU, kernel and the versions of every tool
// in the comparison. A tool that is missing shows as "missing".
func describeMachine(ctx context.Context, root string) Machine {
	m := Machine{
		Date:     time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Cores:    runtime.NumCPU(),
		CPU:      cpuModel(),
		Kernel:   strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		LoadAvg:  strings.Join(first(strings.Fields(readFile("/proc/loadavg")), 3), " "),
		Versions: map[string]string{"go": runtime.Version()},
	}
	if f := strings.Fields(grep("/proc/meminfo", "MemTotal:")); len(f) >= 2 {
		var kb float64
		for _, c := range f[1] {
			kb = kb*10 + float64(c-'0')
		}
		m.MemoryGB = float64(int(kb/1024/1024*10)) / 10
	}
	probe := func(tool string, args []string, pick func(string) string) {
		bin, err := peer.Look(root, tool)
		if err != nil {
			m.Versions[tool] = "missing"
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		res, err := peer.Run(cctx, bin, args, peer.Options{})
		if err != nil {
			m.Versions[tool] = "unknown"
			return
		}
		m.Versions[tool] = pick(res.Stdout + res.Stderr)
	}
	firstLine := func(s string) string {
		l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
		return strings.TrimSpace(l)
	}
	probe("nginx", []string{"-v"}, func(s string) string {
		return strings.TrimPrefix(firstLine(s), "nginx version: ")
	})
	probe("haproxy", []string{"-v"}, func(s string) string {
		f := strings.Fields(firstLine(s))
		if len(f) >= 3 {
			return "HAProxy " + f[2]
		}
		return firstLine(s)
	})
	probe("custodian", []string{"version"}, func(s string) string { return "c7n " + firstLine(s) })
	probe("python3", []string{"--version"}, firstLine)
	if py := filepath.Join(root, ".cache", "venv", "bin", "python"); fileExists(py) {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if res, err := peer.Run(cctx, py, []string{"-c", "import moto; print(moto.__version__)"}, peer.Options{}); err == nil && res.Code == 0 {
			m.Versions["moto"] = firstLine(res.Stdout)
		}
	}
	return m
}

func cpuModel() string {
	if l := grep("/proc/cpuinfo", "model name"); l != "" {
		if _, v, ok := strings.Cut(l, ":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func grep(path, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), prefix) {
			return s.Text()
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func first(s []string, n int) []string {
	return s[:min(n, len(s))]
}
