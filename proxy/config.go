package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Listener modes.
const (
	ModeRedirect = "redirect" // answer 301 to https://host/uri
	ModeHTTP     = "http"     // reverse proxy HTTP and WebSocket to Upstream
	ModeTCP      = "tcp"      // forward raw TCP to Upstream
)

// PROXY protocol policies.
const (
	ProxyRequired = "required" // a header is mandatory (only health_path is served without one)
	ProxyOptional = "optional" // a header is used when present
	ProxyOff      = "off"      // no header is expected; a header is treated as payload
)

// Access log formats.
const (
	// LogFormatCombined is nginx's combined format with the PROXY client
	// address, then $request_time $upstream_response_time (accesslog.go).
	LogFormatCombined = "combined"
	LogFormatJSON     = "json" // one JSON object per line
	// logFormatELB is the former name of combined, accepted with a warning:
	// it is not AWS's ELB access log format.
	logFormatELB = "elb"
)

// Defaults applied by Config.withDefaults for zero values.
const (
	DefaultAdmin           = "127.0.0.1:9901"
	DefaultHealthPath      = "/healthz"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultHeaderTimeout   = 5 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultDrainIdleGrace  = 5 * time.Second
	DefaultParkAfter       = 100 * time.Millisecond
	DefaultDialTimeout     = 3 * time.Second
	DefaultUpstreamTimeout = 60 * time.Second
	DefaultBodyTimeout     = 60 * time.Second
	DefaultSendTimeout     = 60 * time.Second
	DefaultMaxHeaderBytes  = 32 << 10
	DefaultForwardedProto  = "https"
)

// ErrConfig is wrapped by every configuration validation error.
var ErrConfig = errors.New("proxy: invalid config")

// Config is the whole elbguard-proxy configuration. Its zero value, once
// defaults are applied, is safe; Default returns the seed's layout.
type Config struct {
	// Admin is the address of the admin listener (/healthz, /metrics,
	// /debug/pprof when AdminPprof). Empty means 127.0.0.1:9901; "off"
	// disables it.
	Admin string `yaml:"admin"`
	// AdminPprof exposes net/http/pprof on the admin listener. Default false.
	AdminPprof bool `yaml:"admin_pprof"`
	// AccessLog configures the access log. Empty path disables it.
	AccessLog AccessLogConfig `yaml:"access_log"`
	// HealthPath answers 200 on every HTTP listener, with or without a PROXY
	// header, and 503 while shutting down. Default "/healthz".
	HealthPath string `yaml:"health_path"`
	// ShutdownTimeout bounds the drain of in-flight requests and sessions on
	// SIGTERM/SIGINT. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Listeners are the front listeners; at least one is required.
	Listeners []ListenerConfig `yaml:"listeners"`
	// Procs is how many cores run proxy code at once (Go's GOMAXPROCS).
	// Default 0: Go's own choice, every core the process may use (CPU
	// affinity and the cgroup CPU limit). Set it lower to leave cores to the
	// app on the same instance. The GOMAXPROCS environment variable, when
	// set, wins.
	Procs int `yaml:"procs"`

	// warnings are what Normalize accepted but the operator should change
	// (Warnings).
	warnings []string
}

// Warnings are the deprecations Normalize accepted (logged at start-up,
// printed by check, as nginx's [warn] lines).
func (c Config) Warnings() []string { return c.warnings }

// AccessLogConfig configures the access log.
type AccessLogConfig struct {
	// Path of the log file; "-" is stdout; empty disables the log.
	Path string `yaml:"path"`
	// Format is "combined" (default: nginx's combined format, then
	// $request_time $upstream_response_time) or "json". "elb", its former
	// name, is accepted with a warning.
	Format string `yaml:"format"`
	// FlushInterval is how often buffered lines are written. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// ListenerConfig is one front listener.
type ListenerConfig struct {
	// Listen is the address, e.g. ":80" or "127.0.0.1:8081". Required.
	Listen string `yaml:"listen"`
	// Mode is "redirect", "http" or "tcp". Required.
	Mode string `yaml:"mode"`
	// ProxyProtocol is "required" (default), "optional" or "off".
	ProxyProtocol string `yaml:"proxy_protocol"`
	// TrustedCIDRs lists the only sources allowed to send a PROXY header: a
	// header from another source closes the connection, and in "required"
	// mode any connection from another source is refused. Default (empty):
	// DefaultTrustedCIDRs, loopback and the private ranges a load
	// balancer's nodes use (10/8, 172.16/12, 192.168/16, 100.64/10).
	// Trusting every source must be explicit: [any].
	TrustedCIDRs []string `yaml:"trusted_cidrs"`
	// Upstream is the backend: a URL http://host:port[/base] in mode http,
	// host:port in mode tcp.
	Upstream string `yaml:"upstream"`
	// ForwardedProto is sent as X-Forwarded-Proto in mode http. Default
	// "https" since TLS ended at the load balancer.
	ForwardedProto string `yaml:"forwarded_proto"`
	// HeaderTimeout bounds reading the PROXY header and the HTTP request
	// headers. Default 5s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout closes idle client keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// DrainIdleGrace is how long a draining process (shutdown or hand-over)
	// keeps a keep-alive connection that is idle between requests: its
	// client may be writing the next request as the drain begins, which
	// is answered with Connection: close; a connection quiet this long is
	// closed (HAProxy's idle-close-on-response). Default 5s, at most half
	// of shutdown_timeout.
	DrainIdleGrace time.Duration `yaml:"drain_idle_grace"`
	// MaxHeaderBytes bounds the request header size. Default 32 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// RedirectHost replaces the Host header in redirects (nginx's
	// $server_name). Default empty: the request's host without its port.
	RedirectHost string `yaml:"redirect_host"`
	// HSTS, when set, is sent as Strict-Transport-Security on redirects and
	// proxied responses, e.g. "max-age=31536000".
	HSTS string `yaml:"hsts"`
	// DialTimeout bounds connecting to the upstream. Default 3s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// UpstreamTimeout bounds waiting for the upstream's response headers
	// (504 after it). Default 60s.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	// BodyTimeout bounds the wait between two reads of a request body
	// (nginx's client_body_timeout): a client that sends a head and then
	// trickles or stops its body is answered 408 and both its connection
	// and the app's are closed. Default 60s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// SendTimeout bounds the wait between two writes to the client
	// (nginx's send_timeout), WebSockets included: a client that stops
	// reading has both its connection and the app's closed. Default 60s.
	// It applies to connections accepted after a reload.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// TunnelIdleTimeout closes WebSocket and TCP sessions with no traffic in
	// either direction for this long. Default 0: no proxy-side cut, the load
	// balancer's idle timeout governs. Setting it copies with deadlines (a 32 KiB buffer per direction while a read waits).
	TunnelIdleTimeout time.Duration `yaml:"tunnel_idle_timeout"`
	// ParkAfter is how long a copy goroutine of a WebSocket or tcp session,
	// or a keep-alive connection's goroutine between requests, waits for
	// more before the connection parks: the goroutine and buffers are
	// released and the socket waits in the proxy's own readiness set until
	// it is readable (park.go). A new session starts parked, and a parked
	// session relays a message that fits one read without leaving the
	// parker; a transfer that needs to wait (bulk, a slow client), or a
	// message within park_after of the one before (a busy session), takes
	// goroutines, for park_after after its last byte. Default 100ms
	// (Go never frees a goroutine's record: a longer wait, under a burst of
	// new connections, leaves one behind per connection); 0 disables.
	ParkAfter *time.Duration `yaml:"park_after"`
	// UnderscoresInHeaders lets request headers whose names contain '_'
	// reach the app in mode http. Default false: they are dropped, as
	// nginx's underscores_in_headers off does, because CGI-style apps read
	// X_Forwarded_For as X-Forwarded-For. Spellings of the forwarding and
	// client-address headers are dropped either way.
	UnderscoresInHeaders bool `yaml:"underscores_in_headers"`
	// SendProxy re-sends the client address upstream in mode tcp: "v1",
	// "v2" or empty (default, none).
	SendProxy string `yaml:"send_proxy"`
	// DropRequestHeaders names request headers of the operator's own that
	// never reach the app from a client (as the client-address headers
	// listed in the package doc), in any case and spelt with '-' or '_'.
	DropRequestHeaders []string `yaml:"drop_request_headers"`
	// RequestBuffering is "on" (default, nginx's proxy_request_buffering
	// on): a request body is read whole, in memory up to
	// ClientBodyBufferSize and beyond it in a temporary file (a private
	// directory, mode 0600, unlinked at once), before the app is contacted,
	// and reaches it with a Content-Length even when the client chunked it;
	// a slow client never holds a worker of the app. "off" streams the body
	// to the app as it arrives.
	RequestBuffering string `yaml:"request_buffering"`
	// ClientBodyBufferSize is how much of a buffered body is kept in
	// memory (nginx's client_body_buffer_size). Default 16 KiB.
	ClientBodyBufferSize int `yaml:"client_body_buffer_size"`
	// ClientMaxBodySize bounds a request body (nginx's
	// client_max_body_size): a larger one is answered 413, whatever
	// request_buffering says. Default 1 MiB.
	ClientMaxBodySize int64 `yaml:"client_max_body_size"`
	// UpstreamReadTimeout bounds the wait between two reads of the app's
	// answer, head and body alike (nginx's proxy_read_timeout): then 504 if
	// nothing was sent, otherwise both connections are closed. Unset: 60s;
	// 0: none, for a listener that streams on purpose (server-sent events,
	// long polls). upstream_timeout still bounds the whole head.
	UpstreamReadTimeout *time.Duration `yaml:"upstream_read_timeout"`
}

// Default is the seed's layout: :80 redirect and :81 app to
// http://127.0.0.1:8080, both requiring a PROXY header, admin on
// 127.0.0.1:9901, access log on stdout.
func Default() Config {
	return Config{
		AccessLog: AccessLogConfig{Path: "-", Format: LogFormatCombined},
		Listeners: []ListenerConfig{
			{Listen: ":80", Mode: ModeRedirect, ProxyProtocol: ProxyRequired},
			{Listen: ":81", Mode: ModeHTTP, ProxyProtocol: ProxyRequired, Upstream: "http://127.0.0.1:8080"},
		},
	}
}

// DefaultConfigPath is the installed configuration, what `elbguard-proxy
// check` checks without --config (as nginx -t checks nginx.conf).
const DefaultConfigPath = "/etc/elbguard/proxy.yaml"

// LoadConfig reads a YAML config file, applies defaults and validates it.
// An invalid file's error is a *ConfigError naming path and the line.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
		return Config{}, ce
	}
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML, applies defaults and validates the result. Its
// errors are *ConfigError, at the line of the key at fault (configerr.go):
// unknown keys (with the nearest known one), values of the wrong kind and
// Normalize's errors. A bare number for a duration is seconds.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	lines, err := parseConfigNode(data, &cfg)
	if err != nil {
		return Config{}, err
	}
	cfg, err = cfg.Normalize()
	if err != nil {
		return Config{}, lineOf(err, lines)
	}
	return cfg, nil
}

// Normalize returns the config with defaults applied, or an error naming the
// first invalid field and its allowed values.
func (c Config) Normalize() (Config, error) {
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	if c.HealthPath == "" {
		c.HealthPath = DefaultHealthPath
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	switch c.AccessLog.Format {
	case "":
		c.AccessLog.Format = LogFormatCombined
	case logFormatELB:
		c.AccessLog.Format = LogFormatCombined
		c.warnings = append(c.warnings, `access_log.format "elb" is now called "combined" (nginx's combined format, not AWS's ELB log format); "elb" will stop working in a future version`)
	}
	if c.AccessLog.FlushInterval == 0 {
		c.AccessLog.FlushInterval = time.Second
	}
	if c.Admin != "off" {
		if _, _, err := net.SplitHostPort(c.Admin); err != nil {
			return c, fmt.Errorf("%w: admin %q: want host:port or \"off\"", ErrConfig, c.Admin)
		}
	}
	if !strings.HasPrefix(c.HealthPath, "/") {
		return c, fmt.Errorf("%w: health_path %q: must start with /", ErrConfig, c.HealthPath)
	}
	if c.Procs < 0 {
		return c, fmt.Errorf("%w: procs %d: want 0 (every core) or a positive count", ErrConfig, c.Procs)
	}
	if c.ShutdownTimeout < 0 {
		return c, fmt.Errorf("%w: shutdown_timeout %s: must be positive", ErrConfig, c.ShutdownTimeout)
	}
	if c.AccessLog.Format != LogFormatCombined && c.AccessLog.Format != LogFormatJSON {
		return c, fmt.Errorf("%w: access_log.format %q: allowed values are combined, json", ErrConfig, c.AccessLog.Format)
	}
	if len(c.Listeners) == 0 {
		return c, fmt.Errorf("%w: listeners: at least one listener is required", ErrConfig)
	}
	seen := make(map[string]bool, len(c.Listeners))
	ls := make([]ListenerConfig, len(c.Listeners))
	for i, l := range c.Listeners {
		nl, err := l.normalize()
		if err != nil {
			return c, fmt.Errorf("%w: listeners[%d].%w", ErrConfig, i, err)
		}
		if seen[nl.Listen] && !strings.HasSuffix(nl.Listen, ":0") {
			return c, fmt.Errorf("%w: listeners[%d].listen %q: duplicate address", ErrConfig, i, nl.Listen)
		}
		seen[nl.Listen] = true
		ls[i] = nl
	}
	c.Listeners = ls
	return c, nil
}

func (l ListenerConfig) normalize() (ListenerConfig, error) {
	if _, _, err := net.SplitHostPort(l.Listen); err != nil {
		return l, fmt.Errorf("listen %q: want host:port or :port", l.Listen)
	}
	switch l.Mode {
	case ModeRedirect, ModeHTTP, ModeTCP:
	default:
		return l, fmt.Errorf("mode %q: allowed values are redirect, http, tcp", l.Mode)
	}
	switch l.ProxyProtocol {
	case "":
		l.ProxyProtocol = ProxyRequired
	case ProxyRequired, ProxyOptional, ProxyOff:
	default:
		return l, fmt.Errorf("proxy_protocol %q: allowed values are required, optional, off", l.ProxyProtocol)
	}
	if len(l.TrustedCIDRs) > 0 && l.ProxyProtocol == ProxyOff {
		return l, fmt.Errorf("trusted_cidrs: only allowed with proxy_protocol required or optional")
	}
	for _, c := range l.TrustedCIDRs {
		if c == TrustAny {
			if len(l.TrustedCIDRs) > 1 {
				return l, fmt.Errorf("trusted_cidrs: %q trusts every source: list it alone", TrustAny)
			}
			continue
		}
		if _, err := parsePrefix(c); err != nil {
			return l, fmt.Errorf("trusted_cidrs %q: want a CIDR like 10.0.0.0/8, an IP address or \"any\"", c)
		}
	}
	switch l.Mode {
	case ModeHTTP:
		u, err := url.Parse(l.Upstream)
		if err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return l, fmt.Errorf("upstream %q: want http://host:port[/path]", l.Upstream)
		}
	case ModeTCP:
		if _, _, err := net.SplitHostPort(l.Upstream); err != nil {
			return l, fmt.Errorf("upstream %q: want host:port in mode tcp", l.Upstream)
		}
	case ModeRedirect:
		if l.Upstream != "" {
			return l, fmt.Errorf("upstream %q: not allowed in mode redirect", l.Upstream)
		}
	}
	if l.ForwardedProto == "" {
		l.ForwardedProto = DefaultForwardedProto
	}
	if l.ForwardedProto != "http" && l.ForwardedProto != "https" {
		return l, fmt.Errorf("forwarded_proto %q: allowed values are http, https", l.ForwardedProto)
	}
	if l.RedirectHost != "" && !validHost(l.RedirectHost) {
		return l, fmt.Errorf("redirect_host %q: want a host name or IP without port", l.RedirectHost)
	}
	if strings.ContainsAny(l.HSTS, "\r\n") {
		return l, fmt.Errorf("hsts %q: must not contain line breaks", l.HSTS)
	}
	switch l.SendProxy {
	case "", "v1", "v2":
	default:
		return l, fmt.Errorf("send_proxy %q: allowed values are v1, v2 or empty", l.SendProxy)
	}
	if l.SendProxy != "" && l.Mode != ModeTCP {
		return l, fmt.Errorf("send_proxy: only allowed in mode tcp")
	}
	for name, d := range map[string]*time.Duration{
		"header_timeout": &l.HeaderTimeout, "idle_timeout": &l.IdleTimeout, "drain_idle_grace": &l.DrainIdleGrace,
		"dial_timeout": &l.DialTimeout, "upstream_timeout": &l.UpstreamTimeout,
		"tunnel_idle_timeout": &l.TunnelIdleTimeout, "body_timeout": &l.BodyTimeout, "send_timeout": &l.SendTimeout,
	} {
		if *d < 0 {
			return l, fmt.Errorf("%s %s: must not be negative", name, *d)
		}
	}
	if l.HeaderTimeout == 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.ParkAfter == nil {
		d := DefaultParkAfter
		l.ParkAfter = &d
	} else if *l.ParkAfter < 0 {
		return l, fmt.Errorf("park_after %s: must not be negative (0 disables parking)", *l.ParkAfter)
	}
	if l.DrainIdleGrace == 0 {
		l.DrainIdleGrace = DefaultDrainIdleGrace
	}
	if l.DialTimeout == 0 {
		l.DialTimeout = DefaultDialTimeout
	}
	if l.UpstreamTimeout == 0 {
		l.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.SendTimeout == 0 {
		l.SendTimeout = DefaultSendTimeout
	}
	if l.MaxHeaderBytes < 0 {
		return l, fmt.Errorf("max_header_bytes %d: must not be negative", l.MaxHeaderBytes)
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l.normalizeAppSide() // config_app.go
}

// parsePrefix accepts a CIDR or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse cidr %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse address %q: %w", s, err)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
