package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves /healthz, /metrics and, when enabled, /debug/pprof/.
type adminServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
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
	a := &adminServer{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("admin listener stopped", slog.String("error", err.Error()))
		}
	}()
	return a, nil
}

func (a *adminServer) close() {
	// Stop accepting and let Serve return first: by then every connection
	// it accepted is tracked, so Shutdown waits for its request. Shutdown
	// alone can miss one accepted just as it starts (net/http tracks a
	// connection only after Accept returns), which the exiting process
	// then drops: a health check saw EOF during an upgrade.
	_ = a.ln.Close()
	<-a.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
}
