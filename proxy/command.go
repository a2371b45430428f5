package proxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// The command line, as nginx users expect it: `elbguard-proxy` serves,
// `-t` or `check` checks the installed configuration and says which file it
// checked, `reload` has the running proxy take the new configuration (and
// binary) without dropping a connection, help goes to stdout and starts
// nothing.

// Commands of elbguard-proxy.
const (
	CmdRun     = "run"
	CmdCheck   = "check"
	CmdReload  = "reload"
	CmdVersion = "version"
	CmdHelp    = "help"
)

var commands = []struct{ name, summary, about string }{
	{CmdRun, "serve (the default command)",
		"Serve the configured listeners until SIGTERM or SIGINT, which drain within shutdown_timeout.\n" +
			"SIGHUP re-reads the configuration in place; SIGUSR2 hands the listening sockets to a new\n" +
			"process of the binary on disk (what reload does); SIGUSR1 reopens the access log."},
	{CmdCheck, "check the configuration and exit, as nginx -t (also: -t)",
		"Check the configuration and exit: 0 when it is valid, 1 when it is not, with the file and\n" +
			"line at fault. Nothing is started. With --print-socket-unit, also print the systemd\n" +
			".socket unit whose addresses are the configuration's listeners and admin address; with\n" +
			"--print-ready-ports, the instance ports that read the PROXY header (the elbguard:proxy-ready tag)."},
	{CmdReload, "have the running proxy take the configuration and binary on disk, as nginx -s reload",
		"Check the configuration, then signal the running proxy (SIGUSR2): it starts a new process\n" +
			"of the binary on disk with the configuration, hands it its listening sockets and drains;\n" +
			"nothing is refused. The running proxy is --pid, or the pid in its runtime directory\n" +
			"(" + defaultRuntimeDir + "/" + pidFileName + ", written under systemd). Under systemd the\n" +
			"unit's ExecReload does this: systemctl reload elbguard-proxy. Exit 0 once the new\n" +
			"process serves, 1 when the running one keeps serving (the reason is printed)."},
	{CmdVersion, "print the version, commit and Go version", "Print the version, the VCS commit and the Go version."},
	{CmdHelp, "print this help, or a command's: help COMMAND", "Print the help of elbguard-proxy, or of a command."},
}

// errUsage is wrapped by command-line mistakes (exit 2, as flag does).
var errUsage = errors.New("usage")

// Options is what the command line asks for.
type Options struct {
	// Command is run, check, reload, version or help.
	Command string
	// HelpTopic is the command whose help is asked for ("" for all).
	HelpTopic string
	// ConfigPath is the YAML file: --config, or DefaultConfigPath when no
	// configuration flag is given; empty means Config came from flags.
	ConfigPath string
	// Config is the configuration to start with.
	Config Config
	// LogLevel is the slog level of the process log (--log-level).
	LogLevel slog.Level
	// Check is -t or the check command: validate the configuration, report
	// and exit (like nginx -t); nothing is started.
	Check bool
	// PrintSocketUnit: check prints the systemd .socket unit of the
	// configuration (SocketUnit) on stdout.
	PrintSocketUnit bool
	// PrintReadyPorts: check prints the value of the instance's
	// elbguard:proxy-ready tag (Config.ReadyTagValue) on stdout.
	PrintReadyPorts bool
	// ReloadPID is the reload command's running process (--pid, or its pid
	// file); 0 when not the reload command.
	ReloadPID int
}

// configFlags are the flags that build a configuration without a file.
type configFlags struct {
	redirect, app, upstream, pp, trusted, redirectHost, admin, accessLog, format *string
}

func newFlagSet(cmd string, opts *Options, level *string, version *bool) (*flag.FlagSet, configFlags) {
	fs := flag.NewFlagSet("elbguard-proxy "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Usage prints help; errors are returned
	def := Default()
	var cf configFlags
	fs.StringVar(&opts.ConfigPath, "config", "", "YAML configuration `file` (default "+DefaultConfigPath+" unless configuration flags are given)")
	fs.StringVar(level, "log-level", "info", "process log `level`: debug, info, warn, error")
	switch cmd {
	case CmdRun:
		fs.BoolVar(&opts.Check, "t", false, "check the configuration and exit (the check command)")
		fs.BoolVar(version, "version", false, "print the version and exit (the version command)")
	case CmdCheck:
		fs.BoolVar(&opts.Check, "t", true, "accepted for nginx habits; check always checks")
		fs.BoolVar(&opts.PrintSocketUnit, "print-socket-unit", false, "after checking, print the systemd .socket unit of the configuration's addresses on stdout")
		fs.BoolVar(&opts.PrintReadyPorts, "print-ready-ports", false, "after checking, print the instance ports that read the PROXY header, as the elbguard:proxy-ready tag's value (80,81)")
	case CmdReload:
		fs.IntVar(&opts.ReloadPID, "pid", 0, "`pid` of the running proxy (default: its pid file, "+defaultRuntimeDir+"/"+pidFileName+")")
	}
	cf.redirect = fs.String("redirect-listen", def.Listeners[0].Listen, "configuration flag: redirect listener `address` (empty: none)")
	cf.app = fs.String("http-listen", def.Listeners[1].Listen, "configuration flag: http (app) listener `address` (empty: none)")
	cf.upstream = fs.String("upstream", def.Listeners[1].Upstream, "configuration flag: upstream `URL` of the http listener")
	cf.pp = fs.String("proxy-protocol", ProxyRequired, "configuration flag: PROXY header `policy`: required, optional, off")
	cf.trusted = fs.String("trusted-cidrs", "", "configuration flag: comma-separated `CIDRs` allowed to send PROXY headers (default: loopback and private ranges)")
	cf.redirectHost = fs.String("redirect-host", "", "configuration flag: `host` for redirects (default: the request's Host without port)")
	cf.admin = fs.String("admin", DefaultAdmin, "configuration flag: admin listener `address`, or off")
	cf.accessLog = fs.String("access-log", def.AccessLog.Path, "configuration flag: access log `path`, - for stdout, empty for none")
	cf.format = fs.String("access-log-format", LogFormatCombined, "configuration flag: access log `format`: combined, json")
	return fs, cf
}

// ParseFlags reads the command line: [COMMAND] [FLAGS]. With --config the
// file is the whole configuration and configuration flags are refused;
// with configuration flags the seed's layout (Default) is adjusted by them;
// with neither, DefaultConfigPath is read. -h/--help returns an error
// wrapping flag.ErrHelp, with Command set.
func ParseFlags(args []string, _ io.Writer) (Options, error) {
	opts := Options{Command: CmdRun}
	explicit := len(args) > 0 && !strings.HasPrefix(args[0], "-")
	if explicit {
		opts.Command, args = args[0], args[1:]
	}
	switch opts.Command {
	case CmdRun, CmdCheck, CmdReload:
	case CmdVersion:
		if len(args) > 0 {
			if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
				return opts, fmt.Errorf("version: %w", flag.ErrHelp)
			}
			return opts, fmt.Errorf("%w: version takes no arguments (got %q)", errUsage, args[0])
		}
		return opts, nil
	case CmdHelp:
		if len(args) > 1 {
			return opts, fmt.Errorf("%w: help takes at most one command (got %q)", errUsage, strings.Join(args, " "))
		}
		if len(args) == 1 {
			opts.HelpTopic = args[0]
		}
		return opts, nil
	default:
		return opts, fmt.Errorf("%w: unknown command %q; commands are %s", errUsage, opts.Command, commandList())
	}
	var level string
	var version bool
	fs, cf := newFlagSet(opts.Command, &opts, &level, &version)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if explicit { // run --help: run's; --help: elbguard-proxy's
				opts.HelpTopic = opts.Command
			}
			return opts, fmt.Errorf("%s: %w", opts.Command, err)
		}
		return opts, fmt.Errorf("%w: %s: %w", errUsage, opts.Command, err)
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("%w: %s: unexpected argument %q", errUsage, opts.Command, fs.Arg(0))
	}
	if version {
		opts.Command = CmdVersion
		return opts, nil
	}
	if opts.Check {
		opts.Command = CmdCheck
	}
	if err := opts.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return opts, fmt.Errorf("%w: --log-level %q: allowed values are debug, info, warn, error", errUsage, level)
	}
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "configuration flag:") {
			set = append(set, "--"+f.Name)
		}
	})
	if opts.Command == CmdReload && opts.ReloadPID == 0 {
		pid, err := readPIDFile()
		if err != nil {
			return opts, fmt.Errorf("%w: reload: no --pid and %w", errUsage, err)
		}
		opts.ReloadPID = pid
	}
	if opts.ReloadPID < 0 {
		return opts, fmt.Errorf("%w: reload: --pid %d: want the running proxy's pid", errUsage, opts.ReloadPID)
	}
	implicit := opts.ConfigPath == "" && len(set) == 0
	if implicit {
		opts.ConfigPath = DefaultConfigPath
	}
	if opts.ConfigPath != "" {
		if len(set) > 0 {
			return opts, fmt.Errorf("%w: %s cannot be combined with --config", errUsage, strings.Join(set, ", "))
		}
		cfg, err := LoadConfig(opts.ConfigPath)
		if implicit && errors.Is(err, os.ErrNotExist) {
			return opts, fmt.Errorf("%w (without --config and configuration flags, elbguard-proxy reads %s; pass --config FILE)", err, DefaultConfigPath)
		}
		if err != nil {
			return opts, err
		}
		opts.Config = cfg
		return opts, nil
	}
	cfg := Config{Admin: *cf.admin, AccessLog: AccessLogConfig{Path: *cf.accessLog, Format: *cf.format}}
	var cidrs []string
	for _, c := range strings.Split(*cf.trusted, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cidrs = append(cidrs, c)
		}
	}
	if *cf.redirect != "" {
		cfg.Listeners = append(cfg.Listeners, ListenerConfig{Listen: *cf.redirect, Mode: ModeRedirect,
			ProxyProtocol: *cf.pp, TrustedCIDRs: cidrs, RedirectHost: *cf.redirectHost})
	}
	if *cf.app != "" {
		cfg.Listeners = append(cfg.Listeners, ListenerConfig{Listen: *cf.app, Mode: ModeHTTP,
			ProxyProtocol: *cf.pp, TrustedCIDRs: cidrs, Upstream: *cf.upstream})
	}
	cfg, err := cfg.Normalize()
	if err != nil {
		return opts, err
	}
	opts.Config = cfg
	return opts, nil
}

func commandList() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// Usage writes the help of topic (a command, or "" for elbguard-proxy's)
// and returns the exit code: 0, or 2 for an unknown command.
func Usage(w io.Writer, topic string) int {
	i := slices.IndexFunc(commands, func(c struct{ name, summary, about string }) bool { return c.name == topic })
	if topic != "" && i < 0 {
		fmt.Fprintf(w, "elbguard-proxy: unknown command %q; commands are %s\n", topic, commandList())
		return 2
	}
	var b strings.Builder
	if topic == "" {
		b.WriteString("Usage: elbguard-proxy [COMMAND] [FLAGS]\n\n" +
			"elbguard-proxy decodes the PROXY protocol header an AWS load balancer sends, redirects\n" +
			"HTTP to HTTPS, and reverse-proxies HTTP and WebSockets (or forwards TCP) to the app with\n" +
			"the real client address.\n\nCommands:\n")
		for _, c := range commands {
			fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
		}
		b.WriteString("\nWithout --config and without configuration flags, the configuration is\n" +
			DefaultConfigPath + ". 'elbguard-proxy help COMMAND' shows a command's flags.\n\n")
		topic = CmdRun
		b.WriteString("Flags of run:\n")
	} else {
		c := commands[i]
		fmt.Fprintf(&b, "Usage: elbguard-proxy %s", c.name)
		if c.name != CmdVersion && c.name != CmdHelp {
			b.WriteString(" [FLAGS]")
		}
		if c.name == CmdHelp {
			b.WriteString(" [COMMAND]")
		}
		fmt.Fprintf(&b, "\n\n%s\n", c.about)
		if c.name == CmdVersion || c.name == CmdHelp {
			_, _ = io.WriteString(w, b.String())
			return 0
		}
		b.WriteString("\nFlags:\n")
	}
	var opts Options
	var level string
	var version bool
	fs, _ := newFlagSet(topic, &opts, &level, &version)
	var defaults strings.Builder
	fs.SetOutput(&defaults)
	fs.PrintDefaults()
	for _, line := range strings.SplitAfter(defaults.String(), "\n") {
		// Long flags with two dashes, as in every other message.
		if strings.HasPrefix(line, "  -") && len(line) > 4 && line[4] != '\t' && line[4] != ' ' && line[4] != '\n' {
			line = "  --" + line[3:]
		}
		b.WriteString(line)
	}
	_, _ = io.WriteString(w, b.String())
	return 0
}

// Main is the elbguard-proxy command (cmd/elbguard-proxy): it parses args,
// runs the command and returns the exit code.
// Help goes to stdout, messages and the process log to
// stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := ParseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return Usage(stdout, opts.HelpTopic)
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "elbguard-proxy: %s\nRun 'elbguard-proxy help' for usage.\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	case opts.Command == CmdHelp:
		return Usage(stdout, opts.HelpTopic)
	case opts.Command == CmdVersion:
		b := CurrentBuild()
		fmt.Fprintf(stdout, "elbguard-proxy %s (commit %s, %s)\n", b.Version, b.Commit, b.GoVersion)
		return 0
	case opts.Command == CmdCheck:
		code := CheckResult(stderr, opts, err)
		if code == 0 && opts.ConfigPath == DefaultConfigPath && !opts.PrintSocketUnit && !opts.PrintReadyPorts {
			if drift := installedSocketDrift(opts.Config); drift != "" {
				fmt.Fprintf(stderr, "elbguard-proxy: [warn] %s\n", drift)
			}
		}
		if code == 0 && opts.PrintSocketUnit {
			unit, uerr := SocketUnit(opts.Config)
			if uerr != nil {
				fmt.Fprintf(stderr, "elbguard-proxy: --print-socket-unit: %v\n", uerr)
				return 1
			}
			_, _ = io.WriteString(stdout, unit)
		}
		if code == 0 && opts.PrintReadyPorts {
			_, _ = io.WriteString(stdout, opts.Config.ReadyTagValue()+"\n")
		}
		return code
	case opts.Command == CmdReload:
		return ReloadCommand(ctx, stderr, opts, err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "elbguard-proxy:", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	b := CurrentBuild()
	log.Info("elbguard-proxy starting", slog.String("version", b.Version), slog.String("commit", b.Commit),
		slog.Int("pid", os.Getpid()), slog.String("config", configSource(opts)))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if err := Run(ctx, opts, log, sigs); err != nil {
		log.Error("elbguard-proxy failed", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

func configSource(opts Options) string {
	if opts.ConfigPath != "" {
		return opts.ConfigPath
	}
	return "command-line flags"
}

// CheckResult reports the outcome of -t / check (opts and err as ParseFlags
// returned them) on w in nginx -t's words, naming the file checked, and
// returns the exit code: 0 when the configuration is valid, 1 when it is
// not (the message names the file and line).
func CheckResult(w io.Writer, opts Options, err error) int {
	what := "configuration file " + opts.ConfigPath
	if opts.ConfigPath == "" {
		what = "configuration from the command-line flags"
	}
	if err != nil {
		fmt.Fprintf(w, "elbguard-proxy: [emerg] %v\n", err)
		fmt.Fprintf(w, "elbguard-proxy: %s test failed\n", what)
		return 1
	}
	cfg := opts.Config
	for _, warn := range cfg.Warnings() {
		fmt.Fprintf(w, "elbguard-proxy: [warn] %s: %s\n", strings.TrimPrefix(what, "configuration file "), warn)
	}
	parts := make([]string, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		p := l.Listen + " " + l.Mode + " (proxy_protocol " + l.ProxyProtocol + ")"
		if l.Upstream != "" {
			p += " -> " + l.Upstream
		}
		parts = append(parts, p)
	}
	fmt.Fprintf(w, "elbguard-proxy: the %s syntax is ok\n", what)
	fmt.Fprintf(w, "elbguard-proxy: listeners %s; admin %s\n", strings.Join(parts, ", "), cfg.Admin)
	fmt.Fprintf(w, "elbguard-proxy: %s test is successful\n", what)
	return 0
}
