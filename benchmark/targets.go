package benchmark

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"text/template"
	"time"

	"github.com/elbguard/elbguard/test/peer"
)

// Names of the proxies under benchmark, in table order, and of the direct
// connection to the backend used as the bulk transfer baseline.
const (
	Elbguard = "elbguard-proxy"
	Nginx    = "nginx"
	HAProxy  = "haproxy"
	Direct   = "direct"
	// Baseline is elbguard-proxy built from another commit
	// (ProxyConfig.BaselineBin), measured beside this build in the same
	// run: the "no regression" figure a change is held to.
	Baseline = "baseline"
)

// target is one running proxy: its two PROXY-protocol listeners and the
// process whose tree holds its memory.
type target struct {
	name     string
	redirect string
	app      string
	proc     *peer.Process
}

// templateData fills benchmark/configs/*.tmpl.
type templateData struct {
	Redirect, App, Backend, Admin, Dir string
	// User is the user running the bench: nginx's workers run as it, not
	// as nobody when the bench runs as root, so that they can write request
	// bodies over client_body_buffer_size into the private run directory.
	User string
	// ParkAfter, when set, is elbguard-proxy's park_after on the app
	// listener (the idle scenarios' unparked reference sets "0").
	ParkAfter string
}

func render(root, name string, d templateData) (string, error) {
	path := filepath.Join(root, "benchmark", "configs", name)
	tmpl, err := template.ParseFiles(path)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", path, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render %s: %w", path, err)
	}
	return b.String(), nil
}

func newTemplateData(dir, backend string) (templateData, error) {
	d := templateData{Backend: backend, Dir: dir, User: "nobody"}
	if u, err := user.Current(); err == nil {
		d.User = u.Username
	}
	for _, p := range []*string{&d.Redirect, &d.App, &d.Admin} {
		a, err := peer.FreeAddr()
		if err != nil {
			return d, err
		}
		*p = a
	}
	return d, nil
}

// startTarget starts one proxy from its template in benchmark/configs/, in a private
// directory under dir, and waits for both listeners.
func startTarget(ctx context.Context, cfg ProxyConfig, name, backend string) (*target, error) {
	if name == Baseline {
		if cfg.BaselineBin == "" {
			return nil, fmt.Errorf("bench: proxy %q needs -baseline-bin", Baseline)
		}
		t, err := startTargetAs(ctx, cfg.Root, cfg.Dir, Elbguard, Baseline, cfg.BaselineBin, backend, "")
		if err == nil {
			t.name = Baseline
		}
		return t, err
	}
	return startTargetAs(ctx, cfg.Root, cfg.Dir, name, name, cfg.ProxyBin, backend, "")
}

// startTargetAs is startTarget in the run directory dir/as, with
// elbguard-proxy's park_after set to parkAfter when not empty.
func startTargetAs(ctx context.Context, root, dir, name, as, proxyBin, backend, parkAfter string) (*target, error) {
	tdir := filepath.Join(dir, as)
	if err := os.MkdirAll(filepath.Join(tdir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("make %s run dir: %w", name, err)
	}
	d, err := newTemplateData(tdir, backend)
	if err != nil {
		return nil, err
	}
	d.ParkAfter = parkAfter
	t := &target{name: name, redirect: d.Redirect, app: d.App}
	switch name {
	case Nginx:
		cfg, err := render(root, "nginx.conf.tmpl", d)
		if err != nil {
			return nil, err
		}
		bin, err := peer.Look(root, "nginx")
		if err != nil {
			return nil, err
		}
		if t.proc, err = peer.StartNginx(ctx, bin, tdir, cfg); err != nil {
			return nil, fmt.Errorf("start nginx: %w", err)
		}
	case HAProxy:
		cfg, err := render(root, "haproxy.cfg.tmpl", d)
		if err != nil {
			return nil, err
		}
		bin, err := peer.Look(root, "haproxy")
		if err != nil {
			return nil, err
		}
		if t.proc, err = peer.StartHAProxy(ctx, bin, tdir, cfg); err != nil {
			return nil, fmt.Errorf("start haproxy: %w", err)
		}
	case Elbguard:
		cfg, err := render(root, "elbguard-proxy.yaml.tmpl", d)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(tdir, "elbguard-proxy.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, fmt.Errorf("write elbguard-proxy config: %w", err)
		}
		if t.proc, err = peer.Start(proxyBin, []string{"--config", path}, peer.Options{Dir: tdir, LogDir: tdir}); err != nil {
			return nil, fmt.Errorf("start elbguard-proxy: %w", err)
		}
		for _, a := range []string{d.Redirect, d.App} {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := peer.WaitTCP(wctx, a)
			cancel()
			if err != nil {
				t.proc.Stop()
				return nil, fmt.Errorf("elbguard-proxy does not listen on %s: %w\n%s", a, err, t.proc.Logs())
			}
		}
	default:
		return nil, fmt.Errorf("bench: unknown proxy %q; want %s, %s, %s or %s", name, Elbguard, Baseline, Nginx, HAProxy)
	}
	return t, nil
}
