package infra

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Repository files the demo instances install, shared with the proxy
// (deploy/ is owned by it; the demo reads them at synth time).
const (
	ProxyUnitFile   = "deploy/systemd/elbguard-proxy.service"
	ProxyConfigFile = "deploy/elbguard-proxy.yaml"
)

// Where the demo's own sample WebSocket app goes on the instance.
const (
	demoAppPath = "/opt/elbguard-demo/ws_echo.py"
	demoAppUnit = "elbguard-demo-app.service"
	proxyUnit   = "elbguard-proxy.service"
	proxySocket = "elbguard-proxy.socket"
	heredocEnd  = "ELBGUARD_FILE_EOF"
)

// demoApp is the sample WebSocket echo app (Python standard library only,
// so the instances need no internet access).
//
//go:embed demoapp/ws_echo.py
var demoApp string

// proxyInstall is what the user data needs to install and start the proxy,
// derived from the shared unit and config files.
type proxyInstall struct {
	unit, config string
	binaryPath   string // ExecStart's program
	configPath   string // ExecStart's --config argument
	user         string // User= when the unit does not use DynamicUser=
	appListen    string // host:port of the http listener's upstream
	ports        []int  // ports the proxy listens on
}

// ReadProxyFiles reads the proxy's systemd unit and sample config from the
// repository root.
func ReadProxyFiles(root string) (unit, config string, err error) {
	u, err := os.ReadFile(filepath.Join(root, ProxyUnitFile))
	if err != nil {
		return "", "", fmt.Errorf("read proxy unit: %w", err)
	}
	c, err := os.ReadFile(filepath.Join(root, ProxyConfigFile))
	if err != nil {
		return "", "", fmt.Errorf("read proxy config: %w", err)
	}
	return string(u), string(c), nil
}

// parseProxyInstall reads the binary and config paths from the unit's
// ExecStart= and the app address and listener ports from the config.
func parseProxyInstall(unit, config string) (proxyInstall, error) {
	in := proxyInstall{unit: unit, config: config}
	exec, dynamic, err := unitDirectives(unit)
	if err != nil {
		return in, err
	}
	in.user = exec["User"]
	if dynamic {
		in.user = ""
	}
	args := strings.Fields(exec["ExecStart"])
	if len(args) == 0 {
		return in, fmt.Errorf("%s: no ExecStart=", ProxyUnitFile)
	}
	in.binaryPath = strings.TrimLeft(args[0], "-@:+!")
	for i, a := range args[1:] {
		switch {
		case (a == "--config" || a == "-config") && i+2 < len(args):
			in.configPath = args[i+2]
		case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-config="):
			in.configPath = a[strings.Index(a, "=")+1:]
		}
	}
	if !path.IsAbs(in.binaryPath) || !path.IsAbs(in.configPath) {
		return in, fmt.Errorf("%s: ExecStart=%s: want an absolute program path and --config /absolute/path", ProxyUnitFile, exec["ExecStart"])
	}
	in.appListen, in.ports, err = proxyListeners(config)
	return in, err
}

// unitDirectives returns the [Service] directives of a systemd unit (the
// last value of each, continuation lines joined) and whether DynamicUser is
// on.
func unitDirectives(unit string) (map[string]string, bool, error) {
	out := map[string]string{}
	section := ""
	var pending string
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if ok {
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	if section == "" {
		return nil, false, fmt.Errorf("%s: not a systemd unit", ProxyUnitFile)
	}
	dyn := strings.ToLower(out["DynamicUser"])
	return out, dyn == "yes" || dyn == "true" || dyn == "on" || dyn == "1", nil
}

// proxyListeners checks the sample config has the layout the load balancer
// forwards to (a listener on port 80 and an http listener on port 81) and
// returns the http listener's upstream host:port, where the demo app runs.
func proxyListeners(config string) (string, []int, error) {
	var cfg struct {
		Listeners []struct {
			Listen   string `yaml:"listen"`
			Mode     string `yaml:"mode"`
			Upstream string `yaml:"upstream"`
		} `yaml:"listeners"`
	}
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		return "", nil, fmt.Errorf("%s: %w", ProxyConfigFile, err)
	}
	var app string
	var ports []int
	for _, l := range cfg.Listeners {
		_, p, err := net.SplitHostPort(l.Listen)
		if err != nil {
			return "", nil, fmt.Errorf("%s: listen %q: %w", ProxyConfigFile, l.Listen, err)
		}
		var port int
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
			return "", nil, fmt.Errorf("%s: listen %q: port: %w", ProxyConfigFile, l.Listen, err)
		}
		ports = append(ports, port)
		if port == appPort && l.Mode == "http" {
			u := strings.TrimPrefix(strings.TrimPrefix(l.Upstream, "http://"), "https://")
			app, _, _ = strings.Cut(u, "/")
		}
	}
	if !containsInt(ports, redirectPort) || app == "" {
		return "", nil, fmt.Errorf("%s: want a listener on :%d and an http listener on :%d with an http://host:port upstream (the load balancer forwards to them)",
			ProxyConfigFile, redirectPort, appPort)
	}
	if _, _, err := net.SplitHostPort(app); err != nil {
		return "", nil, fmt.Errorf("%s: upstream %q: want http://host:port: %w", ProxyConfigFile, app, err)
	}
	return app, ports, nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// userDataPreamble comes before the download of the proxy package: stop at
// the first failing command and keep a log of the run.
var userDataPreamble = []string{
	"set -euo pipefail",
	"exec > >(tee -a /var/log/elbguard-user-data.log) 2>&1",
}

var errHeredoc = errors.New("file contains the heredoc terminator " + heredocEnd)

// installCommands is the user data (after the download of the proxy's
// linux/arm64 .rpm to downloaded): install the package (binary, unit and
// socket, default config; its postinstall enables and starts the service),
// write the shared config, the demo app and its unit, then start the app,
// apply the config (a hand-over) and wait for the proxy.
func installCommands(in proxyInstall, downloaded string) ([]string, error) {
	for _, f := range []string{in.config, demoApp} {
		if strings.Contains(f, heredocEnd) {
			return nil, errHeredoc
		}
	}
	write := func(dst, mode, content string) []string {
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		return []string{
			fmt.Sprintf("install -d -m 0755 %s", path.Dir(dst)),
			fmt.Sprintf("cat > %s <<'%s'\n%s%s", dst, heredocEnd, content, heredocEnd),
			fmt.Sprintf("chmod %s %s", mode, dst),
		}
	}
	cmds := []string{
		fmt.Sprintf("rpm -U --replacepkgs %s", downloaded),
	}
	if in.user != "" {
		cmds = append(cmds, fmt.Sprintf("id -u %[1]s >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin %[1]s", in.user))
	}
	cmds = append(cmds, write(in.configPath, "0644", in.config)...)
	cmds = append(cmds, write(demoAppPath, "0755", demoApp)...)
	cmds = append(cmds, write("/etc/systemd/system/"+demoAppUnit, "0644", demoAppUnitText(in.appListen))...)
	cmds = append(cmds,
		"systemctl daemon-reload",
		fmt.Sprintf("systemctl enable --now %s %s %s", demoAppUnit, proxySocket, proxyUnit),
		fmt.Sprintf("systemctl reload-or-restart %s", proxyUnit),
		fmt.Sprintf("for i in $(seq 30); do systemctl is-active --quiet %s && break; sleep 1; done", proxyUnit),
		fmt.Sprintf("systemctl --no-pager status %s %s", demoAppUnit, proxyUnit),
	)
	return cmds, nil
}

// demoAppUnitText runs the sample app as a transient unprivileged user.
func demoAppUnitText(listen string) string {
	return fmt.Sprintf(`[Unit]
Description=elbguard demo WebSocket echo app (behind elbguard-proxy)
After=network.target

[Service]
ExecStart=/usr/bin/python3 %s --listen %s
DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
Restart=always

[Install]
WantedBy=multi-user.target
`, demoAppPath, listen)
}
