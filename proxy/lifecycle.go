package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"syscall"
)

// Run starts a Server with opts and handles signals until it stops:
// SIGTERM/SIGINT (or ctx done) drain within shutdown_timeout; SIGHUP
// reloads the config file in place; SIGUSR2 hands the listening sockets to
// a new process of the binary on disk and drains (handover.go); SIGUSR1
// reopens the access log. Sockets passed by systemd (LISTEN_FDS) or by the
// process handing over are used for the listeners with the same address.
func Run(ctx context.Context, opts Options, log *slog.Logger, signals <-chan os.Signal) error {
	cfg, err := opts.Config.Normalize()
	if err != nil {
		return err
	}
	sk, err := InheritSockets()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if err := sk.checkSystemdSockets(cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	log.Info("procs", slog.Int("gomaxprocs", applyProcs(cfg.Procs)), slog.Int("cores", startProcs))
	s := NewServer(log)
	s.UseSockets(sk)
	if err := s.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	sk.closeSpare(log)
	sk.ready(log)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	writePIDFile(log)
	defer removePIDFile()
	for {
		select {
		case <-ctx.Done():
			return s.stop(cfg)
		case sig := <-signals:
			switch sig {
			case syscall.SIGUSR2:
				var (
					pid  int
					herr error
				)
				if opts.ConfigPath != "" {
					// The new process would refuse it too; say why here.
					_, herr = LoadConfig(opts.ConfigPath)
				}
				if herr == nil {
					pid, herr = sk.handover(ctx, os.Args[1:], log)
				}
				writeHandoverStatus(pid, herr, log)
				if herr != nil {
					log.Error("upgrade failed; this process keeps serving", slog.String("error", herr.Error()))
					continue
				}
				log.Info("handed over; draining", slog.Int("new_pid", pid), slog.Duration("timeout", cfg.ShutdownTimeout))
				s.stopAdmin()
				return s.stop(cfg)
			case syscall.SIGHUP:
				if opts.ConfigPath == "" {
					log.Warn("SIGHUP ignored: no --config file to reload")
					continue
				}
				next, err := LoadConfig(opts.ConfigPath)
				if err == nil {
					err = s.Reload(ctx, next)
				}
				if err != nil {
					log.Error("reload failed; keeping the running config", slog.String("error", err.Error()))
					continue
				}
				cfg = next
				applyProcs(cfg.Procs)
				for _, w := range cfg.Warnings() {
					log.Warn(w)
				}
			case syscall.SIGUSR1:
				if err := s.ReopenAccessLog(); err != nil {
					log.Error("reopen access log", slog.String("error", err.Error()))
				}
			case syscall.SIGTERM, syscall.SIGINT:
				_ = sdNotify("STOPPING=1")
				log.Info("shutting down", slog.String("signal", sig.String()), slog.Duration("timeout", cfg.ShutdownTimeout))
				return s.stop(cfg)
			}
		}
	}
}

func (s *Server) stop(cfg Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// startProcs is GOMAXPROCS as the Go runtime chose it at start: the cores the
// process may use (CPU affinity and the cgroup CPU limit).
var startProcs = runtime.GOMAXPROCS(0)

// applyProcs sets GOMAXPROCS from Config.Procs (0: startProcs) unless the
// GOMAXPROCS environment variable is set, and returns it.
func applyProcs(procs int) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	if procs == 0 {
		procs = startProcs
	}
	runtime.GOMAXPROCS(procs)
	return procs
}
