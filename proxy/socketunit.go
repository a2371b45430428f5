package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The .socket unit (deploy/systemd/elbguard-proxy.socket) holds the
// configuration's listening addresses across restarts. Its addresses cannot
// drift from the configuration's: the package's unit is generated from the
// package's configuration (SocketUnit, `elbguard-proxy check
// --print-socket-unit`, a test keeps the shipped file equal to it), and a
// proxy that systemd starts with sockets that are not the configuration's
// addresses refuses to start, naming both (checkSystemdSockets).

// socketAddresses are the addresses the .socket unit must hold: every
// listener's, then the admin listener's, as configured.
func socketAddresses(cfg Config) []string {
	addrs := make([]string, 0, len(cfg.Listeners)+1)
	for _, l := range cfg.Listeners {
		addrs = append(addrs, l.Listen)
	}
	if cfg.Admin != "off" {
		addrs = append(addrs, cfg.Admin)
	}
	return addrs
}

// listenStream turns a configured address into systemd's ListenStream=
// value: ":80" is "80" (every address, IPv4 and IPv6), "127.0.0.1:9901"
// stays, an IPv6 address keeps its brackets. systemd takes no host names.
func listenStream(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: want host:port", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("%q: a socket unit needs a numeric port from 1 to 65535", addr)
	}
	if host == "" {
		return port, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: a socket unit needs an IP address, not a host name", addr)
	}
	return netip.AddrPortFrom(ip, uint16(p)).String(), nil
}

// SocketUnit is the systemd .socket unit holding cfg's listening
// addresses (`elbguard-proxy check --print-socket-unit`); the package ships
// the one of deploy/elbguard-proxy.yaml.
func SocketUnit(cfg Config) (string, error) {
	var b strings.Builder
	b.WriteString(`# elbguard-proxy's listening sockets, held by systemd so that they outlive the process:
# during ` + "`systemctl restart elbguard-proxy`" + ` (and a crash and Restart=) the kernel keeps
# queueing connections here and the next process accepts them; nothing is refused.
#
# Generated from the configuration by:
#   elbguard-proxy check --print-socket-unit [--config /etc/elbguard/proxy.yaml]
# The addresses are the configuration's listeners and admin address, and must stay so: a proxy
# that systemd starts with other sockets refuses to start and names both lists. After changing
# the listeners in the configuration:
#   elbguard-proxy check --print-socket-unit > /etc/systemd/system/elbguard-proxy.socket
#   systemctl daemon-reload && systemctl restart elbguard-proxy.socket elbguard-proxy.service
[Unit]
Description=elbguard-proxy listening sockets (held across restarts)
Documentation=https://github.com/elbguard/elbguard
PartOf=elbguard-proxy.service

[Socket]
`)
	for i, addr := range socketAddresses(cfg) {
		v, err := listenStream(addr)
		if err != nil {
			return "", err
		}
		what := "admin"
		if i < len(cfg.Listeners) {
			what = "listeners[" + strconv.Itoa(i) + "] " + cfg.Listeners[i].Mode
		}
		fmt.Fprintf(&b, "# %s %q\nListenStream=%s\n", what, addr, v)
	}
	b.WriteString(`# Room for the connections that arrive while no process accepts (a restart).
Backlog=4096
NoDelay=yes
Service=elbguard-proxy.service

[Install]
WantedBy=sockets.target
`)
	return b.String(), nil
}

// checkSystemdSockets refuses a start with sockets from systemd (socket
// activation, not a hand-over) that are not exactly the configuration's
// addresses: a socket no listener uses would queue connections nothing
// accepts, and a listener without its socket would refuse connections
// during every restart.
func (sk *Sockets) checkSystemdSockets(cfg Config) error {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if !sk.systemd || sk.readyPipe != nil || len(sk.spare) == 0 {
		return nil
	}
	want := socketAddresses(cfg)
	used := make([]bool, len(sk.spare))
	var missing []string
	for _, addr := range want {
		i := slices.IndexFunc(sk.spare, func(in inheritedSocket) bool { return in.name == addr || sameAddress(addr, in.addr) })
		if i < 0 || used[i] {
			missing = append(missing, addr)
			continue
		}
		used[i] = true
	}
	var extra []string
	for i, in := range sk.spare {
		if !used[i] {
			extra = append(extra, in.addr.String())
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	have := make([]string, len(sk.spare))
	for i, in := range sk.spare {
		have[i] = in.addr.String()
	}
	msg := fmt.Sprintf("the sockets systemd passed (elbguard-proxy.socket: %s) are not the configuration's listeners and admin address (%s)",
		strings.Join(have, ", "), strings.Join(want, ", "))
	if len(missing) > 0 {
		msg += "; no socket for " + strings.Join(missing, ", ")
	}
	if len(extra) > 0 {
		msg += "; no listener for " + strings.Join(extra, ", ")
	}
	return fmt.Errorf("%w: %s. Make the unit match: elbguard-proxy check --print-socket-unit > /etc/systemd/system/elbguard-proxy.socket; systemctl daemon-reload; systemctl restart elbguard-proxy.socket elbguard-proxy.service", ErrConfig, msg)
}

// socketUnitDirs are where systemd looks for elbguard-proxy.socket, in its
// order of precedence (a variable for tests).
var socketUnitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// installedSocketDrift compares the installed .socket unit (the first found,
// with its drop-ins) with cfg's addresses. It returns "" when they match or
// no unit is installed, else a warning naming both, for check to print
// before a restart finds it.
func installedSocketDrift(cfg Config) string {
	var unit string
	for _, d := range socketUnitDirs {
		p := filepath.Join(d, "elbguard-proxy.socket")
		if _, err := os.Stat(p); err == nil {
			unit = p
			break
		}
	}
	if unit == "" {
		return ""
	}
	files := []string{unit}
	for _, d := range socketUnitDirs {
		drop, _ := filepath.Glob(filepath.Join(d, "elbguard-proxy.socket.d", "*.conf"))
		files = append(files, drop...)
	}
	var have []string
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // systemd's unit directories
		if err != nil {
			continue
		}
		for _, v := range unitSectionValues(string(b), "Socket", "ListenStream") {
			if v == "" {
				have = nil // an empty assignment resets the list
				continue
			}
			have = append(have, v)
		}
	}
	var want []string
	for _, a := range socketAddresses(cfg) {
		v, err := listenStream(a)
		if err != nil {
			return fmt.Sprintf("%s cannot hold %s: %v", unit, a, err)
		}
		want = append(want, v)
	}
	if slices.Equal(slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(want))) {
		return ""
	}
	return fmt.Sprintf("%s holds ListenStream=%s, the configuration needs %s: a restart would refuse to start; regenerate it: elbguard-proxy check --print-socket-unit > /etc/systemd/system/elbguard-proxy.socket",
		unit, strings.Join(have, ","), strings.Join(want, ","))
}

// unitSectionValues are the values of key in section of a systemd unit, in
// order ("" for an empty assignment).
func unitSectionValues(unit, section, key string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = line == "["+section+"]"
		case in:
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == key {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}
