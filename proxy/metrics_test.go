package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingApp is an app that answers 200 "ok" to every request and counts
// every byte the proxy sent it.
func countingApp(t *testing.T, read *atomic.Int64) string {
	t.Helper()
	return "http://" + serveConns(t, func(c net.Conn) {
		br := bufio.NewReader(countReader{c, read})
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// scrape GETs /metrics from the admin listener, as Prometheus does.
func scrape(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// sample is the value of the sample line name{labels} in a scrape, or -1.
func sample(text, name, labels string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestMetricsScrape: after traffic, a scrape holds what a Prometheus user
// expects: request and upstream time histograms in seconds, build_info,
// each refusal counted once, and the request bytes the app received.
func TestMetricsScrape(t *testing.T) {
	var appRead atomic.Int64
	app := countingApp(t, &appRead)
	// Listeners are labelled by their configured address: two on fixed
	// loopback addresses of their own.
	open, required := freeAddr(t, "127.0.0.21"), freeAddr(t, "127.0.0.22")
	cfg := Config{Listeners: []ListenerConfig{
		{Listen: open, Mode: ModeHTTP, ProxyProtocol: ProxyOptional, Upstream: app},
		{Listen: required, Mode: ModeHTTP, ProxyProtocol: ProxyRequired, Upstream: app},
	}}
	s, _ := startServer(t, cfg)

	// Three GETs (the fast path) and a POST with a body (net/http's parser).
	for i := range 3 {
		resp, body, err := roundTrip(t, open, get("/app?i="+strconv.Itoa(i), "x"))
		if err != nil || resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d: %v %v %q", i, resp, err, body)
		}
	}
	post := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + strings.Repeat("b", 100)
	if resp, _, err := roundTrip(t, open, []byte(post)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	// No PROXY header on a listener that requires one: one refusal.
	if resp, _, err := roundTrip(t, required, get("/app", "x")); err != nil || resp.StatusCode != 400 {
		t.Fatalf("no header: %v %v", resp, err)
	}

	lo, lr := `{listener="`+open+`"}`, `{listener="`+required+`"}`
	tests := []struct {
		name, labels string
		want         func() float64
	}{
		{"elbguard_proxy_request_duration_seconds_count", lo, fixed(4)},
		{"elbguard_proxy_upstream_response_time_seconds_count", lo, fixed(4)},
		{"elbguard_proxy_request_duration_seconds_count", lr, fixed(1)}, // the 400 took time too
		{"elbguard_proxy_upstream_response_time_seconds_count", lr, fixed(0)},
		{"elbguard_proxy_header_errors_total", `{listener="` + required + `",reason="missing"}`, fixed(1)},
		{"elbguard_proxy_rejected_total", `{listener="` + required + `",reason="missing_proxy_header"}`, fixed(-1)}, // counted once, as a header error
		{"elbguard_proxy_bytes_total", `{direction="to_upstream",listener="` + open + `"}`, func() float64 { return float64(appRead.Load()) }},
		{"elbguard_proxy_bytes_total", `{direction="to_client",listener="` + open + `"}`, fixed(8)},
	}
	// A request is observed after its answer is written: the client may
	// read an answer before its figures are in. Scrape until every figure
	// is (or 5s have passed, and the checks below say what is missing).
	text := scrape(t, s)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		all := true
		for _, tt := range tests {
			all = all && sample(text, tt.name, tt.labels) == tt.want()
		}
		if all {
			break
		}
		text = scrape(t, s)
	}
	for _, tt := range tests {
		if got, want := sample(text, tt.name, tt.labels), tt.want(); got != want {
			t.Errorf("%s%s = %v; want %v (-1: absent)", tt.name, tt.labels, got, want)
		}
	}
	if appRead.Load() <= 100 {
		t.Errorf("the app read %d bytes; want the heads and the 100-byte body", appRead.Load())
	}
	// Seconds, not milliseconds: a loopback request takes well under 1s, so
	// every observation is in the le="1" bucket, and the sum is small.
	if got := sample(text, "elbguard_proxy_request_duration_seconds_bucket", `{listener="`+open+`",le="1"}`); got != 4 {
		t.Errorf(`request_duration_seconds_bucket{le="1"} = %v; want 4`, got)
	}
	if sum := sample(text, "elbguard_proxy_upstream_response_time_seconds_sum", lo); sum <= 0 || sum > 4 {
		t.Errorf("upstream_response_time_seconds_sum = %v; want seconds (0 < sum < 4)", sum)
	}
	b := CurrentBuild()
	info := `{commit="` + b.Commit + `",goversion="` + b.GoVersion + `",version="` + b.Version + `"}`
	if got := sample(text, "elbguard_proxy_build_info", info); got != 1 {
		t.Errorf("elbguard_proxy_build_info%s = %v; want 1\n%s", info, got, grepLines(text, "build_info"))
	}
	for _, help := range []string{"# TYPE elbguard_proxy_request_duration_seconds histogram", "# TYPE elbguard_proxy_upstream_response_time_seconds histogram", "# TYPE elbguard_proxy_build_info gauge"} {
		if !strings.Contains(text, help) {
			t.Errorf("scrape lacks %q", help)
		}
	}
}

// TestAccessLogTimes: the combined line of a proxied request ends with
// $request_time $upstream_response_time, and of a health check with "-".
func TestAccessLogTimes(t *testing.T) {
	var appRead atomic.Int64
	app := countingApp(t, &appRead)
	path := t.TempDir() + "/access.log"
	cfg := appConfig(app, func(l *ListenerConfig) { l.ProxyProtocol = ProxyOptional })
	cfg.AccessLog = AccessLogConfig{Path: path, Format: LogFormatCombined, FlushInterval: 10 * time.Millisecond}
	s, addrs := startServer(t, cfg)
	for _, p := range []string{"/app", "/healthz"} {
		if resp, _, err := roundTrip(t, addrs[0], get(p, "x")); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", p, resp, err)
		}
	}
	if err := s.ReopenAccessLog(); err != nil { // flushes
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("access log: %q; want 2 lines", lines)
	}
	proxied := regexp.MustCompile(`"GET /app HTTP/1.1" 200 2 "-" "-" \d+\.\d{3} \d+\.\d{3}$`)
	health := regexp.MustCompile(`"GET /healthz HTTP/1.1" 200 \d+ "-" "-" \d+\.\d{3} -$`)
	// The two connections log in either order: each line is written once
	// its answer has left, which may be after the client has read it.
	if !(proxied.MatchString(lines[0]) && health.MatchString(lines[1])) && !(proxied.MatchString(lines[1]) && health.MatchString(lines[0])) {
		t.Errorf("access log:\n%s\n%s\nwant ... $request_time $upstream_response_time (- for the health check)", lines[0], lines[1])
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := readFileNoFail(path)
		if err == nil && strings.Count(b, "\n") >= 2 || time.Now().After(deadline) {
			return strings.Split(strings.TrimSpace(b), "\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// freeAddr is a free port on the loopback address ip.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readFileNoFail(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the test's own file
	return string(b), err
}

// fixed is a wanted figure that does not change while the test waits.
func fixed(v float64) func() float64 { return func() float64 { return v } }
