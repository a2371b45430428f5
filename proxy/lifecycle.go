package proxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Options is what the command line asks for.
type Options struct {
	// ConfigPath is the YAML file (--config); empty means Config came from flags.
	ConfigPath string
	// Config is the configuration to start with.
	Config Config
	// LogLevel is the slog level of the process log (--log-level).
	LogLevel slog.Level
	// Check is -t or the check command: validate the configuration, report
	// and exit (like nginx -t); nothing is started.
	Check bool
	// ReloadPID is the reload command's --pid: check the configuration,
	// then hand the running process over to a new one and wait for the
	// outcome (ReloadCommand). 0: not the reload command.
	ReloadPID int
}

// ParseFlags reads the command line. With --config the file is the whole
// configuration and listener flags are refused; without it the seed's
// layout (Default) is adjusted by the flags.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("elbguard-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := Default()
	var (
		opts         Options
		level        string
		redirect     = fs.String("redirect-listen", def.Listeners[0].Listen, "redirect listener address (empty: none)")
		app          = fs.String("http-listen", def.Listeners[1].Listen, "http (app) listener address (empty: none)")
		upstream     = fs.String("upstream", def.Listeners[1].Upstream, "upstream URL of the http listener")
		pp           = fs.String("proxy-protocol", ProxyRequired, "PROXY header policy: required, optional, off")
		trusted      = fs.String("trusted-cidrs", "", "comma-separated sources allowed to send PROXY headers")
		redirectHost = fs.String("redirect-host", "", "host for redirects (default: request Host without port)")
		admin        = fs.String("admin", DefaultAdmin, "admin listener address, or off")
		accessLog    = fs.String("access-log", def.AccessLog.Path, "access log path, - for stdout, empty for none")
		format       = fs.String("access-log-format", LogFormatELB, "access log format: elb, json")
	)
	reload := false
	switch {
	case len(args) > 0 && args[0] == "check":
		opts.Check, args = true, args[1:]
	case len(args) > 0 && args[0] == "reload":
		reload, args = true, args[1:]
		fs.IntVar(&opts.ReloadPID, "pid", 0, "reload: the running process ($MAINPID)")
	}
	fs.BoolVar(&opts.Check, "t", opts.Check, "check the configuration and exit (0: valid, 1: invalid); same as the check command")
	fs.StringVar(&opts.ConfigPath, "config", "", "YAML config file (see deploy/elbguard-proxy.yaml)")
	fs.StringVar(&level, "log-level", "info", "process log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return opts, fmt.Errorf("parse flags: %w", err)
	}
	if reload && opts.ReloadPID <= 0 {
		return opts, fmt.Errorf("%w: reload needs --pid of the running process", ErrConfig)
	}
	if err := opts.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return opts, fmt.Errorf("%w: --log-level %q: allowed values are debug, info, warn, error", ErrConfig, level)
	}
	if opts.ConfigPath != "" {
		var extra []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "config" && f.Name != "log-level" && f.Name != "t" && f.Name != "pid" {
				extra = append(extra, "--"+f.Name)
			}
		})
		if len(extra) > 0 {
			return opts, fmt.Errorf("%w: %s cannot be combined with --config", ErrConfig, strings.Join(extra, ", "))
		}
		cfg, err := LoadConfig(opts.ConfigPath)
		if err != nil {
			return opts, err
		}
		opts.Config = cfg
		return opts, nil
	}
	cfg := Config{Admin: *admin, AccessLog: AccessLogConfig{Path: *accessLog, Format: *format}}
	var cidrs []string
	for _, c := range strings.Split(*trusted, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cidrs = append(cidrs, c)
		}
	}
	if *redirect != "" {
		cfg.Listeners = append(cfg.Listeners, ListenerConfig{Listen: *redirect, Mode: ModeRedirect,
			ProxyProtocol: *pp, TrustedCIDRs: cidrs, RedirectHost: *redirectHost})
	}
	if *app != "" {
		cfg.Listeners = append(cfg.Listeners, ListenerConfig{Listen: *app, Mode: ModeHTTP,
			ProxyProtocol: *pp, TrustedCIDRs: cidrs, Upstream: *upstream})
	}
	cfg, err := cfg.Normalize()
	if err != nil {
		return opts, err
	}
	opts.Config = cfg
	return opts, nil
}

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
	log.Info("procs", slog.Int("gomaxprocs", applyProcs(cfg.Procs)), slog.Int("cores", startProcs))
	s := NewServer(log)
	s.UseSockets(sk)
	if err := s.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	sk.closeSpare(log)
	sk.ready(log)
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

// CheckResult reports the outcome of -t / check (opts and err as ParseFlags
// returned them) on w, nginx -t style, and returns the exit code: 0 when the
// configuration is valid, 1 when it is not (the message names the field, or
// the YAML line).
func CheckResult(w io.Writer, opts Options, err error) int {
	src := "flags"
	if opts.ConfigPath != "" {
		src = opts.ConfigPath
	}
	if err != nil {
		fmt.Fprintf(w, "elbguard-proxy: configuration %s is invalid: %v\n", src, err)
		return 1
	}
	cfg := opts.Config
	parts := make([]string, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		p := l.Listen + " " + l.Mode
		if l.Upstream != "" {
			p += " -> " + l.Upstream
		}
		parts = append(parts, p)
	}
	fmt.Fprintf(w, "elbguard-proxy: configuration %s is valid: %d listeners (%s), admin %s\n",
		src, len(cfg.Listeners), strings.Join(parts, ", "), cfg.Admin)
	return 0
}
