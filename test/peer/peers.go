package peer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// StartHAProxy writes cfg into dir, checks it with `haproxy -c`, starts
// HAProxy in the foreground and waits until every address in its bind lines
// accepts connections or ctx ends.
func StartHAProxy(ctx context.Context, bin, dir, cfg string) (*Process, error) {
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write haproxy config: %w", err)
	}
	res, err := Run(ctx, bin, []string{"-c", "-f", path}, Options{})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("haproxy -c rejected the config:\n%s\n%s%s", cfg, res.Stdout, res.Stderr)
	}
	p, err := Start(bin, []string{"-db", "-f", path}, Options{Dir: dir, LogDir: dir})
	if err != nil {
		return nil, err
	}
	if err := waitBinds(ctx, p, cfg, `(?m)^\s*bind\s+(\S+)`); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// NginxStreamModule returns the load_module directive that nginx needs for
// the stream module on Debian (libnginx-mod-stream), or "" when the module
// is built in or not installed as a file.
func NginxStreamModule() string {
	for _, p := range []string{
		"/usr/lib/nginx/modules/ngx_stream_module.so",
		"/usr/share/nginx/modules/ngx_stream_module.so",
	} {
		if _, err := os.Stat(p); err == nil {
			return "load_module " + p + ";"
		}
	}
	return ""
}

// StartNginx writes cfg into dir (the nginx prefix; relative paths resolve
// against it), checks it with `nginx -t`, starts nginx in the foreground
// (daemon off, pid file in dir: cfg must not set either) and waits until
// every address in its listen lines accepts connections or ctx ends.
func StartNginx(ctx context.Context, bin, dir, cfg string) (*Process, error) {
	for _, sub := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("make nginx prefix: %w", err)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write nginx config: %w", err)
	}
	args := []string{"-p", dir, "-c", path, "-e", "stderr", "-g", "daemon off; pid " + filepath.Join(dir, "nginx.pid") + ";"}
	res, err := Run(ctx, bin, append([]string{"-t"}, args...), Options{})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("nginx -t rejected the config:\n%s\n%s%s", cfg, res.Stdout, res.Stderr)
	}
	p, err := Start(bin, args, Options{Dir: dir, LogDir: dir})
	if err != nil {
		return nil, err
	}
	if err := waitBinds(ctx, p, cfg, `(?m)^\s*listen\s+([^\s;]+)`); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func waitBinds(ctx context.Context, p *Process, cfg, pattern string) error {
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(cfg, -1) {
		addr := m[1]
		if addr[0] == ':' {
			addr = "127.0.0.1" + addr
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := WaitTCP(wctx, addr)
		cancel()
		if err != nil {
			return fmt.Errorf("%s does not listen on %s: %w\n%s", p.Name, addr, err, p.Logs())
		}
	}
	return nil
}
