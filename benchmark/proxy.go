package benchmark

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elbguard/elbguard/benchmark/backend"
	"github.com/elbguard/elbguard/benchmark/loadgen"
	"github.com/elbguard/elbguard/benchmark/procmem"
	"github.com/elbguard/elbguard/benchmark/report"
	"github.com/elbguard/elbguard/benchmark/skmem"
	"github.com/elbguard/elbguard/test/peer"
)

// ErrCheck is wrapped when a proxy does not behave as configured (wrong
// X-Forwarded-For, wrong redirect) in the check before measuring.
var ErrCheck = errors.New("bench: proxy check failed")

// ProxyConfig says how to run the proxy benchmarks. The zero value of each
// field is replaced by the default noted beside it.
type ProxyConfig struct {
	// Root is the repository root (benchmark/configs/ templates, tools in .cache).
	Root string
	// Dir is a scratch directory for configs and logs.
	Dir string
	// ProxyBin is the elbguard-proxy binary.
	ProxyBin string
	// BackendCmd starts the shared backend: argv, to which
	// "--listen ADDR" is appended.
	BackendCmd []string
	// Proxies to run, in table order; zero means all three, and
	// Baseline after elbguard-proxy when BaselineBin is set.
	Proxies []string
	// BaselineBin, when set, is an elbguard-proxy binary built from
	// another commit, run as the tool named Baseline with the same
	// configuration, interleaved with ProxyBin round by round.
	BaselineBin string
	// Duration of each measured run; zero means 4 s.
	Duration time.Duration
	// Rounds of every scenario on every proxy, interleaved; the table
	// shows the median. Zero means 3.
	Rounds int
	// IdleConns are the numbers of idle WebSockets for the memory figures,
	// each measured on freshly started proxies; empty means 5,000.
	IdleConns []int
	// IdleQuiet is how long the idle WebSockets stay silent before their
	// memory is read and each sends its next message (timed: the first
	// message after parking for elbguard-proxy);
	// zero means 1 s.
	IdleQuiet time.Duration
	// Workers is the load generator's concurrency for HTTP scenarios;
	// zero means 16.
	Workers int
	// ProxyVersion is the PROXY header version of most scenarios (1 or 2;
	// zero means 1, as a Classic ELB). Churn runs with both.
	ProxyVersion int
	// Scenario, when set, keeps only the scenarios whose name contains it
	// (case-insensitive; "churn", "idle", "WebSocket"); the idle memory
	// figures run only when their name matches, and the load generator's
	// calibration only without a filter. Empty runs everything.
	Scenario string
	// Log receives progress.
	Log *slog.Logger
}

func (c ProxyConfig) withDefaults() ProxyConfig {
	if len(c.Proxies) == 0 {
		c.Proxies = []string{Elbguard, Nginx, HAProxy}
		if c.BaselineBin != "" {
			c.Proxies = []string{Elbguard, Baseline, Nginx, HAProxy}
		}
	}
	if c.Duration == 0 {
		c.Duration = 4 * time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = 3
	}
	if c.IdleQuiet == 0 {
		c.IdleQuiet = time.Second
	}
	if len(c.IdleConns) == 0 {
		c.IdleConns = []int{5000}
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.ProxyVersion == 0 {
		c.ProxyVersion = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// figure is one number a scenario reports, and how to read it.
type figure struct {
	metric, unit string
	better       report.Better
	goal         *report.Goal
	value        func(loadgen.Result) float64
}

// scenario is one kind of load, run against each proxy in turn.
type scenario struct {
	name    string
	figures []figure
	// direct also runs the scenario straight against the backend.
	direct bool
	run    func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func latencyFigures(prefix string, qs ...float64) []figure {
	var out []figure
	for _, q := range qs {
		name := fmt.Sprintf("p%g", q*100)
		out = append(out, figure{metric: prefix + name, unit: "ms", better: report.Lower,
			value: func(r loadgen.Result) float64 { return ms(r.Percentile(q)) }})
	}
	return out
}

func (c ProxyConfig) scenarios() []scenario {
	rate := func(r loadgen.Result) float64 { return r.Rate() }
	dur := c.Duration
	w := c.Workers
	ka := latencyFigures("", 0.5, 0.99, 0.999)
	ka[1].goal = &report.Goal{Versus: Nginx, Ratio: 1}
	echo := latencyFigures("round trip ", 0.5, 0.99)
	echo[0].goal = &report.Goal{Versus: Nginx, Ratio: 1}
	// Request bodies: nginx buffers them by default (memory up to 16 KiB,
	// then client_body_temp_path), elbguard-proxy too (request_buffering
	// on), HAProxy streams them.
	post := func(size int, name string) scenario {
		body := bytes.Repeat([]byte("b"), size)
		return scenario{
			name: "keep-alive POST, " + name + " request body",
			figures: append([]figure{{metric: "throughput", unit: "req/s", better: report.Higher,
				goal: &report.Goal{Versus: Nginx, Ratio: 1}, value: rate}}, latencyFigures("", 0.5, 0.99)...),
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				return loadgen.KeepAlive(ctx, d, loadgen.HTTP{Path: backend.PathUpload, Body: body}, w, dur)
			},
		}
	}
	churn := func(v int) scenario {
		return scenario{
			name:    fmt.Sprintf("connection churn, PROXY v%d", v),
			figures: []figure{{metric: "new connections", unit: "conn/s", better: report.Higher, value: rate}},
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				dv := &loadgen.Dialer{Addr: d.Addr, Proxy: v}
				return loadgen.Churn(ctx, dv, loadgen.HTTP{}, max(w/2, 1), dur)
			},
		}
	}
	all := []scenario{
		{
			name: "keep-alive GET, 128 B body",
			figures: append([]figure{{metric: "throughput", unit: "req/s", better: report.Higher,
				goal: &report.Goal{Versus: Nginx, Ratio: 1}, value: rate}}, ka...),
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				return loadgen.KeepAlive(ctx, d, loadgen.HTTP{}, w, dur)
			},
		},
		{
			name: "redirect listener (301)",
			figures: append([]figure{{metric: "throughput", unit: "req/s", better: report.Higher,
				goal: &report.Goal{Versus: HAProxy, Ratio: 1}, value: rate}}, latencyFigures("", 0.99)...),
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				dr := &loadgen.Dialer{Addr: t.redirect, Proxy: d.Proxy}
				return loadgen.KeepAlive(ctx, dr, loadgen.HTTP{Path: "/a/b?c=d", Want: 301}, w, dur)
			},
		},
		post(1<<10, "1 KiB"),
		post(64<<10, "64 KiB"),
		churn(1),
		churn(2),
		{
			name:    "WebSocket echo, 64 B, 4 connections",
			figures: echo,
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				return loadgen.WSEcho(ctx, d, "ws://app.example.com"+backend.PathEcho, 64, 4, dur)
			},
		},
		{
			name: "WebSocket bulk, 64 KiB messages, 1 connection",
			figures: []figure{{metric: "throughput", unit: "MB/s", better: report.Higher,
				goal: &report.Goal{Versus: Direct, Ratio: 0.9}, value: func(r loadgen.Result) float64 { return r.MBps() }}},
			direct: true,
			run: func(ctx context.Context, d *loadgen.Dialer, t *target) loadgen.Result {
				return loadgen.WSBulk(ctx, d, "ws://app.example.com"+backend.PathBulk, 1, dur)
			},
		},
	}
	var out []scenario
	for _, s := range all {
		if c.selects(s.name) {
			out = append(out, s)
		}
	}
	return out
}

// RunProxy starts the backend and the proxies, checks that each forwards
// the client address and redirects as configured, measures idle WebSocket
// memory on the fresh proxies, then runs every scenario Rounds times,
// interleaving the proxies, and returns one row per figure (medians).
func RunProxy(ctx context.Context, cfg ProxyConfig) ([]report.Row, []string, error) {
	cfg = cfg.withDefaults()
	log := cfg.Log
	scen := cfg.scenarios()
	idleWanted := cfg.IdleConns[:0:0]
	for _, n := range cfg.IdleConns {
		if cfg.selects(idleScenario(n)) || cfg.selects(idleEchoScenario(n)) {
			idleWanted = append(idleWanted, n)
		}
	}
	kaWanted := false
	for _, n := range cfg.IdleConns {
		kaWanted = kaWanted || cfg.selects(idleKeepAliveScenario(n))
	}
	if len(scen) == 0 && len(idleWanted) == 0 && !kaWanted {
		return nil, nil, fmt.Errorf("bench: -scenario %q matches no proxy scenario", cfg.Scenario)
	}
	backendAddr, stop, err := startBackend(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer stop()

	var idleRows []report.Row
	for _, n := range idleWanted {
		targets, failed := startAll(ctx, cfg, backendAddr, false)
		rows := idleFigures(ctx, cfg, targets, n, backendAddr)
		stopAll(targets)
		for name, err := range failed {
			for i := range rows {
				rows[i].Fail(name, err)
			}
		}
		idleRows = append(idleRows, rows...)
	}

	for _, n := range cfg.IdleConns {
		if !cfg.selects(idleKeepAliveScenario(n)) {
			continue
		}
		targets, failed := startAll(ctx, cfg, backendAddr, false)
		rows := idleKeepAliveFigures(ctx, cfg, targets, n)
		stopAll(targets)
		for name, err := range failed {
			for i := range rows {
				rows[i].Fail(name, err)
			}
		}
		idleRows = append(idleRows, rows...)
	}
	if len(scen) == 0 {
		return idleRows, nil, nil
	}

	targets, failed := startAll(ctx, cfg, backendAddr, true)
	defer stopAll(targets)
	defer func() {
		for _, t := range targets {
			logSizes(log, t.name, filepath.Join(cfg.Dir, t.name))
		}
	}()

	// samples[scenario][figure][tool] = one value per round
	samples := make([][]map[string][]float64, len(scen))
	errs := make([]map[string]error, len(scen))
	for i, s := range scen {
		samples[i] = make([]map[string][]float64, len(s.figures))
		for j := range s.figures {
			samples[i][j] = map[string][]float64{}
		}
		errs[i] = map[string]error{}
	}
	for round := range cfg.Rounds {
		for i, s := range scen {
			order := rotate(targets, round+i)
			if s.direct {
				order = append(order, &target{name: Direct, app: backendAddr})
			}
			for _, t := range order {
				if ctx.Err() != nil {
					return nil, nil, fmt.Errorf("proxy benchmarks: %w", ctx.Err())
				}
				d := &loadgen.Dialer{Addr: t.app, Proxy: cfg.ProxyVersion}
				if t.name == Direct {
					d.Proxy = 0
				}
				res := s.run(ctx, d, t)
				if err := res.Err(); err != nil {
					log.Warn("scenario failed", "scenario", s.name, "proxy", t.name, "round", round+1, "err", err)
					errs[i][t.name] = err
					continue
				}
				for j, f := range s.figures {
					samples[i][j][t.name] = append(samples[i][j][t.name], f.value(res))
				}
				log.Info("measured", "scenario", s.name, "proxy", t.name, "round", round+1,
					"ops_per_s", int(res.Rate()), "p50_ms", ms(res.Percentile(0.5)), "p99_ms", ms(res.Percentile(0.99)),
					"mb_per_s", int(res.MBps()), "errors", res.Errors)
			}
		}
	}

	var rows []report.Row
	for i, s := range scen {
		for j, f := range s.figures {
			r := report.Row{Scenario: s.name, Metric: f.metric, Unit: f.unit, Better: f.better, Goal: f.goal}
			tools := append([]string(nil), cfg.Proxies...)
			if s.direct {
				tools = append(tools, Direct)
			}
			for _, name := range tools {
				switch {
				case failed[name] != nil:
					r.Fail(name, failed[name])
				case len(samples[i][j][name]) > 0:
					r.Set(name, report.Median(samples[i][j][name]))
				case errs[i][name] != nil:
					r.Fail(name, errs[i][name])
				}
			}
			rows = append(rows, r)
		}
	}
	var notes []string
	if cfg.Scenario == "" {
		notes = append(notes, calibrate(ctx, cfg, backendAddr))
	}
	return append(rows, idleRows...), notes, nil
}

// selects reports whether the -scenario filter keeps the scenario named name.
func (c ProxyConfig) selects(name string) bool {
	return c.Scenario == "" || strings.Contains(strings.ToLower(name), strings.ToLower(c.Scenario))
}

func idleKeepAliveScenario(n int) string { return fmt.Sprintf("%d idle keep-alive connections", n) }

// idleKeepAliveFigures holds n keep-alive connections, each having carried
// one request, through each freshly started proxy: the proxy's memory per
// connection after IdleQuiet of silence, its CPU meanwhile, and a request's
// round trip on a fresh connection and on one that was quiet (p50/p99).
func idleKeepAliveFigures(ctx context.Context, cfg ProxyConfig, targets []*target, n int) []report.Row {
	scen := idleKeepAliveScenario(n)
	row := func(metric, unit string) report.Row {
		return report.Row{Scenario: scen, Metric: metric, Unit: unit, Better: report.Lower}
	}
	rows := []report.Row{row("proxy RSS per connection", "KB"),
		row("request on a fresh connection p50", "µs"), row("request on a fresh connection p99", "µs"),
		row(fmt.Sprintf("request after %v quiet p50", cfg.IdleQuiet), "µs"), row(fmt.Sprintf("request after %v quiet p99", cfg.IdleQuiet), "µs"),
		row("proxy CPU while quiet", "ms/s")}
	for _, t := range targets {
		vals, err := idleKeepAliveMemory(ctx, cfg, t, n)
		if err != nil {
			cfg.Log.Warn("idle keep-alive memory failed", "proxy", t.name, "n", n, "err", err)
			for i := range rows {
				rows[i].Fail(t.name, err)
			}
			continue
		}
		cfg.Log.Info("measured", "scenario", scen, "proxy", t.name, "rss_kb_per_conn", vals[0], "fresh_p50_us", vals[1],
			"fresh_p99_us", vals[2], "quiet_p50_us", vals[3], "quiet_p99_us", vals[4], "cpu_ms_per_s", vals[5])
		for i := range rows {
			rows[i].Set(t.name, vals[i])
		}
	}
	return rows
}

func idleKeepAliveMemory(ctx context.Context, cfg ProxyConfig, t *target, n int) ([6]float64, error) {
	var out [6]float64
	pid := t.proc.Pid()
	before, _, err := procmem.TreeRSS("/proc", pid)
	if err != nil {
		return out, err
	}
	d := &loadgen.Dialer{Addr: t.app, Proxy: cfg.ProxyVersion, SpreadSources: true}
	octx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	idle, err := loadgen.HoldKeepAlive(octx, d, loadgen.HTTP{}, n, 32)
	if err != nil {
		return out, err
	}
	defer idle.Close()
	fresh, err := idle.RequestTimed(octx)
	if err != nil {
		return out, err
	}
	cpu0, err := procmem.CPUTime("/proc", pid)
	if err != nil {
		return out, err
	}
	time.Sleep(cfg.IdleQuiet)
	cpu1, err := procmem.CPUTime("/proc", pid)
	if err != nil {
		return out, err
	}
	after, _, err := procmem.TreeRSS("/proc", pid)
	if err != nil {
		return out, err
	}
	quiet, err := idle.RequestTimed(octx)
	if err != nil {
		return out, err
	}
	f, q := quantiles(fresh), quantiles(quiet)
	out = [6]float64{float64(after-before) / 1024 / float64(idle.Len()), us(f[0]), us(f[1]), us(q[0]), us(q[1]),
		float64(cpu1-cpu0) / float64(time.Millisecond) / cfg.IdleQuiet.Seconds()}
	return out, nil
}

func idleScenario(n int) string { return fmt.Sprintf("%d idle WebSockets", n) }

func idleEchoScenario(n int) string {
	return fmt.Sprintf("%d idle WebSockets, after a %d KiB echo on each", n, idleEcho>>10)
}

// calibrate runs the keep-alive scenario straight at the backend with our
// load generator and with wrk (same connections, one wrk thread per core),
// so a reader can see whether the generator, rather than the proxy, limits
// the HTTP figures.
func calibrate(ctx context.Context, cfg ProxyConfig, backendAddr string) string {
	ours := loadgen.KeepAlive(ctx, &loadgen.Dialer{Addr: backendAddr}, loadgen.HTTP{}, cfg.Workers, cfg.Duration)
	if err := ours.Err(); err != nil {
		return fmt.Sprintf("Load generator calibration failed: %v", err)
	}
	msg := fmt.Sprintf("Load generator calibration, keep-alive GET straight to the backend with %d connections: elbguard-benchmark %.0f req/s",
		cfg.Workers, ours.Rate())
	wrk, err := peer.Look(cfg.Root, "wrk")
	if err != nil {
		return msg + "; wrk not installed."
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.Duration+30*time.Second)
	defer cancel()
	res, err := peer.Run(wctx, wrk, []string{"-t", "2", "-c", strconv.Itoa(cfg.Workers), "-d", fmt.Sprintf("%ds", max(1, int(cfg.Duration.Seconds()))),
		"-H", "Host: app.example.com", "http://" + backendAddr + backend.PathSmall}, peer.Options{})
	if err != nil || res.Code != 0 {
		return msg + fmt.Sprintf("; wrk failed: %v %s", err, tail(res.Stderr))
	}
	for _, l := range strings.Split(res.Stdout, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Requests/sec:" {
			return msg + ", wrk " + f[1] + " req/s (on the same 2 cores as the backend)."
		}
	}
	return msg + "; no Requests/sec in wrk's output."
}

func tail(s string) string {
	if len(s) > 300 {
		return "…" + s[len(s)-300:]
	}
	return s
}

// startAll starts every proxy in a fresh run directory and checks it;
// a proxy that fails is left out and its error returned by name.
func startAll(ctx context.Context, cfg ProxyConfig, backendAddr string, announce bool) ([]*target, map[string]error) {
	var targets []*target
	failed := map[string]error{}
	for _, name := range cfg.Proxies {
		t, err := startTarget(ctx, cfg, name, backendAddr)
		if err == nil {
			err = check(ctx, t, cfg.ProxyVersion)
			if err != nil {
				t.proc.Stop()
			}
		}
		if err != nil {
			cfg.Log.Error("proxy unusable; its column will show errors", "proxy", name, "err", err)
			failed[name] = err
			continue
		}
		if announce {
			cfg.Log.Info("proxy ready", "proxy", name, "app", t.app, "redirect", t.redirect, "pid", t.proc.Pid())
		}
		targets = append(targets, t)
	}
	return targets, failed
}

func stopAll(targets []*target) {
	for _, t := range targets {
		t.proc.Stop()
	}
}

func rotate(ts []*target, k int) []*target {
	out := make([]*target, 0, len(ts)+1)
	for i := range ts {
		out = append(out, ts[(i+k)%len(ts)])
	}
	return out
}

// startBackend starts the shared backend in its own process.
func startBackend(ctx context.Context, cfg ProxyConfig) (string, func(), error) {
	addr, err := peer.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	if len(cfg.BackendCmd) == 0 {
		return "", nil, errors.New("bench: ProxyConfig.BackendCmd is empty; want the argv that starts the backend")
	}
	args := append(append([]string(nil), cfg.BackendCmd[1:]...), "--listen", addr)
	p, err := peer.Start(cfg.BackendCmd[0], args, peer.Options{LogDir: cfg.Dir})
	if err != nil {
		return "", nil, fmt.Errorf("start backend: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := peer.WaitTCP(wctx, addr); err != nil {
		p.Stop()
		return "", nil, fmt.Errorf("backend does not listen on %s: %w\n%s", addr, err, p.Logs())
	}
	return addr, p.Stop, nil
}

// check sends one request to each listener of t and verifies what the
// seed's nginx does: the PROXY client address arrives in X-Forwarded-For,
// and the redirect keeps the path and query.
func check(ctx context.Context, t *target, version int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, _, err := get(ctx, &loadgen.Dialer{Addr: t.app, Proxy: version}, backend.PathWhoAmI)
	if err != nil {
		return fmt.Errorf("%s app listener: %w", t.name, err)
	}
	if want := loadgen.DefaultClient.String(); body != want {
		return fmt.Errorf("%w: %s sent X-Forwarded-For %q; want %q", ErrCheck, t.name, body, want)
	}
	_, loc, err := get(ctx, &loadgen.Dialer{Addr: t.redirect, Proxy: version}, "/a/b?c=d")
	if err != nil {
		return fmt.Errorf("%s redirect listener: %w", t.name, err)
	}
	if want := "https://app.example.com/a/b?c=d"; loc != want {
		return fmt.Errorf("%w: %s redirected to %q; want %q", ErrCheck, t.name, loc, want)
	}
	return nil
}

// get does one GET over a fresh PROXY connection and returns the body and
// the Location header.
func get(ctx context.Context, d *loadgen.Dialer, path string) (body, location string, err error) {
	c, err := d.Dial(ctx)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: app.example.com:8443\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return "", "", fmt.Errorf("write request: %w", err)
	}
	br := bufio.NewReader(c)
	resp, err := io.ReadAll(br)
	if err != nil && len(resp) == 0 {
		return "", "", fmt.Errorf("read response: %w", err)
	}
	head, b, _ := strings.Cut(string(resp), "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Location") {
			location = strings.TrimSpace(v)
		}
	}
	if strings.Contains(strings.ToLower(head), "transfer-encoding: chunked") {
		b = dechunk(b)
	}
	return b, location, nil
}

func dechunk(s string) string {
	var out strings.Builder
	for {
		size, rest, ok := strings.Cut(s, "\r\n")
		if !ok {
			return out.String()
		}
		var n int
		if _, err := fmt.Sscanf(size, "%x", &n); err != nil || n == 0 || n > len(rest) {
			return out.String()
		}
		out.WriteString(rest[:n])
		s = strings.TrimPrefix(rest[n:], "\r\n")
	}
}

// idleFigures measures, on each fresh proxy, what n idle WebSockets through
// it cost: the resident memory growth of its process tree per connection,
// and the kernel memory its own sockets and pipes hold per connection,
// read per socket (skmem.Take: ss -tm's skmem, the pipes in its descriptor
// table, its epoll entries). The kernel figures used to be the growth of
// the machine-wide Slab line of /proc/meminfo, which counted the client's
// and the backend's sockets too and, as the proxies were measured one after
// the other, charged the first one for slab pages the next ones reused
// (BENCHMARKS.md, "Kernel memory per idle WebSocket").
func idleFigures(ctx context.Context, cfg ProxyConfig, targets []*target, n int, backendAddr string) []report.Row {
	scen, echoScen := idleScenario(n), idleEchoScenario(n)
	mem := report.Row{Scenario: scen, Metric: "proxy RSS per connection", Unit: "KB", Better: report.Lower,
		Goal: &report.Goal{Versus: Nginx, Ratio: 1}}
	bufRow := func(scen string) report.Row {
		return report.Row{Scenario: scen, Metric: "kernel memory per connection (skmem: socket and pipe buffers)",
			Unit: "bytes", Better: report.Lower, Goal: &report.Goal{Versus: Nginx, Ratio: 1}}
	}
	// No goal: every proxy holds two sockets and two epoll entries per
	// connection, and a keep-alive connection to the backend that closes
	// between the snapshots moves the figure by a few bytes either way.
	objRow := func(scen string) report.Row {
		return report.Row{Scenario: scen, Metric: "kernel objects per connection (sockets, epoll entries, pipes)",
			Unit: "KB", Better: report.Lower}
	}
	latRow := func(metric string) report.Row {
		return report.Row{Scenario: scen, Metric: metric, Unit: "µs", Better: report.Lower}
	}
	refRow := func(metric string) report.Row {
		r := latRow(metric)
		r.Only = Elbguard
		return r
	}
	rows := []report.Row{mem, bufRow(scen), objRow(scen), bufRow(echoScen), objRow(echoScen),
		latRow("message on a fresh connection p50"), latRow("message on a fresh connection p99"),
		latRow(fmt.Sprintf("first message after %v quiet p50", cfg.IdleQuiet)),
		latRow(fmt.Sprintf("first message after %v quiet p99", cfg.IdleQuiet)),
		{Scenario: scen, Metric: "proxy CPU while quiet", Unit: "ms/s", Better: report.Lower},
		refRow(fmt.Sprintf("first message after %v quiet, unparked reference (park_after: 0) p50", cfg.IdleQuiet)),
		refRow(fmt.Sprintf("first message after %v quiet, unparked reference (park_after: 0) p99", cfg.IdleQuiet))}
	sizes, sizeErr := skmem.ReadSizes("/sys/kernel/slab")
	for _, t := range targets {
		im, err := idleMemory(ctx, cfg, t, n)
		if err != nil {
			cfg.Log.Warn("idle memory failed", "proxy", t.name, "n", n, "err", err)
			for i := range rows {
				rows[i].Fail(t.name, err)
			}
			continue
		}
		rows[0].Set(t.name, im.rss)
		cfg.Log.Info("measured", "scenario", scen, "proxy", t.name, "rss_kb_per_conn", im.rss,
			"fresh_p50", im.fresh[0], "fresh_p99", im.fresh[1], "quiet_p50", im.quiet[0], "quiet_p99", im.quiet[1], "cpu_ms_per_s", im.cpu)
		rows[5].Set(t.name, us(im.fresh[0]))
		rows[6].Set(t.name, us(im.fresh[1]))
		rows[7].Set(t.name, us(im.quiet[0]))
		rows[8].Set(t.name, us(im.quiet[1]))
		rows[9].Set(t.name, im.cpu)
		if t.name == Elbguard {
			// The reference the parking target is set against: the same
			// proxy, the same run, its sessions never parked.
			if ref, err := unparkedLatency(ctx, cfg, n, backendAddr); err != nil {
				rows[10].Fail(t.name, err)
				rows[11].Fail(t.name, err)
			} else {
				rows[10].Set(t.name, us(ref[0]))
				rows[11].Set(t.name, us(ref[1]))
			}
		}
		for i, d := range []skmem.Snapshot{im.idle, im.echoed} {
			per := func(v int64) float64 { return float64(v) / float64(im.conns) }
			cfg.Log.Info("measured", "scenario", rows[1+2*i].Scenario, "proxy", t.name,
				"skmem_held_bytes_per_conn", per(d.Mem.Held()), "pipe_queued_bytes_per_conn", per(d.PipeQueued),
				"sockets_per_conn", per(int64(d.Sockets+d.SocketsV6)), "epoll_entries_per_conn", per(int64(d.EpollEntries)),
				"pipes", d.Pipes, "skmem_sum", d.Mem)
			rows[1+2*i].Set(t.name, per(d.Buffers()))
			if sizeErr != nil {
				rows[2+2*i].Fail(t.name, sizeErr)
			} else {
				rows[2+2*i].Set(t.name, per(d.Objects(sizes))/1024)
			}
		}
	}
	return rows
}

// unparkedLatency runs the idle measure on an elbguard-proxy with
// park_after: 0 (goroutines wait on every session, as before parking) and
// returns its first-message-after-quiet p50 and p99.
func unparkedLatency(ctx context.Context, cfg ProxyConfig, n int, backendAddr string) ([2]time.Duration, error) {
	t, err := startTargetAs(ctx, cfg.Root, cfg.Dir, Elbguard, Elbguard+"-unparked", cfg.ProxyBin, backendAddr, "0")
	if err != nil {
		return [2]time.Duration{}, err
	}
	defer t.proc.Stop()
	im, err := idleMemory(ctx, cfg, t, n)
	if err != nil {
		return [2]time.Duration{}, err
	}
	cfg.Log.Info("measured", "scenario", idleScenario(n), "proxy", Elbguard+" park_after=0",
		"rss_kb_per_conn", im.rss, "quiet_p50", im.quiet[0], "quiet_p99", im.quiet[1], "cpu_ms_per_s", im.cpu)
	return im.quiet, nil
}

// idleEcho is the message each idle WebSocket echoes once for the second
// kernel snapshot: larger than elbguard-proxy's 64 KiB copy buffer, so its
// pump moves part of it with splice(2) through a pipe.
const idleEcho = 64 << 10

// idleMeasure is what n idle WebSockets added to one proxy.
type idleMeasure struct {
	conns int
	rss   float64 // KB per connection
	// idle and echoed are the growth of what the proxy holds in the kernel
	// (all connections): once they are open, and again after each has
	// echoed one idleEcho message.
	idle, echoed skmem.Snapshot
	// fresh and quiet are the p50 and p99 of a 64 B message's round trip
	// right after the connections opened, and after IdleQuiet of silence.
	fresh, quiet [2]time.Duration
	cpu          float64 // the proxy's CPU time while quiet, ms per second
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// quantiles are the p50 and p99 of ds.
func quantiles(ds []time.Duration) [2]time.Duration {
	if len(ds) == 0 {
		return [2]time.Duration{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return [2]time.Duration{s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]}
}

func idleMemory(ctx context.Context, cfg ProxyConfig, t *target, n int) (idleMeasure, error) {
	var im idleMeasure
	pid := t.proc.Pid()
	before, _, err := procmem.TreeRSS("/proc", pid)
	if err != nil {
		return im, err
	}
	kBefore, err := kernelSnapshot(ctx, pid)
	if err != nil {
		return im, err
	}
	d := &loadgen.Dialer{Addr: t.app, Proxy: cfg.ProxyVersion, SpreadSources: true}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	idle, err := loadgen.HoldIdle(octx, d, "ws://app.example.com"+backend.PathEcho, n, 32)
	if err != nil {
		return im, err
	}
	defer idle.Close()
	im.conns = idle.Len()
	if im.conns == 0 {
		return im, fmt.Errorf("idle memory of %s: no connection held", t.name)
	}
	fresh, err := idle.EchoTimed(octx, make([]byte, 64))
	if err != nil {
		return im, fmt.Errorf("idle memory of %s: %w", t.name, err)
	}
	im.fresh = quantiles(fresh)
	cpu0, err := procmem.CPUTime("/proc", pid)
	if err != nil {
		return im, err
	}
	time.Sleep(cfg.IdleQuiet) // settle: buffers allocated, nothing in flight; elbguard-proxy parks
	cpu1, err := procmem.CPUTime("/proc", pid)
	if err != nil {
		return im, err
	}
	im.cpu = float64(cpu1-cpu0) / float64(time.Millisecond) / cfg.IdleQuiet.Seconds()
	after, procs, err := procmem.TreeRSS("/proc", pid)
	if err != nil {
		return im, err
	}
	kIdle, err := kernelSnapshot(ctx, pid)
	if err != nil {
		return im, err
	}
	quiet, err := idle.EchoTimed(octx, make([]byte, 64))
	if err != nil {
		return im, fmt.Errorf("idle memory of %s: %w", t.name, err)
	}
	im.quiet = quantiles(quiet)
	if err := idle.Echo(octx, make([]byte, idleEcho)); err != nil {
		return im, fmt.Errorf("idle memory of %s: %w", t.name, err)
	}
	time.Sleep(time.Second)
	kEchoed, err := kernelSnapshot(ctx, pid)
	if err != nil {
		return im, err
	}
	cfg.Log.Debug("idle memory", "proxy", t.name, "rss_before", before, "rss_after", after, "processes", procs,
		"kernel_before", kBefore, "kernel_idle", kIdle, "kernel_echoed", kEchoed)
	im.rss = float64(after-before) / 1024 / float64(im.conns)
	im.idle, im.echoed = kIdle.Sub(kBefore), kEchoed.Sub(kBefore)
	return im, nil
}

// kernelSnapshot reads what the proxy's process tree holds in the kernel.
func kernelSnapshot(ctx context.Context, pid int) (skmem.Snapshot, error) {
	pids, err := procmem.Tree("/proc", pid)
	if err != nil {
		return skmem.Snapshot{}, err
	}
	snap, err := skmem.Take(ctx, "", "/proc", pids)
	if err != nil {
		return snap, fmt.Errorf("kernel memory of pid %d: %w", pid, err)
	}
	return snap, nil
}

// writeFile writes data under dir; a helper for the result files.
func writeFile(dir, name string, data []byte) error {
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// logSizes logs the size of each log file a proxy wrote, as evidence that
// its access log was on (HAProxy's goes to its stdout log).
func logSizes(log *slog.Logger, name, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			log.Info("proxy log", "proxy", name, "file", filepath.Base(f), "bytes", fi.Size())
		}
	}
}
