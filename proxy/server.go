package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Server runs the listeners, the admin endpoint and the access log of one
// configuration, and applies reloads.
type Server struct {
	log     *slog.Logger
	metrics *Metrics

	draining atomic.Bool
	alog     atomic.Pointer[AccessLog]

	mu        sync.Mutex // guards cfg, listeners, admin
	cfg       Config
	listeners []*listener
	admin     *adminServer
	sockets   *Sockets // nil: every listener binds its own socket (handover.go)

	// netHTTPOnly sends every request to net/http's parser, none to the
	// fast path's (set before Start; differential_test.go).
	netHTTPOnly bool

	smu      sync.Mutex
	sessions map[*tunnel]struct{}
	sessIdle chan struct{} // closed when sessions becomes empty, if someone waits (under smu)
	stopped  bool
}

// NewServer returns a Server that logs to log (nil discards).
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{log: log, metrics: NewMetrics(), sessions: make(map[*tunnel]struct{})}
}

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// listener is one running front listener.
type listener struct {
	srv     *Server
	name    string // the configured listen address
	state   atomic.Pointer[listenerState]
	metrics *listenerMetrics

	ln       *frontListener
	tcpConns sync.WaitGroup
	done     chan struct{} // closed when the accept loop returns

	draining atomic.Bool
	quietAt  atomic.Int64 // Unix ns: the drain closes connections idle between requests from then (quietUntil)
	connsMu  sync.Mutex
	conns    map[*httpConn]struct{}   // open connections of the keep-alive loop (redirect and http modes)
	parked   map[*parkedConn]struct{} // keep-alive connections parked between requests (park.go); in connsWG too
	connsWG  sync.WaitGroup
	workers  connWorkers // connworker.go
}

// listenerState is the compiled, immutable configuration of a listener,
// swapped atomically on reload.
type listenerState struct {
	cfg          ListenerConfig
	health       string
	required     bool
	trust        trustPolicy
	upstream     *url.URL
	upstreamBase bool // upstream has a base path to prepend
	transport    *upstreamTransport
	dialer       *net.Dialer
	protoVal     []string
	hstsVal      []string
}

// Start opens the access log, the admin listener and every listener of cfg
// (already normalized by Normalize or LoadConfig). On error nothing is left open.
func (s *Server) Start(ctx context.Context, cfg Config) error {
	cfg, err := cfg.Normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	alog, err := OpenAccessLog(cfg.AccessLog)
	if err != nil {
		return err
	}
	s.alog.Store(alog)
	if cfg.Admin != "off" {
		adm, err := s.startAdmin(ctx, cfg)
		if err != nil {
			s.closeAccessLog()
			return err
		}
		s.admin = adm
	}
	for _, lc := range cfg.Listeners {
		l, err := s.startListener(ctx, lc, cfg, nil)
		if err != nil {
			for _, l := range s.listeners {
				l.closeNow()
			}
			s.listeners = nil
			if s.admin != nil {
				s.admin.close()
			}
			s.closeAccessLog()
			return err
		}
		s.listeners = append(s.listeners, l)
	}
	s.cfg = cfg
	s.log.Info("elbguard-proxy started", slog.Int("listeners", len(s.listeners)), slog.String("admin", cfg.Admin))
	return nil
}

// Addrs returns the bound address of each listener, in config order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// AdminAddr returns the admin listener's address, or nil when disabled.
func (s *Server) AdminAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return nil
	}
	return s.admin.ln.Addr()
}

func (s *Server) accessLog() *AccessLog { return s.alog.Load() }

func (s *Server) closeAccessLog() {
	if a := s.alog.Swap(nil); a != nil {
		if err := a.Close(); err != nil {
			s.log.Warn("close access log", slog.String("error", err.Error()))
		}
	}
}

// buildState compiles a listener config. old, when given, lends its
// transport if the upstream settings are unchanged, keeping the pool warm.
func (s *Server) buildState(l *listener, lc ListenerConfig, cfg Config, old *listenerState) (*listenerState, error) {
	st := &listenerState{
		cfg:      lc,
		health:   cfg.HealthPath,
		required: lc.ProxyProtocol == ProxyRequired,
		protoVal: []string{lc.ForwardedProto},
		dialer:   &net.Dialer{Timeout: lc.DialTimeout, KeepAlive: -1},
	}
	if lc.HSTS != "" {
		st.hstsVal = []string{lc.HSTS}
	}
	trust, err := compileTrust(lc.TrustedCIDRs)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", lc.Listen, err)
	}
	st.trust = trust
	if lc.Mode == ModeHTTP {
		u, err := url.Parse(lc.Upstream)
		if err != nil {
			return nil, fmt.Errorf("listener %s: parse upstream %q: %w", lc.Listen, lc.Upstream, err)
		}
		st.upstream = u
		st.upstreamBase = u.Path != "" && u.Path != "/"
		if old != nil && old.transport != nil && old.cfg.Upstream == lc.Upstream &&
			old.cfg.DialTimeout == lc.DialTimeout && old.cfg.UpstreamTimeout == lc.UpstreamTimeout {
			st.transport = old.transport
		} else {
			st.transport = newUpstreamTransport(lc, u.Host)
		}
	}
	return st, nil
}

// startListener binds lc and starts serving it.
func (s *Server) startListener(ctx context.Context, lc ListenerConfig, cfg Config, old *listenerState) (*listener, error) {
	l := &listener{srv: s, name: lc.Listen, metrics: s.metrics.listener(lc.Listen), done: make(chan struct{})}
	st, err := s.buildState(l, lc, cfg, old)
	if err != nil {
		return nil, err
	}
	l.state.Store(st)
	raw, err := s.listen(ctx, lc.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s (mode %s): %w", lc.Listen, lc.Mode, err)
	}
	l.ln = &frontListener{Listener: raw, l: l}
	if lc.Mode == ModeTCP {
		go func() {
			defer close(l.done)
			l.serveTCP(l.ln)
		}()
		return l, nil
	}
	l.conns = make(map[*httpConn]struct{})
	l.workers = newConnWorkers()
	go func() {
		defer close(l.done)
		l.serveHTTP()
	}()
	return l, nil
}

// closeNow closes the listener and its connections without draining.
func (l *listener) closeNow() {
	l.draining.Store(true)
	_ = l.ln.Close()
	<-l.done
	if l.conns != nil {
		l.wakeIdleConns(true)
		l.connsWG.Wait()
	}
}

// shutdown stops accepting and waits for in-flight requests (not tunnels)
// until ctx is done, then closes what is left.
func (l *listener) shutdown(ctx context.Context) {
	quiet := l.state.Load().cfg.DrainIdleGrace
	if dl, ok := ctx.Deadline(); ok {
		quiet = min(quiet, time.Until(dl)/2) // closed quietly, well before the hard close
	}
	l.quietAt.Store(time.Now().Add(quiet).UnixNano())
	l.draining.Store(true)
	_ = l.ln.Close()
	<-l.done
	if l.conns != nil {
		fastDone := make(chan struct{})
		go func() {
			l.connsWG.Wait()
			close(fastDone)
		}()
		l.wakeIdleConns(false)
		select {
		case <-fastDone:
		case <-ctx.Done():
			l.wakeIdleConns(true)
			<-fastDone
		}
	}
	if st := l.state.Load(); st.transport != nil {
		st.transport.CloseIdleConnections()
	}
}

// quietUntil is when a draining listener closes the keep-alive
// connections that stayed idle between requests since the drain began
// (drain_idle_grace after it, at most half the time left to the drain's
// deadline, so that they close quietly before the hard close).
func (l *listener) quietUntil() time.Time {
	if ns := l.quietAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

// addSession registers a tunnel; false when the server is stopping hard.
func (s *Server) addSession(t *tunnel) bool {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.stopped {
		return false
	}
	s.sessions[t] = struct{}{}
	return true
}

func (s *Server) removeSession(t *tunnel) {
	s.smu.Lock()
	if _, ok := s.sessions[t]; ok {
		delete(s.sessions, t)
		if len(s.sessions) == 0 && s.sessIdle != nil {
			close(s.sessIdle)
			s.sessIdle = nil
		}
	}
	s.smu.Unlock()
}

// sessionsDone returns a channel closed once no session is open. Unlike a
// WaitGroup's Wait, it may be called while a connection is still turning
// into a session.
func (s *Server) sessionsDone() <-chan struct{} {
	s.smu.Lock()
	defer s.smu.Unlock()
	ch := make(chan struct{})
	switch {
	case len(s.sessions) == 0:
		close(ch)
	case s.sessIdle != nil:
		return s.sessIdle
	default:
		s.sessIdle = ch
	}
	return ch
}

// Shutdown drains: health answers 503, listeners stop accepting, in-flight
// requests and open sessions get until ctx is done, then everything left is
// closed and the access log flushed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	ls := s.listeners
	s.listeners = nil
	adm := s.admin
	s.admin = nil
	s.mu.Unlock()
	s.log.Info("draining", slog.Int("listeners", len(ls)))

	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.shutdown(ctx)
		}()
	}
	wg.Wait()

	sessDone := s.sessionsDone()
	var err error
	select {
	case <-sessDone:
	case <-ctx.Done():
		s.smu.Lock()
		s.stopped = true
		left := make([]*tunnel, 0, len(s.sessions))
		for t := range s.sessions {
			left = append(left, t)
		}
		s.smu.Unlock()
		for _, t := range left {
			t.goAway() // WebSockets: a 1001 Close frame, then the closing handshake
		}
		select {
		case <-sessDone:
		case <-time.After(tunnelFinTimeout + time.Second):
			for _, t := range left {
				t.close()
			}
			<-sessDone
		}
		err = fmt.Errorf("shutdown: closed %d open sessions at the deadline: %w", len(left), ctx.Err())
	}
	for _, l := range ls {
		l.tcpConns.Wait()
	}
	if adm != nil {
		adm.close()
	}
	s.closeAccessLog()
	s.log.Info("stopped")
	return err
}

// ReopenAccessLog reopens the access log file (SIGUSR1, after logrotate).
func (s *Server) ReopenAccessLog() error {
	if a := s.accessLog(); a != nil {
		if err := a.Reopen(); err != nil {
			return fmt.Errorf("reopen access log: %w", err)
		}
	}
	return nil
}

// Reload applies a new configuration:
//   - listeners whose address, mode and connection settings (header_timeout,
//     idle_timeout, max_header_bytes) are unchanged keep their socket and
//     connections; the rest of their settings (proxy_protocol, trusted_cidrs,
//     upstream, timeouts, headers) apply to new connections (PROXY policy) and
//     new requests (everything else) at once;
//   - other changed listeners are closed and re-bound (connections on the
//     old socket drain in the background for shutdown_timeout);
//   - removed listeners drain and close; added listeners start;
//   - the access log is reopened with its new path and format;
//   - the admin listener is restarted when its address or pprof changes.
//
// Nothing changes when the new config is invalid.
func (s *Server) Reload(ctx context.Context, cfg Config) error {
	cfg, err := cfg.Normalize()
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if cfg.AccessLog != s.cfg.AccessLog {
		nl, err := OpenAccessLog(cfg.AccessLog)
		if err != nil {
			errs = append(errs, err)
		} else if old := s.alog.Swap(nl); old != nil {
			_ = old.Close()
		}
	}
	if cfg.Admin != s.cfg.Admin || cfg.AdminPprof != s.cfg.AdminPprof {
		if s.admin != nil {
			s.admin.close()
			s.admin = nil
		}
		if cfg.Admin != s.cfg.Admin {
			s.releaseSocket(s.cfg.Admin)
		}
		if cfg.Admin != "off" {
			adm, err := s.startAdmin(ctx, cfg)
			if err != nil {
				errs = append(errs, err)
			} else {
				s.admin = adm
			}
		}
	}
	current := make(map[string]*listener, len(s.listeners))
	for _, l := range s.listeners {
		current[l.name] = l
	}
	// Keep the sockets that can stay; close the others first so that their
	// ports are free for the new listeners, and drain them in the background.
	keep := make(map[string]*listener)
	for _, lc := range cfg.Listeners {
		if l := current[lc.Listen]; l != nil && sameSocket(l.state.Load().cfg, lc) {
			keep[lc.Listen] = l
			delete(current, lc.Listen)
		}
	}
	for _, l := range current {
		_ = l.ln.Close()
		go l.drainAsync(cfg.ShutdownTimeout)
		if !cfg.hasListener(l.name) {
			s.releaseSocket(l.name)
		}
	}
	var next []*listener
	for _, lc := range cfg.Listeners {
		if l := keep[lc.Listen]; l != nil {
			old := l.state.Load()
			st, err := s.buildState(l, lc, cfg, old)
			if err != nil {
				errs = append(errs, err)
			} else {
				l.state.Store(st)
				if old.transport != nil && old.transport != st.transport {
					old.transport.retire()
				}
			}
			next = append(next, l)
			continue
		}
		nl, err := s.startListener(ctx, lc, cfg, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next = append(next, nl)
	}
	s.listeners = next
	s.cfg = cfg
	if err := errors.Join(errs...); err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		return fmt.Errorf("reload: %w", err)
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.log.Info("config reloaded", slog.Int("listeners", len(next)))
	return nil
}

func (l *listener) drainAsync(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l.shutdown(ctx)
}

// sameSocket reports whether a reload can keep the listener's socket and
// http.Server.
func sameSocket(a, b ListenerConfig) bool {
	return a.Listen == b.Listen && a.Mode == b.Mode && a.HeaderTimeout == b.HeaderTimeout &&
		a.IdleTimeout == b.IdleTimeout && a.MaxHeaderBytes == b.MaxHeaderBytes
}
