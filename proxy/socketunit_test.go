package proxy

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

// TestShippedSocketUnitIsGenerated: the package's .socket unit is the one
// generated from the package's config, so its addresses cannot drift from
// the listeners. After changing deploy/elbguard-proxy.yaml's listeners:
//
//	go run ./cmd/elbguard-proxy check --config deploy/elbguard-proxy.yaml --print-socket-unit > deploy/systemd/elbguard-proxy.socket
func TestShippedSocketUnitIsGenerated(t *testing.T) {
	cfg, err := LoadConfig("../deploy/elbguard-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := SocketUnit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../deploy/systemd/elbguard-proxy.socket")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("deploy/systemd/elbguard-proxy.socket is not generated from deploy/elbguard-proxy.yaml; regenerate it:\n"+
			"  go run ./cmd/elbguard-proxy check --config deploy/elbguard-proxy.yaml --print-socket-unit > deploy/systemd/elbguard-proxy.socket\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestListenStream(t *testing.T) {
	tests := []struct {
		addr, want, wantErr string
	}{
		{":80", "80", ""},
		{"0.0.0.0:80", "0.0.0.0:80", ""},
		{"127.0.0.1:9901", "127.0.0.1:9901", ""},
		{"[::1]:81", "[::1]:81", ""},
		{"[::]:443", "[::]:443", ""},
		{"localhost:80", "", "not a host name"},
		{":0", "", "numeric port from 1 to 65535"},
		{":http", "", "numeric port"},
	}
	for _, tt := range tests {
		got, err := listenStream(tt.addr)
		if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("listenStream(%q) = %q, %v; want %q, %q", tt.addr, got, err, tt.want, tt.wantErr)
		}
	}
}

// systemdSockets is what InheritSockets makes of LISTEN_FDS: real
// listening sockets, as systemd passes them.
func systemdSockets(t *testing.T, addrs ...string) *Sockets {
	t.Helper()
	sk := &Sockets{files: map[string]*os.File{}, systemd: true}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		_ = ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		sk.spare = append(sk.spare, inheritedSocket{file: f, addr: ln.Addr().(*net.TCPAddr)})
	}
	return sk
}

// A proxy that systemd starts with sockets other than the configuration's
// addresses refuses to start and names both lists; a hand-over, or a start
// without systemd, is not concerned.
func TestSystemdSocketsMustMatchConfig(t *testing.T) {
	a, b, adm := freeAddr(t, "127.0.0.31"), freeAddr(t, "127.0.0.32"), freeAddr(t, "127.0.0.33")
	c := freeAddr(t, "127.0.0.34")
	cfg := Config{Admin: adm, Listeners: []ListenerConfig{{Listen: a, Mode: ModeRedirect}, {Listen: b, Mode: ModeRedirect}}}
	tests := []struct {
		name    string
		sockets []string
		cfg     Config
		want    []string // in the error; none: accepted
	}{
		{"match", []string{a, b, adm}, cfg, nil},
		{"admin off", []string{a, b}, Config{Admin: "off", Listeners: cfg.Listeners}, nil},
		{"listener without socket", []string{a, adm}, cfg, []string{"no socket for " + b, "elbguard-proxy.socket: " + a + ", " + adm, "(" + a + ", " + b + ", " + adm + ")", "--print-socket-unit"}},
		{"socket without listener", []string{a, b, adm, c}, cfg, []string{"no listener for " + c}},
		{"both", []string{a, c, adm}, cfg, []string{"no socket for " + b, "no listener for " + c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := systemdSockets(t, tt.sockets...).checkSystemdSockets(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("got %v; want accepted", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v; want refused", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// A hand-over's sockets (a ready pipe) are the previous process's: a
	// reload may change listeners.
	sk := systemdSockets(t, a)
	sk.readyPipe = os.Stdin
	if err := sk.checkSystemdSockets(cfg); err != nil {
		t.Errorf("hand-over: %v; want accepted", err)
	}
	sk = systemdSockets(t, b)
	sk.systemd = false
	if err := sk.checkSystemdSockets(cfg); err != nil {
		t.Errorf("not from systemd: %v; want accepted", err)
	}
}

// check of the installed config warns when the installed .socket unit
// (with its drop-ins) holds other addresses, before a restart refuses.
func TestInstalledSocketDrift(t *testing.T) {
	dir := t.TempDir()
	old := socketUnitDirs
	socketUnitDirs = []string{dir}
	t.Cleanup(func() { socketUnitDirs = old })
	cfg, err := LoadConfig("../deploy/elbguard-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := installedSocketDrift(cfg); got != "" {
		t.Errorf("no unit installed: %q; want no warning", got)
	}
	unit, err := os.ReadFile("../deploy/systemd/elbguard-proxy.socket")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/elbguard-proxy.socket", unit, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := installedSocketDrift(cfg); got != "" {
		t.Errorf("the shipped unit: %q; want no warning", got)
	}
	// A drop-in replaces the list (ListenStream= resets it) with another port.
	if err := os.MkdirAll(dir+"/elbguard-proxy.socket.d", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/elbguard-proxy.socket.d/override.conf", []byte("[Socket]\nListenStream=\nListenStream=80\nListenStream=8081\nListenStream=127.0.0.1:9901\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := installedSocketDrift(cfg)
	if !strings.Contains(got, "holds ListenStream=80,8081,127.0.0.1:9901, the configuration needs 80,81,127.0.0.1:9901") {
		t.Errorf("drift: %q; want both lists named", got)
	}
}
