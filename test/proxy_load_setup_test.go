//go:build integration

package test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	proxyproto "github.com/pires/go-proxyproto"

	"github.com/elbguard/elbguard/benchmark/backend"
	"github.com/elbguard/elbguard/benchmark/loadgen"
	"github.com/elbguard/elbguard/test/harness"
)

// Helpers of the load and fault tests (proxy_load_test.go,
// proxy_fault_test.go): a backend in its own process that can be killed and
// restarted on the same port, raw keep-alive clients that start with a PROXY
// v1 header, and /metrics readers.

// pxSoak reports whether ELBGUARD_SOAK asks for the long variants: more
// connections, longer runs, longer idle holds, more reload and kill cycles.
func pxSoak() bool { return os.Getenv("ELBGUARD_SOAK") != "" }

// pxScale returns normal, or soak when ELBGUARD_SOAK is set.
func pxScale[T any](normal, soak T) T {
	if pxSoak() {
		return soak
	}
	return normal
}

// pxNeedFiles makes sure this process may open n files, raising the soft
// RLIMIT_NOFILE up to the hard limit if needed. When the hard limit is too
// low the test fails under CI=true and is skipped otherwise: it never passes
// without having run.
func pxNeedFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max >= n {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("raise the soft RLIMIT_NOFILE to the hard limit %d: %v", lim.Max, err)
		}
		return
	}
	reason := fmt.Sprintf("this test needs %d open files but the hard RLIMIT_NOFILE is %d "+
		"(raise it, e.g. `ulimit -Hn 65536` as root, LimitNOFILE= in systemd, or --ulimit nofile= in Docker)", n, lim.Max)
	if harness.InCI() {
		t.Fatalf("CI=true: %s", reason)
	}
	t.Skip(reason)
}

// pxBackend is the benchmark backend (benchmark/backend) run as
// `elbguard-benchmark backend` in its own process, so that its sockets do not
// count against the test's open files and it can be killed.
type pxBackend struct {
	Addr string // host:port
	URL  string // http://host:port
	bin  string
	Proc *harness.Process
}

// pxStartBackend starts the backend on a free loopback port.
func pxStartBackend(t *testing.T) *pxBackend {
	t.Helper()
	addr := harness.FreeAddr(t)
	b := &pxBackend{Addr: addr, URL: "http://" + addr, bin: harness.Build(t, "./benchmark/cmd/elbguard-benchmark")}
	b.start(t)
	return b
}

// start (re)starts the backend on its address and waits until it accepts.
func (b *pxBackend) start(t *testing.T) {
	t.Helper()
	b.Proc = harness.Start(t, b.bin, []string{"backend", "--listen", b.Addr})
	harness.WaitTCP(t, b.Addr, 10*time.Second)
}

// kill ends the backend with SIGKILL: the kernel closes its sockets, no
// response is finished.
func (b *pxBackend) kill(t *testing.T) {
	t.Helper()
	if err := b.Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Proc.Wait(10 * time.Second) // "signal: killed" is the expected exit error
	if !b.Proc.Exited() {
		t.Fatalf("the backend still runs 10s after SIGKILL")
	}
}

// pxLoadSources are the loopback source addresses of the load clients:
// each has its own range of ephemeral ports.
func pxLoadSources(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.1.%d", 10+i)
	}
	return out
}

// pxGet is the keep-alive request of the load tests (the backend's 128-byte
// body at /).
func pxGet(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: app.example\r\nUser-Agent: elbguard-load-test\r\n\r\n")
}

// pxGetClose is pxGet on a connection the client closes after it.
func pxGetClose(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: app.example\r\nUser-Agent: elbguard-load-test\r\nConnection: close\r\n\r\n")
}

// pxConn is one client connection to the proxy, as a load balancer opens
// it: a PROXY v1 header, then keep-alive HTTP/1.1 requests.
type pxConn struct {
	c  net.Conn
	br *bufio.Reader
}

// pxDial connects from src to addr and sends a PROXY v1 header claiming
// client (port 40000).
func pxDial(ctx context.Context, src, addr string, client netip.Addr) (*pxConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", addr, src, err)
	}
	h := proxyproto.HeaderProxyFromAddrs(1, net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 40000)), c.RemoteAddr())
	if _, err := h.WriteTo(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("write PROXY header to %s: %w", addr, err)
	}
	return &pxConn{c: c, br: bufio.NewReaderSize(c, 1024)}, nil
}

func (c *pxConn) Close() { _ = c.c.Close() }

// pxResult is one request: when it was fully written, when its response was
// complete (head and the whole body), and what came back.
type pxResult struct {
	start, wrote, done time.Time
	status             int
	keep               bool
	newConn            bool // the first request of its connection
	err                error
}

func (r pxResult) latency() time.Duration { return r.done.Sub(r.start) }

// hung reports whether the request ran into the client's own deadline.
func (r pxResult) hung() bool {
	var ne net.Error
	return errors.As(r.err, &ne) && ne.Timeout()
}

// do sends req and reads the whole response within timeout.
func (c *pxConn) do(req []byte, timeout time.Duration) pxResult {
	r := pxResult{start: time.Now()}
	_ = c.c.SetDeadline(r.start.Add(timeout))
	if _, err := c.c.Write(req); err != nil {
		r.err = fmt.Errorf("write request: %w", err)
		r.done = time.Now()
		return r
	}
	r.wrote = time.Now()
	r.status, r.keep, r.err = loadgen.ReadResponse(c.br)
	r.done = time.Now()
	if r.err == nil && r.status == 0 {
		r.err = errors.New("no status")
	}
	return r
}

// pxLoad drives keep-alive request loops against the proxy and keeps every
// result.
type pxLoad struct {
	Addr    string   // the proxy's app listener
	Sources []string // loopback source addresses, used round robin
	Workers int
	// Request returns what worker w sends next.
	Request func(w int) []byte
	// Pace, when set, is the interval between the starts of a worker's
	// requests (an open-ish loop that keeps the offered load constant).
	Pace time.Duration
	// Count, when set, stops each worker after that many requests.
	Count int
	// Timeout bounds each request; running into it counts as a hang.
	Timeout time.Duration
}

// pxLoadRun is a running pxLoad.
type pxLoadRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    []pxResult
	dials  []pxResult // failed connection attempts (err set)
	first  sync.WaitGroup
}

// Start runs the workers until ctx ends, Stop is called or Count is reached.
func (l pxLoad) Start(ctx context.Context) *pxLoadRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &pxLoadRun{cancel: cancel}
	timeout := cmp.Or(l.Timeout, 10*time.Second)
	run.first.Add(l.Workers)
	for w := range l.Workers {
		run.wg.Go(func() {
			var (
				c     *pxConn
				res   []pxResult
				dials []pxResult
				first = true
			)
			defer func() {
				if c != nil {
					c.Close()
				}
				if first {
					run.first.Done()
				}
				run.mu.Lock()
				run.res = append(run.res, res...)
				run.dials = append(run.dials, dials...)
				run.mu.Unlock()
			}()
			client := netip.AddrFrom4([4]byte{198, 51, 100, byte(w)})
			for n := 0; ctx.Err() == nil && (l.Count == 0 || n < l.Count); n++ {
				start := time.Now()
				fresh := false
				if c == nil {
					var err error
					c, err = pxDial(ctx, l.Sources[w%len(l.Sources)], l.Addr, client)
					if err != nil {
						if ctx.Err() == nil {
							dials = append(dials, pxResult{start: start, done: time.Now(), err: err})
						}
						pxSleep(ctx, 20*time.Millisecond)
						continue
					}
					fresh = true
				}
				r := c.do(l.Request(w), timeout)
				r.newConn = fresh
				res = append(res, r)
				if first && r.err == nil {
					first = false
					run.first.Done()
				}
				if r.err != nil || !r.keep {
					c.Close()
					c = nil
				}
				if l.Pace > 0 {
					pxSleep(ctx, time.Until(start.Add(l.Pace)))
				}
			}
		})
	}
	return run
}

// WaitFirst waits until every worker has had one response (or gave up).
func (r *pxLoadRun) WaitFirst() { r.first.Wait() }

// Stop ends the workers and returns every request result, sorted by start,
// and the failed connection attempts.
func (r *pxLoadRun) Stop() (res, dials []pxResult) {
	r.cancel()
	return r.Wait()
}

// Wait waits for the workers to end by themselves (Count) and returns what
// Stop returns.
func (r *pxLoadRun) Wait() (res, dials []pxResult) {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.SortFunc(r.res, func(a, b pxResult) int { return a.start.Compare(b.start) })
	return r.res, r.dials
}

func pxSleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// pxTally counts results: completed responses by status and failures,
// keeping the first few errors for the report.
type pxTally struct {
	n      int
	status map[int]int
	failed int
	hung   int
	errs   []string
}

func pxCount(res []pxResult) pxTally {
	t := pxTally{status: map[int]int{}}
	for _, r := range res {
		t.n++
		if r.err != nil {
			t.failed++
			if r.hung() {
				t.hung++
			}
			if len(t.errs) < 5 {
				t.errs = append(t.errs, r.err.Error())
			}
			continue
		}
		t.status[r.status]++
	}
	return t
}

func (t pxTally) String() string {
	return fmt.Sprintf("%d requests, statuses %v, %d failed (%d hung) %v", t.n, t.status, t.failed, t.hung, t.errs)
}

// pxP99 returns the 99th percentile latency of the successful results.
func pxP99(res []pxResult) time.Duration { return pxPercentile(res, 0.99) }

// pxPercentile returns the latency at quantile q (nearest rank) of the
// successful results.
func pxPercentile(res []pxResult, q float64) time.Duration {
	var lat []time.Duration
	for _, r := range res {
		if r.err == nil {
			lat = append(lat, r.latency())
		}
	}
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(q*float64(len(lat))+0.999999) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// pxMetrics returns the proxy's /metrics text.
func pxMetrics(t *testing.T, admin string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// pxMetricSum adds up the samples whose series starts with prefix, e.g.
// `elbguard_proxy_header_errors_total{listener="127.0.0.1:81"` for every
// reason of one listener.
func pxMetricSum(text, prefix string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// pxWaitMetric polls /metrics until the sum of prefix satisfies ok, and
// returns it; after timeout it fails the test.
func pxWaitMetric(t *testing.T, admin, prefix string, timeout time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		text := pxMetrics(t, admin)
		v := pxMetricSum(text, prefix)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s = %g:\n%s", timeout, prefix, v, pxGrepLines(text, "elbguard_proxy_"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pxWS opens a WebSocket through the proxy at addr (PROXY v1 header from
// client) to the backend's echo path and checks one echo.
func pxWS(ctx context.Context, addr string, client netip.Addr) (*websocket.Conn, error) {
	d := &loadgen.Dialer{Addr: addr, Proxy: 1, Client: client}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, resp, err := websocket.Dial(ctx, "ws://app.example"+backend.PathEcho, &websocket.DialOptions{HTTPClient: hc}) //nolint:bodyclose // the library owns it on success
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		return nil, fmt.Errorf("websocket dial via %s: %w", addr, err)
	}
	if err := pxWSRoundTrip(ctx, c, "hello"); err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	return c, nil
}

// pxWSRoundTrip sends msg and waits for its echo.
func pxWSRoundTrip(ctx context.Context, c *websocket.Conn, msg string) error {
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("websocket read: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("websocket echo: got %q; want %q", got, msg)
	}
	return nil
}

// pxWSGauge is the active-WebSocket gauge of one listener.
func pxWSGauge(listener string) string {
	return `elbguard_proxy_websockets_active{listener="` + listener + `"}`
}
