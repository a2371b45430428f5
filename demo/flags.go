package demo

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/elbguard/elbguard/test/peer"
)

// ParseFlags reads the demo's command line: [--flags] [all|enforcer|proxy].
// getenv supplies NO_COLOR; isTerminal says whether the output is a
// terminal (colour defaults to on there).
func ParseFlags(args []string, stderr io.Writer, getenv func(string) string, isTerminal bool) (Config, error) {
	fs := flag.NewFlagSet("elbguard-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: elbguard-demo [flags] [all|enforcer|proxy]   (scripts/demo.sh builds and runs it)")
		fs.PrintDefaults()
	}
	var cfg Config
	colour := fs.String("color", "auto", "colour output: auto, always or never")
	fs.StringVar(&cfg.Root, "root", "", "repository root, where tools are looked up (default: found from the working directory)")
	fs.StringVar(&cfg.Elbguard, "elbguard", "", "elbguard CLI binary")
	fs.StringVar(&cfg.Bootstrap, "bootstrap", "", "enforcer Lambda bootstrap built for this host (-tags lambda.norpc)")
	fs.StringVar(&cfg.Proxy, "proxy", "", "elbguard-proxy binary")
	fs.StringVar(&cfg.WorkDir, "workdir", "", "directory for configuration, certificates and logs of this run")
	fs.StringVar(&cfg.MotoURL, "moto-url", "", "use this running moto_server instead of starting one")
	fs.BoolVar(&cfg.NoHAProxy, "no-haproxy", false, "use the Go stand-in load balancer even when HAProxy is installed")
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("parse flags: %w", err)
	}
	switch fs.NArg() {
	case 0:
		cfg.Part = PartAll
	case 1:
		cfg.Part = fs.Arg(0)
	default:
		return cfg, fmt.Errorf("%w: one part at most; got %q", ErrConfig, fs.Args())
	}
	switch *colour {
	case "auto":
		cfg.Colour = isTerminal && getenv("NO_COLOR") == ""
	case "always":
		cfg.Colour = true
	case "never":
	default:
		return cfg, fmt.Errorf("%w: --color %q; want auto, always or never", ErrConfig, *colour)
	}
	if cfg.Root == "" {
		root, err := peer.Root()
		if err != nil {
			return cfg, fmt.Errorf("%w: --root not given and %w", ErrConfig, err)
		}
		cfg.Root = root
	}
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
