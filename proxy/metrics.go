package proxy

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reasons counted in elbguard_proxy_header_errors_total.
const (
	reasonMissing     = "missing"          // no header on a required listener
	reasonMalformed   = "malformed"        // a header that does not parse (bad syntax, wrong v2 length)
	reasonOversized   = "oversized"        // v1 line longer than 107 bytes
	reasonTimeout     = "timeout"          // the header did not finish within header_timeout
	reasonTruncated   = "truncated"        // the connection closed inside the header
	reasonUntrusted   = "untrusted_source" // header or connection from outside trusted_cidrs
	reasonUnsupported = "unsupported"      // UDP or UNIX address families on a TCP listener
)

// Metrics holds the Prometheus collectors of one proxy process.
type Metrics struct {
	reg *prometheus.Registry

	connections    *prometheus.CounterVec
	activeConns    *prometheus.GaugeVec
	requests       *prometheus.CounterVec
	activeTunnels  *prometheus.GaugeVec
	parked         *prometheus.GaugeVec
	headerErrors   *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	requestTime    *prometheus.HistogramVec
	upstreamTime   *prometheus.HistogramVec

	mu    sync.Mutex
	lstat map[string]*listenerMetrics
}

// NewMetrics registers the proxy's collectors (plus Go and process
// collectors) in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_connections_total", Help: "Client connections accepted, by listener.",
		}, []string{"listener"}),
		activeConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elbguard_proxy_connections_active", Help: "Open client connections, by listener.",
		}, []string{"listener"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_requests_total", Help: "HTTP requests answered, by listener and status code.",
		}, []string{"listener", "code"}),
		activeTunnels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elbguard_proxy_websockets_active", Help: "Open WebSocket (upgraded) and TCP-mode sessions, by listener.",
		}, []string{"listener"}),
		parked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elbguard_proxy_parked_sockets", Help: "Sockets of idle sessions waiting in the proxy's readiness set with no goroutine or buffer (park.go), by listener.",
		}, []string{"listener"}),
		headerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_header_errors_total", Help: "PROXY header problems, by listener and reason.",
		}, []string{"listener", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_rejected_total", Help: "Requests or connections refused before reaching the app, by listener and reason.",
		}, []string{"listener", "reason"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_upstream_errors_total", Help: "Upstream failures, by listener and reason (dial, timeout, other).",
		}, []string{"listener", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_bytes_total",
			Help: "Bytes relayed, by listener and direction: to_upstream, the requests as sent to the app (heads and bodies) and session bytes; to_client, response bodies (nginx's $body_bytes_sent) and session bytes.",
		}, []string{"listener", "direction"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "elbguard_proxy_request_duration_seconds",
			Help:    "Time from a request's head to its last byte sent (nginx's $request_time), by listener; WebSocket and tcp sessions excluded.",
			Buckets: latencyBuckets,
		}, []string{"listener"}),
		upstreamTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "elbguard_proxy_upstream_response_time_seconds",
			Help:    "Time spent with the app for one request, from taking a connection to the response's last byte (nginx's $upstream_response_time), by listener.",
			Buckets: latencyBuckets,
		}, []string{"listener"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elbguard_proxy_reloads_total", Help: "Configuration reloads, by result.",
		}, []string{"result"}),
		lstat: make(map[string]*listenerMetrics),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elbguard_proxy_build_info", Help: "Always 1, labelled with the build's version, VCS commit and Go version.",
	}, []string{"version", "commit", "goversion"})
	b := CurrentBuild()
	info.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	m.reg.MustRegister(m.connections, m.activeConns, m.requests, m.activeTunnels, m.parked, m.headerErrors,
		m.rejected, m.upstreamErrors, m.bytes, m.reloads, m.requestTime, m.upstreamTime, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// latencyBuckets are the request and upstream time buckets, in seconds:
// from the half-millisecond a local app answers in to upstream_timeout's
// default (60s).
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Registry is the registry served on /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// listener returns the pre-resolved collectors of one listener, so the hot
// path never hashes label values.
func (m *Metrics) listener(name string) *listenerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lm, ok := m.lstat[name]; ok {
		return lm
	}
	lm := &listenerMetrics{
		m:           m,
		name:        name,
		connections: m.connections.WithLabelValues(name),
		activeConns: m.activeConns.WithLabelValues(name),
		tunnels:     m.activeTunnels.WithLabelValues(name),
		parked:      m.parked.WithLabelValues(name),
		toClient:    m.bytes.WithLabelValues(name, "to_client"),
		toUpstream:  m.bytes.WithLabelValues(name, "to_upstream"),
		requestTime: m.requestTime.WithLabelValues(name),
		upTime:      m.upstreamTime.WithLabelValues(name),
	}
	m.lstat[name] = lm
	return lm
}

// listenerMetrics are the collectors of one listener.
type listenerMetrics struct {
	m           *Metrics
	name        string
	connections prometheus.Counter
	activeConns prometheus.Gauge
	tunnels     prometheus.Gauge
	parked      prometheus.Gauge
	toClient    prometheus.Counter
	toUpstream  prometheus.Counter
	requestTime prometheus.Observer
	upTime      prometheus.Observer
	codes       [600]atomic.Pointer[prometheus.Counter]
}

func (lm *listenerMetrics) request(code int) {
	if code < 100 || code >= len(lm.codes) {
		code = 0
	}
	p := lm.codes[code].Load()
	if p == nil {
		c := lm.m.requests.WithLabelValues(lm.name, strconv.Itoa(code))
		lm.codes[code].Store(&c)
		p = &c
	}
	(*p).Inc()
}

func (lm *listenerMetrics) headerError(reason string) {
	lm.m.headerErrors.WithLabelValues(lm.name, reason).Inc()
}

func (lm *listenerMetrics) reject(reason string) {
	lm.m.rejected.WithLabelValues(lm.name, reason).Inc()
}

func (lm *listenerMetrics) upstreamError(reason string) {
	lm.m.upstreamErrors.WithLabelValues(lm.name, reason).Inc()
}
