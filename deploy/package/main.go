// Command package builds the elbguard-proxy .deb and .rpm packages (make
// package) with nfpm used as a library: for each architecture (linux/amd64,
// linux/arm64) a static binary with the version from git describe, then one
// package per format holding
//
//	/usr/bin/elbguard-proxy
//	/usr/lib/systemd/system/elbguard-proxy.service   deploy/systemd/
//	/usr/lib/systemd/system/elbguard-proxy.socket    generated from deploy/elbguard-proxy.yaml (socketUnit)
//	/etc/elbguard/proxy.yaml                         deploy/elbguard-proxy.yaml, a config file no upgrade overwrites
//
// with the maintainer scripts in scripts/, and a SHA256SUMS file. It is a
// module of its own so that nfpm and its dependencies stay out of the
// product's go.mod.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	root    string   // repository root
	out     string   // output directory
	version string   // "1.2.3" or "1.2.3-4.gabc"; empty: git describe
	arches  []string // GOARCH values
	formats []string // nfpm packagers
}

var supportedArches = map[string]bool{"amd64": true, "arm64": true}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	var o options
	var arches, formats string
	fs.StringVar(&o.root, "root", "../..", "repository root")
	fs.StringVar(&o.out, "out", "../../dist/package", "output directory")
	fs.StringVar(&o.version, "version", "", "package version, e.g. 1.2.3 or 1.2.3-4 (default: from git describe)")
	fs.StringVar(&arches, "arch", "amd64,arm64", "comma-separated architectures (amd64, arm64)")
	fs.StringVar(&formats, "formats", "deb,rpm", "comma-separated package formats (deb, rpm)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	for _, a := range strings.Split(arches, ",") {
		if !supportedArches[a] {
			return o, fmt.Errorf("-arch %q: supported are amd64, arm64", a)
		}
		o.arches = append(o.arches, a)
	}
	for _, f := range strings.Split(formats, ",") {
		if f != "deb" && f != "rpm" {
			return o, fmt.Errorf("-formats %q: supported are deb, rpm", f)
		}
		o.formats = append(o.formats, f)
	}
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.root, err = filepath.Abs(o.root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if o.out, err = filepath.Abs(o.out); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	if o.version == "" {
		if o.version, err = gitVersion(o.root); err != nil {
			return err
		}
	}
	version, release, err := splitVersion(o.version)
	if err != nil {
		return err
	}
	mtime := commitTime(o.root)
	if err := os.MkdirAll(o.out, 0o755); err != nil { //nolint:gosec // published packages are public
		return fmt.Errorf("make %s: %w", o.out, err)
	}
	tmp, err := os.MkdirTemp("", "elbguard-package-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	socket, err := socketUnit(o.root, tmp)
	if err != nil {
		return err
	}
	var built []string
	for _, arch := range o.arches {
		work := filepath.Join(tmp, arch)
		bin := filepath.Join(work, "elbguard-proxy")
		full := version
		if release != "" {
			full += "-" + release
		}
		if err := buildBinary(o.root, arch, full, bin); err != nil {
			return err
		}
		scripts, err := renderScripts(filepath.Join(o.root, "deploy/package/scripts"), filepath.Join(work, "scripts"), arch)
		if err != nil {
			return err
		}
		for _, format := range o.formats {
			info := packageInfo(o.root, bin, socket, scripts, arch, version, release, mtime)
			path, err := writePackage(info, format, o.out)
			if err != nil {
				return err
			}
			built = append(built, path)
		}
	}
	sums, err := writeSums(o.out, built)
	if err != nil {
		return err
	}
	for _, p := range built {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		fmt.Fprintf(stdout, "%s  %d bytes\n", p, st.Size())
	}
	fmt.Fprintln(stdout, sums)
	return nil
}

// describeRE is `git describe --tags --long` of a vX.Y.Z tag.
var describeRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)-(\d+)-g([0-9a-f]+)(-dirty)?$`)

// gitVersion turns git describe into "X.Y.Z-N.gHASH": the last vX.Y.Z tag
// (0.0.0 when there is none), then the commits since it, so that every
// commit's package upgrades the previous one.
func gitVersion(root string) (string, error) {
	out, err := gitOut(root, "describe", "--tags", "--long", "--dirty", "--match", "v[0-9]*")
	if err == nil {
		if m := describeRE.FindStringSubmatch(out); m != nil {
			v := m[1] + "-" + m[2] + ".g" + m[3]
			if m[4] != "" {
				v += ".dirty"
			}
			return v, nil
		}
	}
	count, err := gitOut(root, "rev-list", "--count", "HEAD")
	if err != nil {
		return "", fmt.Errorf("version from git (pass -version): %w", err)
	}
	hash, err := gitOut(root, "describe", "--always", "--dirty")
	if err != nil {
		return "", fmt.Errorf("version from git (pass -version): %w", err)
	}
	return "0.0.0-" + count + ".g" + strings.ReplaceAll(hash, "-dirty", ".dirty"), nil
}

var versionRE = regexp.MustCompile(`^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+))?$`)

// splitVersion splits "1.2.3-4.gabc" into the upstream version and the
// package release (deb revision, rpm Release), which may not hold "-".
func splitVersion(v string) (string, string, error) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return "", "", fmt.Errorf("version %q: want X.Y.Z or X.Y.Z-RELEASE (release: letters, digits, dots)", v)
	}
	return m[1], m[2], nil
}

func gitOut(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...) //nolint:gosec,noctx // fixed git subcommands of this program
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitTime is the time of HEAD, the files' mtime in the packages (the same
// commit gives the same package contents).
func commitTime(root string) time.Time {
	out, err := gitOut(root, "log", "-1", "--format=%ct")
	if err != nil {
		return time.Unix(0, 0).UTC()
	}
	sec, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Unix(0, 0).UTC()
	}
	return time.Unix(sec, 0).UTC()
}

// buildBinary compiles the static elbguard-proxy for linux/arch.
func buildBinary(root, arch, version, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/elbguard/elbguard/internal/buildinfo.Version="+version, "-o", out, "./cmd/elbguard-proxy") //nolint:gosec,noctx // version is validated by splitVersion
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build linux/%s: %w\n%s", arch, err, b)
	}
	return nil
}

// socketUnit generates the .socket unit from the package's config with
// `elbguard-proxy check --print-socket-unit` (built for this machine), so
// that the unit's addresses are the config's listeners, and refuses to
// build when deploy/systemd/elbguard-proxy.socket, the copy in the
// repository, says otherwise.
func socketUnit(root, work string) (string, error) {
	cmd := exec.Command("go", "run", "./cmd/elbguard-proxy", "check", "--config", "deploy/elbguard-proxy.yaml", "--print-socket-unit") //nolint:gosec,noctx // fixed arguments
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	unit, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("generate the socket unit from deploy/elbguard-proxy.yaml: %w\n%s", err, stderr.String())
	}
	checked, err := os.ReadFile(filepath.Join(root, "deploy/systemd/elbguard-proxy.socket")) //nolint:gosec // the repository's own unit
	if err != nil {
		return "", fmt.Errorf("read the socket unit: %w", err)
	}
	if string(checked) != string(unit) {
		return "", errors.New("deploy/systemd/elbguard-proxy.socket is not the unit of deploy/elbguard-proxy.yaml's listeners; regenerate it: " +
			"go run ./cmd/elbguard-proxy check --config deploy/elbguard-proxy.yaml --print-socket-unit > deploy/systemd/elbguard-proxy.socket")
	}
	path := filepath.Join(work, "elbguard-proxy.socket")
	if err := os.WriteFile(path, unit, 0o644); err != nil { //nolint:gosec // a unit file is public
		return "", fmt.Errorf("write the socket unit: %w", err)
	}
	return path, nil
}

// renderScripts writes the maintainer scripts with the architecture filled in.
func renderScripts(src, dst, arch string) (nfpm.Scripts, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil { //nolint:gosec // a temporary work directory
		return nfpm.Scripts{}, fmt.Errorf("make %s: %w", dst, err)
	}
	render := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(src, name)) //nolint:gosec // the repository's own scripts
		if err != nil {
			return "", fmt.Errorf("read script: %w", err)
		}
		p := filepath.Join(dst, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "@GOARCH@", arch)), 0o755); err != nil { //nolint:gosec // a maintainer script is executable
			return "", fmt.Errorf("write script: %w", err)
		}
		return p, nil
	}
	var s nfpm.Scripts
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"preinstall.sh", &s.PreInstall}, {"postinstall.sh", &s.PostInstall}, {"preremove.sh", &s.PreRemove}, {"postremove.sh", &s.PostRemove}} {
		if *f.dst, err = render(f.name); err != nil {
			return s, err
		}
	}
	return s, nil
}

func packageInfo(root, bin, socket string, scripts nfpm.Scripts, arch, version, release string, mtime time.Time) *nfpm.Info {
	unitDir := "/usr/lib/systemd/system/"
	return &nfpm.Info{
		Name:          "elbguard-proxy",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		Release:       release,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "elbguard <elbguard@users.noreply.github.com>",
		Vendor:        "elbguard",
		Homepage:      "https://github.com/elbguard/elbguard",
		License:       "Apache-2.0",
		Description: "PROXY protocol front for apps behind AWS load balancers\n" +
			"Decodes PROXY v1/v2 headers from a Classic ELB or an NLB, redirects HTTP to HTTPS,\n" +
			"reverse-proxies HTTP and WebSockets with the real client address. Restarts and\n" +
			"upgrades keep the listening sockets (systemd socket activation and hand-over).",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Umask: 0o022,
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/elbguard-proxy", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: filepath.Join(root, "deploy/systemd/elbguard-proxy.service"), Destination: unitDir + "elbguard-proxy.service",
					FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: socket, Destination: unitDir + "elbguard-proxy.socket",
					FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Destination: "/etc/elbguard", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: filepath.Join(root, "deploy/elbguard-proxy.yaml"), Destination: "/etc/elbguard/proxy.yaml",
					Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: scripts,
			RPM:     nfpm.RPM{Group: "System Environment/Daemons", Summary: "PROXY protocol front for apps behind AWS load balancers"},
		},
	}
}

// writePackage builds one package into dir and returns its path.
func writePackage(info *nfpm.Info, format, dir string) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", fmt.Errorf("packager %s: %w", format, err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("prepare %s/%s: %w", format, info.Arch, err)
	}
	path := filepath.Join(dir, pkgr.ConventionalFileName(info))
	tmp := path + ".tmp"
	f, err := os.Create(tmp) //nolint:gosec // our output directory
	if err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	err = pkgr.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("package %s/%s: %w", format, info.Arch, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("rename %s: %w", tmp, err)
	}
	return path, nil
}

// writeSums writes SHA256SUMS (sha256sum -c format) for the packages.
func writeSums(dir string, paths []string) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("no package built")
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		f, err := os.Open(p) //nolint:gosec // a package we just wrote
		if err != nil {
			return "", fmt.Errorf("open %s: %w", p, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		_ = f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), filepath.Base(p))
	}
	out := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil { //nolint:gosec // public checksums
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	return out, nil
}
