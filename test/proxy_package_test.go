//go:build integration

package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elbguard/elbguard/test/harness"
)

// pkgBuild holds the packages TestProxyPackage* build once per test binary.
type pkgBuild struct {
	dir           string
	debA, debB    string // amd64 .deb, versions 1.0.0-1 and 1.0.0-2
	debArm, rpmA  string // arm64 .deb, amd64 .rpm (1.0.0-1)
	rpmArm        string
	sums          string
	buildDuration time.Duration
}

var (
	pkgOnce sync.Once
	pkgRes  pkgBuild
	pkgErr  string
)

// buildPackages runs deploy/package (what make package runs) for version
// 1.0.0-1 (amd64 and arm64, deb and rpm) and 1.0.0-2 (amd64 deb).
func buildPackages(t *testing.T) pkgBuild {
	t.Helper()
	pkgOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elbguard-packages-")
		if err != nil {
			pkgErr = err.Error()
			return
		}
		root := harness.Root(t)
		run := func(out, version, arch, formats string) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "run", ".", "-root", root, "-out", out, "-version", version, "-arch", arch, "-formats", formats)
			cmd.Dir = filepath.Join(root, "deploy/package")
			if b, err := cmd.CombinedOutput(); err != nil {
				pkgErr = "deploy/package " + version + ": " + err.Error() + "\n" + string(b)
				return false
			}
			return true
		}
		start := time.Now()
		if !run(filepath.Join(dir, "v1"), "1.0.0-1", "amd64,arm64", "deb,rpm") {
			return
		}
		pkgRes.buildDuration = time.Since(start)
		if !run(filepath.Join(dir, "v2"), "1.0.0-2", "amd64", "deb") {
			return
		}
		pkgRes.dir = dir
		pkgRes.debA = filepath.Join(dir, "v1", "elbguard-proxy_1.0.0-1_amd64.deb")
		pkgRes.debArm = filepath.Join(dir, "v1", "elbguard-proxy_1.0.0-1_arm64.deb")
		pkgRes.rpmA = filepath.Join(dir, "v1", "elbguard-proxy-1.0.0-1.x86_64.rpm")
		pkgRes.rpmArm = filepath.Join(dir, "v1", "elbguard-proxy-1.0.0-1.aarch64.rpm")
		pkgRes.sums = filepath.Join(dir, "v1", "SHA256SUMS")
		pkgRes.debB = filepath.Join(dir, "v2", "elbguard-proxy_1.0.0-2_amd64.deb")
	})
	if pkgErr != "" {
		t.Fatal(pkgErr)
	}
	return pkgRes
}

func pkgTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		harness.Missing(t, name+" not installed (scripts/tools.sh installs rpm; dpkg comes with Debian)")
	}
	return p
}

func pkgRun(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	res := harness.Run(t, 3*time.Minute, name, args, harness.WithEnv(env...))
	return res.Stdout + res.Stderr, res.Code
}

// TestProxyPackageContents inspects the four packages without installing
// them: files, modes, the config file marked as such, architecture,
// version, scripts, and SHA256SUMS.
func TestProxyPackageContents(t *testing.T) {
	dpkgDeb, rpm := pkgTool(t, "dpkg-deb"), pkgTool(t, "rpm")
	p := buildPackages(t)
	t.Logf("packages built in %v", p.buildDuration.Round(time.Millisecond))
	want := []string{"/usr/bin/elbguard-proxy", "/usr/lib/systemd/system/elbguard-proxy.service",
		"/usr/lib/systemd/system/elbguard-proxy.socket", "/etc/elbguard/proxy.yaml"}
	for _, tt := range []struct{ deb, arch string }{{p.debA, "amd64"}, {p.debArm, "arm64"}} {
		list, code := pkgRun(t, nil, dpkgDeb, "-c", tt.deb)
		if code != 0 {
			t.Fatalf("dpkg-deb -c %s: %s", tt.deb, list)
		}
		for _, f := range want {
			if !strings.Contains(list, "."+f+"\n") {
				t.Errorf("%s lacks %s:\n%s", filepath.Base(tt.deb), f, list)
			}
		}
		if !strings.Contains(list, "-rwxr-xr-x root/root") {
			t.Errorf("%s: binary not 0755 root:\n%s", filepath.Base(tt.deb), list)
		}
		info, _ := pkgRun(t, nil, dpkgDeb, "-I", tt.deb)
		for _, w := range []string{"Architecture: " + tt.arch, "Version: 1.0.0-1", "Package: elbguard-proxy", "preinst", "postinst", "prerm", "postrm"} {
			if !strings.Contains(info, w) {
				t.Errorf("dpkg-deb -I %s lacks %q:\n%s", filepath.Base(tt.deb), w, info)
			}
		}
		conf, _ := pkgRun(t, nil, dpkgDeb, "-f", tt.deb, "Architecture")
		if strings.TrimSpace(conf) != tt.arch {
			t.Errorf("Architecture %q; want %s", conf, tt.arch)
		}
		cf, _ := pkgRun(t, nil, "sh", "-c", dpkgDeb+" --ctrl-tarfile "+tt.deb+" | tar -xO ./conffiles")
		if strings.TrimSpace(cf) != "/etc/elbguard/proxy.yaml" {
			t.Errorf("conffiles = %q; want /etc/elbguard/proxy.yaml (an upgrade keeps local edits)", cf)
		}
		pre, _ := pkgRun(t, nil, "sh", "-c", dpkgDeb+" --ctrl-tarfile "+tt.deb+" | tar -xO ./preinst")
		if !strings.Contains(pre, "want="+tt.arch) {
			t.Errorf("preinst of %s does not check for %s", filepath.Base(tt.deb), tt.arch)
		}
	}
	for _, tt := range []struct{ rpm, arch string }{{p.rpmA, "x86_64"}, {p.rpmArm, "aarch64"}} {
		list, code := pkgRun(t, nil, rpm, "-qpl", tt.rpm)
		if code != 0 {
			t.Fatalf("rpm -qpl %s: %s", tt.rpm, list)
		}
		for _, f := range want {
			if !strings.Contains(list, f+"\n") {
				t.Errorf("%s lacks %s:\n%s", filepath.Base(tt.rpm), f, list)
			}
		}
		cfg, _ := pkgRun(t, nil, rpm, "-qpc", tt.rpm)
		if strings.TrimSpace(cfg) != "/etc/elbguard/proxy.yaml" {
			t.Errorf("rpm -qpc = %q; want /etc/elbguard/proxy.yaml", cfg)
		}
		q, _ := pkgRun(t, nil, rpm, "-qp", "--qf", "%{ARCH} %{VERSION}-%{RELEASE} [%{FILEFLAGS:fflags} %{FILENAMES}\n]", tt.rpm)
		if !strings.HasPrefix(q, tt.arch+" 1.0.0-1") || !strings.Contains(q, "cn /etc/elbguard/proxy.yaml") {
			t.Errorf("rpm query %q; want arch %s, version 1.0.0-1, proxy.yaml %%config(noreplace)", q, tt.arch)
		}
		scripts, _ := pkgRun(t, nil, rpm, "-qp", "--scripts", tt.rpm)
		for _, w := range []string{"preinstall scriptlet", "postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
			if !strings.Contains(scripts, w) {
				t.Errorf("rpm --scripts lacks %s", w)
			}
		}
	}
	out, code := pkgRun(t, nil, "sh", "-c", "cd "+filepath.Dir(p.sums)+" && sha256sum -c SHA256SUMS")
	if code != 0 || strings.Count(out, ": OK") != 4 {
		t.Errorf("sha256sum -c SHA256SUMS: %s; want 4 OK", out)
	}
	for _, f := range []string{p.debA, p.debArm, p.rpmA, p.rpmArm} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SUMMARY package %s: %d bytes", filepath.Base(f), st.Size())
	}
}

// TestProxyPackageInstall installs the amd64 .deb on this machine (root),
// checks the files and the unit, upgrades to 1.0.0-2 with an edited config
// (kept), removes and purges it; then the arm64 .deb and a fake unsupported
// distribution are refused with a message and nothing installed.
func TestProxyPackageInstall(t *testing.T) {
	dpkg := pkgTool(t, "dpkg")
	if os.Geteuid() != 0 {
		harness.Missing(t, "installing a package needs root")
	}
	if _, err := os.Stat("/usr/bin/elbguard-proxy"); err == nil {
		t.Fatalf("/usr/bin/elbguard-proxy already exists: refusing to overwrite a real installation")
	}
	p := buildPackages(t)
	purge := func() { _, _ = pkgRun(t, nil, dpkg, "-P", "elbguard-proxy") }
	t.Cleanup(purge)
	status := func() string {
		out, _ := pkgRun(t, nil, "dpkg-query", "-W", "-f=${Status} ${Version}", "elbguard-proxy")
		return out
	}

	start := time.Now()
	out, code := pkgRun(t, nil, dpkg, "-i", p.debA)
	installTook := time.Since(start)
	if code != 0 {
		t.Fatalf("dpkg -i %s: exit %d\n%s", p.debA, code, out)
	}
	if !strings.Contains(out, "systemd is not running") {
		t.Errorf("postinst without systemd as PID 1 should say so; got:\n%s", out)
	}
	if s := status(); s != "install ok installed 1.0.0-1" {
		t.Errorf("status %q; want installed 1.0.0-1", s)
	}
	for _, f := range []string{"/usr/bin/elbguard-proxy", "/usr/lib/systemd/system/elbguard-proxy.service",
		"/usr/lib/systemd/system/elbguard-proxy.socket", "/etc/elbguard/proxy.yaml"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	if v, _ := pkgRun(t, nil, "/usr/bin/elbguard-proxy", "version"); !strings.HasPrefix(v, "elbguard-proxy 1.0.0-1 (commit ") {
		t.Errorf("installed binary says %q; want elbguard-proxy 1.0.0-1", v)
	}
	if out, code := pkgRun(t, nil, "/usr/bin/elbguard-proxy", "check", "--config", "/etc/elbguard/proxy.yaml"); code != 0 {
		t.Errorf("check of the packaged config: exit %d: %s", code, out)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, code := pkgRun(t, nil, analyze, "verify", "/usr/lib/systemd/system/elbguard-proxy.service",
			"/usr/lib/systemd/system/elbguard-proxy.socket"); code != 0 {
			t.Errorf("systemd-analyze verify: exit %d\n%s", code, out)
		}
	} else {
		harness.Missing(t, "systemd-analyze not installed")
	}

	// An operator's edit survives the upgrade.
	conf, err := os.ReadFile("/etc/elbguard/proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(conf), "shutdown_timeout: 30s", "shutdown_timeout: 45s", 1) + "# edited by the operator\n"
	if err := os.WriteFile("/etc/elbguard/proxy.yaml", []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out, code = pkgRun(t, nil, dpkg, "-i", p.debB)
	upgradeTook := time.Since(start)
	if code != 0 {
		t.Fatalf("upgrade to 1.0.0-2: exit %d\n%s", code, out)
	}
	if s := status(); s != "install ok installed 1.0.0-2" {
		t.Errorf("status after upgrade %q; want installed 1.0.0-2", s)
	}
	if got, _ := os.ReadFile("/etc/elbguard/proxy.yaml"); string(got) != edited {
		t.Errorf("the upgrade replaced the edited config:\n%s", got)
	}
	if v, _ := pkgRun(t, nil, "/usr/bin/elbguard-proxy", "version"); !strings.HasPrefix(v, "elbguard-proxy 1.0.0-2 (commit ") {
		t.Errorf("after the upgrade the binary says %q; want 1.0.0-2", v)
	}

	// Remove keeps the config (a conffile), purge removes it.
	if out, code := pkgRun(t, nil, dpkg, "-r", "elbguard-proxy"); code != 0 {
		t.Fatalf("dpkg -r: exit %d\n%s", code, out)
	}
	for _, f := range []string{"/usr/bin/elbguard-proxy", "/usr/lib/systemd/system/elbguard-proxy.service", "/usr/lib/systemd/system/elbguard-proxy.socket"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("after dpkg -r %s is still there", f)
		}
	}
	if _, err := os.Stat("/etc/elbguard/proxy.yaml"); err != nil {
		t.Errorf("dpkg -r removed the config (only a purge should): %v", err)
	}
	if out, code := pkgRun(t, nil, dpkg, "-P", "elbguard-proxy"); code != 0 {
		t.Fatalf("dpkg -P: exit %d\n%s", code, out)
	}
	if _, err := os.Stat("/etc/elbguard"); err == nil {
		t.Errorf("after dpkg -P /etc/elbguard is still there")
	}
	if s := status(); strings.Contains(s, "installed") && !strings.Contains(s, "not-installed") {
		t.Errorf("status after purge %q; want not installed", s)
	}

	// Unsupported architecture (forced past dpkg's own check) and
	// distribution: refused by preinst with a clear message, nothing left.
	bad := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(bad, []byte("ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"arm64 package on amd64", nil, []string{"-i", "--force-architecture", p.debArm}, "this package is for arm64, this machine is amd64"},
		{"unsupported distribution", []string{"ELBGUARD_OS_RELEASE=" + bad}, []string{"-i", p.debA}, "unsupported distribution: Alpine Linux v3.20"},
	} {
		out, code := pkgRun(t, tt.env, dpkg, tt.args...)
		if code == 0 || !strings.Contains(out, tt.want) || !strings.Contains(out, "nothing was installed") {
			t.Errorf("%s: exit %d; want a failure saying %q and \"nothing was installed\":\n%s", tt.name, code, tt.want, out)
		}
		if _, err := os.Stat("/usr/bin/elbguard-proxy"); err == nil {
			t.Errorf("%s: /usr/bin/elbguard-proxy exists after the refused install", tt.name)
		}
		if s := status(); strings.Contains(s, " installed") {
			t.Errorf("%s: package status %q; want not installed", tt.name, s)
		}
		purge()
	}
	t.Logf("SUMMARY package install: dpkg -i %v, upgrade with an edited config %v, remove and purge clean", installTook.Round(time.Millisecond), upgradeTook.Round(time.Millisecond))
}
