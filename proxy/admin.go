package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves /healthz, /metrics and, when enabled, /debug/pprof/.
type adminServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	open sync.WaitGroup // connections accepted and not yet closed or hijacked
}

func (s *Server) startAdmin(ctx context.Context, cfg Config) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	if cfg.HealthPath != "/healthz" {
		mux.HandleFunc(cfg.HealthPath, s.serveHealth)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	if cfg.AdminPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := s.listen(ctx, cfg.Admin)
	if err != nil {
		return nil, fmt.Errorf("listen admin %s: %w", cfg.Admin, err)
	}
	a := &adminServer{ln: ln, done: make(chan struct{})}
	a.srv = &http.Server{
		Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState: a.track,
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("admin listener stopped", slog.String("error", err.Error()))
		}
	}()
	return a, nil
}

// track counts the admin connections from StateNew to StateClosed or
// StateHijacked (net/http reports each exactly once, on the serving
// goroutine, before Serve accepts the next one).
func (a *adminServer) track(_ net.Conn, st http.ConnState) {
	switch st { //nolint:exhaustive // only the first and the last state count
	case http.StateNew:
		a.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		a.open.Done()
	}
}

// adminCloseWait bounds how long close waits for the requests already
// accepted; a connection that sent nothing by then is closed.
const adminCloseWait = 2 * time.Second

// close stops the admin listener without dropping a request that already
// reached it. http.Server.Shutdown is not used: a connection it accepted
// just before Shutdown and whose request it reads after is closed without an
// answer (net/http's conn.serve returns when it finds the server shutting
// down), so a health check saw EOF during an upgrade. Instead keep-alives
// are turned off (idle connections close, the next answers say
// Connection: close), the listener is closed, Serve returns (by then every
// connection it accepted is counted), and every accepted request is
// answered before the server closes what is left.
func (a *adminServer) close() {
	a.srv.SetKeepAlivesEnabled(false)
	_ = a.ln.Close()
	<-a.done
	served := make(chan struct{})
	go func() {
		a.open.Wait()
		close(served)
	}()
	t := time.NewTimer(adminCloseWait)
	defer t.Stop()
	select {
	case <-served:
	case <-t.C:
	}
	_ = a.srv.Close()
}
