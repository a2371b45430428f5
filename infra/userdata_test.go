package infra

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/proxy"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// repoProxyFiles reads the shared unit and config from the repository.
func repoProxyFiles(t *testing.T) (unit, config string) {
	t.Helper()
	unit, config, err := ReadProxyFiles("..")
	if err != nil {
		t.Fatalf("ReadProxyFiles: %v", err)
	}
	return unit, config
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseProxyInstall(t *testing.T) {
	unit, config := repoProxyFiles(t)
	fixtureUnit, fixtureConfig := readTestdata(t, "proxy.service"), readTestdata(t, "proxy.yaml")
	tests := []struct {
		name           string
		unit, config   string
		wantBinary     string
		wantConfigPath string
		wantUser       string
		wantApp        string
	}{
		{name: "repository files (DynamicUser)", unit: unit, config: config,
			wantBinary: "/usr/bin/elbguard-proxy", wantConfigPath: "/etc/elbguard/proxy.yaml", wantApp: "127.0.0.1:8080"},
		{name: "fixture: fixed user, continuation line", unit: fixtureUnit, config: fixtureConfig,
			wantBinary: "/usr/local/bin/elbguard-proxy", wantConfigPath: "/etc/elbguard/elbguard-proxy.yaml", wantUser: "elbguard", wantApp: "127.0.0.1:8080"},
		{name: "--config= form and exec prefix", unit: "[Service]\nExecStart=-/opt/bin/p --config=/etc/p.yaml\n", config: fixtureConfig,
			wantBinary: "/opt/bin/p", wantConfigPath: "/etc/p.yaml", wantApp: "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProxyInstall(tt.unit, tt.config)
			if err != nil {
				t.Fatalf("parseProxyInstall: %v", err)
			}
			if got.binaryPath != tt.wantBinary || got.configPath != tt.wantConfigPath || got.user != tt.wantUser || got.appListen != tt.wantApp {
				t.Errorf("got binary=%q config=%q user=%q app=%q; want %q %q %q %q", got.binaryPath, got.configPath, got.user, got.appListen,
					tt.wantBinary, tt.wantConfigPath, tt.wantUser, tt.wantApp)
			}
		})
	}
}

func TestParseProxyInstallErrors(t *testing.T) {
	unit, config := readTestdata(t, "proxy.service"), readTestdata(t, "proxy.yaml")
	tests := []struct {
		name, unit, config, wantErr string
	}{
		{name: "not a unit", unit: "ExecStart=/bin/p\n", config: config, wantErr: "not a systemd unit"},
		{name: "no ExecStart", unit: "[Service]\nUser=x\n", config: config, wantErr: "no ExecStart="},
		{name: "no --config", unit: "[Service]\nExecStart=/usr/bin/p\n", config: config, wantErr: "--config /absolute/path"},
		{name: "relative program", unit: "[Service]\nExecStart=p --config /etc/p.yaml\n", config: config, wantErr: "absolute program path"},
		{name: "yaml syntax", unit: unit, config: "listeners: [", wantErr: "deploy/elbguard-proxy.yaml"},
		{name: "no port 80", unit: unit, config: "listeners:\n  - {listen: ':81', mode: http, upstream: 'http://127.0.0.1:8080'}\n", wantErr: "want a listener on :80"},
		{name: "no app upstream", unit: unit, config: "listeners:\n  - {listen: ':80', mode: redirect}\n  - {listen: ':81', mode: tcp, upstream: '127.0.0.1:9'}\n", wantErr: "an http listener on :81"},
		{name: "upstream without port", unit: unit, config: "listeners:\n  - {listen: ':80', mode: redirect}\n  - {listen: ':81', mode: http, upstream: 'http://app'}\n", wantErr: "want http://host:port"},
		{name: "bad listen", unit: unit, config: "listeners:\n  - {listen: '80', mode: redirect}\n", wantErr: "listen \"80\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProxyInstall(tt.unit, tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseProxyInstall() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// renderScript is the user data as the instance runs it, for a fixed
// download path.
func renderScript(t *testing.T, unit, config string) string {
	t.Helper()
	in, err := parseProxyInstall(unit, config)
	if err != nil {
		t.Fatalf("parseProxyInstall: %v", err)
	}
	cmds, err := installCommands(in, "/tmp/elbguard-proxy.rpm")
	if err != nil {
		t.Fatalf("installCommands: %v", err)
	}
	lines := append([]string{"#!/bin/bash"}, userDataPreamble...)
	lines = append(lines, "aws s3 cp 's3://bucket/key' '/tmp/elbguard-proxy.rpm'")
	return strings.Join(append(lines, cmds...), "\n") + "\n"
}

var heredoc = regexp.MustCompile(`(?s)cat > (\S+) <<'` + heredocEnd + `'\n(.*?)` + heredocEnd + `\n`)

// scriptFiles extracts the files a user data script writes with heredocs.
func scriptFiles(script string) map[string]string {
	files := map[string]string{}
	for _, m := range heredoc.FindAllStringSubmatch(script, -1) {
		files[m[1]] = m[2]
	}
	return files
}

func TestInstallCommandsGolden(t *testing.T) {
	got := renderScript(t, readTestdata(t, "proxy.service"), readTestdata(t, "proxy.yaml"))
	golden := filepath.Join("testdata", "userdata.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readTestdata(t, "userdata.golden")
	if got != want {
		t.Errorf("user data differs from %s (go test -run TestInstallCommandsGolden -update to accept):\ngot:\n%s", golden, got)
	}
}

// TestInstallCommandsInstallRepositoryFiles checks that the user data built
// from the repository's unit and config writes them byte for byte, that the
// proxy accepts the config it writes, that the demo app runs where the config
// sends the app listener, and that bash can parse the script.
func TestInstallCommandsInstallRepositoryFiles(t *testing.T) {
	unit, config := repoProxyFiles(t)
	script := renderScript(t, unit, config)
	files := scriptFiles(script)
	want := map[string]string{ // the package installs the proxy's unit
		"/etc/elbguard/proxy.yaml":           config,
		demoAppPath:                          demoApp,
		"/etc/systemd/system/" + demoAppUnit: demoAppUnitText("127.0.0.1:8080"),
	}
	for path, content := range want {
		if got, ok := files[path]; !ok || got != content {
			t.Errorf("file %s written by user data: got %d bytes (present %v); want the %d bytes of the source", path, len(got), ok, len(content))
		}
	}
	if len(files) != len(want) {
		t.Errorf("user data writes %d files; want %d", len(files), len(want))
	}
	if _, err := proxy.ParseConfig([]byte(files["/etc/elbguard/proxy.yaml"])); err != nil {
		t.Errorf("proxy.ParseConfig(config written by user data) = %v; want nil", err)
	}
	for _, line := range []string{
		"rpm -U --replacepkgs /tmp/elbguard-proxy.rpm",
		"systemctl enable --now " + demoAppUnit + " " + proxySocket + " " + proxyUnit,
		"systemctl reload-or-restart " + proxyUnit,
	} {
		if !strings.Contains(script, "\n"+line+"\n") {
			t.Errorf("user data lacks the line %q", line)
		}
	}
	if strings.Contains(script, "useradd") {
		t.Errorf("user data creates a user although the unit uses DynamicUser=yes")
	}
	if !strings.Contains(files["/etc/systemd/system/"+demoAppUnit], "--listen 127.0.0.1:8080") {
		t.Errorf("demo app unit does not listen on the proxy's upstream 127.0.0.1:8080")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	cmd := exec.Command(bash, "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bash -n on the user data: %v\n%s", err, out)
	}
}

func TestInstallCommandsRefusesHeredocTerminator(t *testing.T) {
	in, err := parseProxyInstall(readTestdata(t, "proxy.service"), readTestdata(t, "proxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in.config += "\n# " + heredocEnd + "\n"
	if _, err := installCommands(in, "/tmp/p"); !errors.Is(err, errHeredoc) {
		t.Fatalf("installCommands() error = %v; want %v", err, errHeredoc)
	}
}
