package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/benchmark/scale"
)

// ErrMissing is returned by Run when a scenario produced no number.
var ErrMissing = errors.New("bench: some scenarios produced no number")

// Config is one `make bench` run.
type Config struct {
	// Root is the repository root.
	Root string
	// Out is where results.json and results.md go; zero means
	// Root/.cache/bench.
	Out string
	// Quick runs every scenario briefly with small N (CI).
	Quick bool
	// Only runs one part: "proxy", "enforce", or "" for both. A -scenario
	// filter implies "proxy".
	Only string
	// Publish, when set, is the Markdown file (BENCHMARKS.md) whose
	// generated section is replaced by this run's tables.
	Publish string
	// Command is the command line to record in the results.
	Command string
	// Micro is a file holding `go test -bench -benchmem` output whose
	// Benchmark lines go into the results beside the tables.
	Micro string
	// Proxy configures the proxy part; Dir and Root are filled in.
	Proxy ProxyConfig
	// Scale configures the enforcement part; Dir and Root are filled in.
	Scale scale.Config
	// Log receives progress.
	Log *slog.Logger
}

// Results is everything one run measured.
type Results struct {
	Command     string        `json:"command"`
	Quick       bool          `json:"quick"`
	Machine     Machine       `json:"machine"`
	Proxy       []report.Row  `json:"proxy,omitempty"`
	Enforcement []report.Row  `json:"enforcement,omitempty"`
	Calls       []scale.Calls `json:"api_calls,omitempty"`
	Notes       []string      `json:"notes,omitempty"`
	Micro       []string      `json:"micro_benchmarks,omitempty"`
	Missing     []string      `json:"missing,omitempty"`
	Elapsed     string        `json:"elapsed"`
}

// ParseFlags reads the command line of `elbguard-benchmark run`.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("elbguard-benchmark run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var ns string
	fs.StringVar(&c.Root, "root", ".", "repository root")
	fs.StringVar(&c.Out, "out", "", "results directory (default ROOT/.cache/bench)")
	fs.BoolVar(&c.Quick, "quick", false, "short runs and small N, to check the harness (CI)")
	fs.StringVar(&c.Only, "only", "", "run one part only: proxy or enforce")
	fs.StringVar(&c.Publish, "publish", "", "replace the generated section of this Markdown file (BENCHMARKS.md)")
	fs.StringVar(&c.Proxy.ProxyBin, "proxy-bin", "", "elbguard-proxy binary (required for the proxy part)")
	fs.StringVar(&c.Proxy.BaselineBin, "baseline-bin", "", "elbguard-proxy built from another commit, measured beside -proxy-bin in the same run (column baseline)")
	var proxies string
	fs.StringVar(&proxies, "proxies", "", "comma-separated proxies to run, in table order: elbguard-proxy, baseline, nginx, haproxy (default all; baseline only with -baseline-bin)")
	fs.StringVar(&c.Scale.CLIBin, "elbguard-bin", "", "elbguard CLI binary (the enforcement part; empty: Custodian only)")
	fs.StringVar(&c.Scale.Bootstrap, "bootstrap", "", "enforcer Lambda bootstrap built for this host (cold start under aws-lambda-rie)")
	fs.StringVar(&c.Scale.ArmBootstrap, "arm-bootstrap", "", "enforcer bootstrap for linux/arm64, as deployed (its size is reported)")
	fs.DurationVar(&c.Proxy.Duration, "duration", 0, "length of each measured run (default 4s, quick 1s)")
	fs.IntVar(&c.Proxy.Rounds, "rounds", 0, "rounds of every scenario, interleaved across proxies (default 3, quick 1)")
	var idle string
	fs.StringVar(&idle, "idle", "", "comma-separated idle WebSocket counts for the memory figures (default 5000; quick 200)")
	fs.DurationVar(&c.Proxy.IdleQuiet, "idle-quiet", 0, "silence of the idle WebSockets before their memory is read and their next message timed (default 1s)")
	fs.IntVar(&c.Proxy.Workers, "workers", 0, "load generator connections for HTTP scenarios (default 16)")
	fs.IntVar(&c.Proxy.ProxyVersion, "proxy-version", 1, "PROXY header version for most scenarios: 1 or 2")
	fs.StringVar(&c.Proxy.Scenario, "scenario", "", "run only the proxy scenarios whose name contains this (case-insensitive), e.g. churn, idle, WebSocket")
	fs.StringVar(&c.Micro, "micro", "", "output of `go test -bench` to include beside the tables (scripts/benchmark.sh writes it)")
	fs.StringVar(&c.Command, "command", "", "the command line to record in the results (default: this one)")
	fs.StringVar(&ns, "n", "", "comma-separated load balancer counts for the sweeps (default 100,1000; quick 20)")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Only != "" && c.Only != "proxy" && c.Only != "enforce" {
		return c, fmt.Errorf("-only %q: want proxy, enforce or nothing", c.Only)
	}
	if c.Proxy.Scenario != "" { // names proxy scenarios: the enforcement part is not run
		if c.Only == "enforce" {
			return c, fmt.Errorf("-scenario %q selects proxy scenarios; it cannot go with -only enforce", c.Proxy.Scenario)
		}
		c.Only = "proxy"
	}
	if c.Proxy.ProxyVersion != 1 && c.Proxy.ProxyVersion != 2 {
		return c, fmt.Errorf("-proxy-version %d: want 1 or 2", c.Proxy.ProxyVersion)
	}
	if proxies != "" {
		for _, p := range strings.Split(proxies, ",") {
			switch p = strings.TrimSpace(p); p {
			case Elbguard, Nginx, HAProxy:
			case Baseline:
				if c.Proxy.BaselineBin == "" {
					return c, fmt.Errorf("-proxies %s: %s needs -baseline-bin", proxies, Baseline)
				}
			default:
				return c, fmt.Errorf("-proxies: unknown proxy %q; want %s, %s, %s or %s", p, Elbguard, Baseline, Nginx, HAProxy)
			}
			if slices.Contains(c.Proxy.Proxies, p) {
				return c, fmt.Errorf("-proxies: %s named twice", p)
			}
			c.Proxy.Proxies = append(c.Proxy.Proxies, p)
		}
	}
	var err error
	if c.Scale.Ns, err = counts("n", ns); err != nil {
		return c, err
	}
	if c.Proxy.IdleConns, err = counts("idle", idle); err != nil {
		return c, err
	}
	for _, p := range []*string{&c.Root, &c.Out, &c.Publish, &c.Micro, &c.Proxy.ProxyBin, &c.Proxy.BaselineBin, &c.Scale.CLIBin, &c.Scale.Bootstrap, &c.Scale.ArmBootstrap} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return c, fmt.Errorf("resolve path %s: %w", *p, err)
		}
		*p = abs
	}
	if c.Command == "" {
		c.Command = "elbguard-benchmark run " + strings.Join(args, " ")
	}
	return c, nil
}

// counts parses "-flag 1,2,3": positive integers separated by commas.
func counts(flag, s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s %q: want positive integers separated by commas", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c Config) withDefaults() Config {
	if c.Out == "" {
		c.Out = filepath.Join(c.Root, ".cache", "benchmark")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Quick {
		if c.Proxy.Duration == 0 {
			c.Proxy.Duration = time.Second
		}
		if c.Proxy.Rounds == 0 {
			c.Proxy.Rounds = 1
		}
		if len(c.Proxy.IdleConns) == 0 {
			c.Proxy.IdleConns = []int{200}
		}
		if len(c.Scale.Ns) == 0 {
			c.Scale.Ns = []int{20}
		}
		if c.Scale.Events == 0 {
			c.Scale.Events = 5
		}
		if c.Scale.ColdStarts == 0 {
			c.Scale.ColdStarts = 2
		}
	}
	c.Proxy.Root, c.Scale.Root = c.Root, c.Root
	c.Proxy.Log, c.Scale.Log = c.Log, c.Log
	return c
}

// Run measures everything the configuration asks for, writes results.json
// and results.md under Out (and the published file, if any) and returns
// the results. It returns ErrMissing, with the results, when a scenario
// produced no number.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	raiseNoFile(cfg.Log)
	work, err := os.MkdirTemp("", "elbguard-benchmark-")
	if err != nil {
		return nil, fmt.Errorf("make scratch dir: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("make results dir: %w", err)
	}
	res := &Results{Command: cfg.Command, Quick: cfg.Quick, Machine: describeMachine(ctx, cfg.Root)}
	var missing []string
	if cfg.Only != "enforce" {
		cfg.Proxy.Dir = filepath.Join(work, "proxy")
		if err := os.MkdirAll(cfg.Proxy.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("make proxy dir: %w", err)
		}
		rows, notes, err := RunProxy(ctx, cfg.Proxy)
		if err != nil {
			return nil, err
		}
		res.Proxy = rows
		res.Notes = append(res.Notes, notes...)
		missing = append(missing, report.Missing(rows, cfg.Proxy.withDefaults().Proxies)...)
	}
	if cfg.Only != "proxy" {
		cfg.Scale.Dir = filepath.Join(work, "scale")
		if err := os.MkdirAll(cfg.Scale.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("make scale dir: %w", err)
		}
		sr, err := scale.Run(ctx, cfg.Scale)
		if err != nil {
			return nil, err
		}
		res.Enforcement, res.Calls = sr.Rows, sr.Calls
		res.Notes = append(res.Notes, sr.Notes...)
		missing = append(missing, sr.Missing...)
	}
	if cfg.Micro != "" {
		b, err := os.ReadFile(cfg.Micro)
		if err != nil {
			return nil, fmt.Errorf("read micro-benchmarks: %w", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg: ") {
				res.Micro = append(res.Micro, strings.TrimSpace(l))
			}
		}
	}
	sort.Strings(missing)
	res.Missing = missing
	res.Elapsed = time.Since(start).Round(time.Second).String()
	if err := write(cfg, res); err != nil {
		return res, err
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, "; "))
	}
	return res, nil
}

func write(cfg Config, res *Results) error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := writeFile(cfg.Out, "results.json", append(js, '\n')); err != nil {
		return err
	}
	md := Markdown(res)
	if err := writeFile(cfg.Out, "results.md", []byte(md)); err != nil {
		return err
	}
	if cfg.Publish != "" {
		if err := publish(cfg.Publish, md); err != nil {
			return err
		}
	}
	return nil
}

// Markers around the generated section of BENCHMARKS.md.
const (
	beginMarker = "<!-- bench:begin (generated by `make bench`; edit outside the markers) -->"
	endMarker   = "<!-- bench:end -->"
)

// publish replaces the text between the markers in path with md.
func publish(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	i := bytes.Index(b, []byte(beginMarker))
	j := bytes.Index(b, []byte(endMarker))
	if i < 0 || j < i {
		return fmt.Errorf("publish to %s: no %q … %q section", path, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(b[:i+len(beginMarker)])
	out.WriteString("\n")
	out.WriteString(md)
	out.Write(b[j:])
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Markdown renders the results as the generated section of BENCHMARKS.md.
func Markdown(res *Results) string {
	var b strings.Builder
	m := res.Machine
	mode := "full"
	if res.Quick {
		mode = "quick (CI smoke run: numbers are not meaningful)"
	}
	fmt.Fprintf(&b, "Measured %s, %s run, %s wall time.\n\n", m.Date, mode, res.Elapsed)
	fmt.Fprintf(&b, "Machine: %d cores (%s), %.1f GB RAM, Linux %s; load average %s when the run started.\n",
		m.Cores, m.CPU, m.MemoryGB, m.Kernel, m.LoadAvg)
	keys := make([]string, 0, len(m.Versions))
	for k := range m.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var vs []string
	for _, k := range keys {
		vs = append(vs, k+" "+strings.TrimPrefix(m.Versions[k], k+" "))
	}
	fmt.Fprintf(&b, "Versions: %s.\n\n", strings.Join(vs, ", "))
	fmt.Fprintf(&b, "Command: `%s`\n\n", res.Command)
	if len(res.Proxy) > 0 {
		b.WriteString("### Proxies side by side\n\n")
		tools, versus := []string{Elbguard, Nginx, HAProxy, Direct}, []string{Nginx, HAProxy}
		if report.Has(res.Proxy, Baseline) {
			tools, versus = slices.Insert(tools, 1, Baseline), slices.Insert(versus, 0, Baseline)
		}
		b.WriteString(report.Table(res.Proxy, Elbguard, tools, versus))
		b.WriteString("\n")
	}
	if len(res.Enforcement) > 0 {
		b.WriteString("### Enforcement at scale\n\n")
		b.WriteString(report.Table(res.Enforcement, scale.Elbguard, []string{scale.Elbguard, scale.Custodian}, []string{scale.Custodian}))
		b.WriteString("\n")
	}
	if len(res.Calls) > 0 {
		b.WriteString("API calls by action (elbguard: the awscount SDK middleware; Custodian: a counting reverse proxy in front of moto):\n\n")
		for _, c := range res.Calls {
			fmt.Fprintf(&b, "- %s: %s\n", c.What, c.String())
		}
		b.WriteString("\n")
	}
	if len(res.Micro) > 0 {
		b.WriteString("### Go micro-benchmarks of the hot paths (`go test -bench . -benchmem`)\n\n```\n")
		for _, l := range res.Micro {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n\n")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(res.Notes) > 0 {
		b.WriteString("\n")
	}
	if len(res.Missing) > 0 {
		b.WriteString("No number for:\n\n")
		for _, s := range res.Missing {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// wantNoFile is the open files limit the bench asks for: 5,000 idle
// WebSockets are 10,000 sockets in a proxy, and a proxy that tunnels with
// splice(2) holds a pipe pair (two more descriptors) per direction on top,
// 30,000 in all. The systemd unit gives elbguard-proxy 1,048,576.
const wantNoFile = 1 << 16

// raiseNoFile lifts this process's RLIMIT_NOFILE, which the proxies and the
// backend inherit: the hard limit to wantNoFile where allowed (root), the
// soft limit to the hard one. The idle scenario holds thousands of sockets.
func raiseNoFile(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("read RLIMIT_NOFILE", "err", err)
		return
	}
	if l.Max < wantNoFile {
		up := syscall.Rlimit{Cur: wantNoFile, Max: wantNoFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			l = up
		} else {
			log.Warn("cannot raise the hard open files limit; a proxy that splices may run out at 5,000 idle WebSockets",
				"hard", l.Max, "want", wantNoFile, "err", err)
		}
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.Warn("raise RLIMIT_NOFILE", "err", err)
			return
		}
	}
	log.Info("open files limit", "nofile", l.Cur)
}
