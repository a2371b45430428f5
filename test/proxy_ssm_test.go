//go:build integration

package test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/harness"
)

// TestProxySSMInstallScript runs the ProxyFleet document's install step
// (deploy/ssm/install.sh) on this machine as SSM Agent would, against moto
// for S3, SSM and EC2: it installs the real .deb from S3, writes the config
// from an SSM parameter, waits for the proxy's health, and tags the
// instance ready. Then a re-run changes nothing, an upgrade installs the new
// version, and a broken config parameter fails the run before anything is
// replaced, without the tag. systemd is not PID 1 here, so the test starts
// the installed proxy itself once its config is written, as the unit would.
func TestProxySSMInstallScript(t *testing.T) {
	dpkg := pkgTool(t, "dpkg")
	aws := pkgTool(t, "aws")
	pkgTool(t, "curl") // the script checks health with it
	if os.Geteuid() != 0 {
		harness.Missing(t, "installing a package needs root")
	}
	if _, err := os.Stat("/usr/bin/elbguard-proxy"); err == nil {
		t.Fatalf("/usr/bin/elbguard-proxy already exists: refusing to overwrite a real installation")
	}
	p := buildPackages(t)
	t.Cleanup(func() { _, _ = pkgRun(t, nil, dpkg, "-P", "elbguard-proxy") })

	m := harness.StartMoto(t)
	// The AWS CLI (v1) reads an empty AWS_PROFILE as a profile named "":
	// leave the empty variables out.
	var env []string
	for _, kv := range m.Env() {
		if !strings.HasSuffix(kv, "=") {
			env = append(env, kv)
		}
	}
	awsRun := func(args ...string) string {
		t.Helper()
		res := harness.Run(t, time.Minute, aws, args, harness.WithEnv(env...))
		if res.Code != 0 {
			t.Fatalf("aws %s: exit %d\n%s%s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
		}
		return strings.TrimSpace(res.Stdout)
	}
	awsRun("s3", "mb", "s3://elbguard-packages")
	awsRun("s3", "cp", p.debA, "s3://elbguard-packages/v1/pkg.deb")
	awsRun("s3", "cp", p.debB, "s3://elbguard-packages/v2/pkg.deb")
	ami := awsRun("ec2", "describe-images", "--owners", "amazon", "--query", "Images[0].ImageId", "--output", "text")
	id := awsRun("ec2", "run-instances", "--image-id", ami, "--count", "1", "--instance-type", "t4g.micro",
		"--query", "Instances[0].InstanceId", "--output", "text")

	upstream, _ := pxStartApp(t)
	app, admin := harness.FreeAddr(t), harness.FreeAddr(t)
	cfg := fmt.Sprintf("# from SSM\nadmin: %s\nshutdown_timeout: 2s\naccess_log: {path: \"\"}\nlisteners:\n  - listen: %q\n    mode: http\n    proxy_protocol: required\n    upstream: %s\n",
		admin, app, upstream)
	putConfig := func(body string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "proxy.yaml")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		awsRun("ssm", "put-parameter", "--name", "/elbguard/proxy.yaml", "--type", "String", "--overwrite", "--value", "file://"+f)
	}
	putConfig(cfg)
	readyTag := func() string {
		return awsRun("ec2", "describe-tags", "--filters", "Name=resource-id,Values="+id, "Name=key,Values=elbguard:proxy-ready",
			"--query", "Tags[0].Value", "--output", "text")
	}

	script := filepath.Join(harness.Root(t), "deploy/ssm/install.sh")
	run := func(pkg string, whileRunning func()) (string, int) {
		t.Helper()
		cmd := exec.Command("/bin/sh", script)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		cmd.Env = append(cmd.Env,
			"ELBGUARD_PKG_DEB_AMD64="+pkg, "ELBGUARD_PKG_DEB_ARM64=s3://elbguard-packages/none-arm64.deb",
			"ELBGUARD_PKG_RPM_AMD64=s3://elbguard-packages/none.rpm", "ELBGUARD_PKG_RPM_ARM64=s3://elbguard-packages/none-arm64.rpm",
			"ELBGUARD_CONFIG_PARAMETER=/elbguard/proxy.yaml", "ELBGUARD_HEALTH_URL=http://"+admin+"/healthz",
			"ELBGUARD_HEALTH_TIMEOUT=30", "ELBGUARD_READY_TAG=elbguard:proxy-ready",
			"AWS_SSM_INSTANCE_ID="+id, "AWS_SSM_REGION_NAME="+harness.Region)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if whileRunning != nil {
			whileRunning()
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case werr := <-done:
			_ = werr // a non-zero exit is the exit code below
		case <-time.After(3 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("install.sh still running after 3 min:\n%s", out.String())
		}
		t.Logf("install.sh (%s) took %v, exit %d", pkg, time.Since(start).Round(time.Millisecond), cmd.ProcessState.ExitCode())
		return out.String(), cmd.ProcessState.ExitCode()
	}

	// First run: install, config, health (the test plays systemd and starts
	// the proxy once the SSM config is in place), tag.
	var proxy *exec.Cmd
	startProxy := func() {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if b, _ := os.ReadFile("/etc/elbguard/proxy.yaml"); strings.Contains(string(b), admin) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the SSM config never reached /etc/elbguard/proxy.yaml")
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		proxy = exec.Command("/usr/bin/elbguard-proxy", "--config", "/etc/elbguard/proxy.yaml")
		if err := proxy.Start(); err != nil {
			t.Errorf("start the installed proxy: %v", err)
		}
	}
	t.Cleanup(func() {
		if proxy != nil && proxy.Process != nil {
			_ = proxy.Process.Signal(syscall.SIGKILL)
			_ = proxy.Wait()
		}
	})
	out, code := run("s3://elbguard-packages/v1/pkg.deb", startProxy)
	_, appPort, _ := net.SplitHostPort(app) // the tag carries the config's ports that read the header
	if code != 0 || !strings.Contains(out, "tagged "+id+" elbguard:proxy-ready="+appPort) {
		t.Fatalf("first run: exit %d; want 0 and the instance tagged:\n%s", code, out)
	}
	for _, want := range []string{"installing pkg.deb (not installed -> 1.0.0-1)", "config written from /elbguard/proxy.yaml", "healthy: http://" + admin} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	if got := readyTag(); got != appPort {
		t.Errorf("tag elbguard:proxy-ready = %q after the first run; want %s, the listener's port", got, appPort)
	}
	// (the CLI's text output ends the value with a newline of its own)
	if b, _ := os.ReadFile("/etc/elbguard/proxy.yaml"); strings.TrimRight(string(b), "\n") != strings.TrimRight(cfg, "\n") {
		t.Errorf("/etc/elbguard/proxy.yaml is not the SSM parameter's value:\n%s", b)
	}

	// Re-run (State Manager re-applies): nothing changes.
	out, code = run("s3://elbguard-packages/v1/pkg.deb", nil)
	if code != 0 || !strings.Contains(out, "elbguard-proxy 1.0.0-1 already installed") || !strings.Contains(out, "config unchanged") {
		t.Errorf("re-run: exit %d; want 0, already installed, config unchanged:\n%s", code, out)
	}

	// Upgrade: the new version from S3.
	out, code = run("s3://elbguard-packages/v2/pkg.deb", nil)
	if code != 0 || !strings.Contains(out, "installing pkg.deb (1.0.0-1 -> 1.0.0-2)") {
		t.Errorf("upgrade run: exit %d; want 0 and 1.0.0-1 -> 1.0.0-2:\n%s", code, out)
	}
	if v, _ := pkgRun(t, nil, "/usr/bin/elbguard-proxy", "version"); !strings.HasPrefix(v, "elbguard-proxy 1.0.0-2 (commit ") {
		t.Errorf("after the upgrade run the binary says %q; want 1.0.0-2", v)
	}

	// A broken config in the parameter: refused before it replaces the
	// working one; the run fails (MaxErrors stops the rollout) and does not tag.
	awsRun("ec2", "delete-tags", "--resources", id, "--tags", "Key=elbguard:proxy-ready")
	putConfig(strings.Replace(cfg, "mode: http", "mode: htp", 1))
	out, code = run("s3://elbguard-packages/v2/pkg.deb", nil)
	if code == 0 || !strings.Contains(out, `listeners[0].mode "htp"`) || !strings.Contains(out, "keeps its config") {
		t.Errorf("broken config run: exit %d; want a failure naming listeners[0].mode:\n%s", code, out)
	}
	if b, _ := os.ReadFile("/etc/elbguard/proxy.yaml"); strings.TrimRight(string(b), "\n") != strings.TrimRight(cfg, "\n") {
		t.Errorf("the broken config replaced the working one:\n%s", b)
	}
	if got := readyTag(); got != "None" && got != "" {
		t.Errorf("tag after a failed run = %q; want none", got)
	}
}
