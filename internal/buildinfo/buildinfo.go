// Package buildinfo says which build of elbguard is running: the version
// set at link time, the commit the go command recorded, and the Go version.
// Both commands print it for --version, and elbguard-proxy exports it as
// elbguard_proxy_build_info.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time:
// -ldflags "-X github.com/elbguard/elbguard/internal/buildinfo.Version=1.2.3".
// Without it, the module version the go command recorded, or "dev".
var Version = ""

// Commit is set at build time as Version is (make build does both); without
// it, the VCS revision the go command recorded (not with -buildvcs=false).
var Commit = ""

// Info is one build's identity.
type Info struct {
	Version   string // "1.2.3", or "dev" for a build from a work tree
	Commit    string // the VCS revision, 12 hex digits, "+dirty" when modified; "unknown" when not recorded
	GoVersion string // runtime.Version()
	Platform  string // GOOS/GOARCH
}

// Read returns the running build's identity.
func Read() Info {
	info := Info{Version: Version, Commit: cmpOr(Commit, "unknown"), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok && info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if !ok {
		return info
	}
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if Commit != "" {
				continue
			}
			info.Commit = s.Value
			if len(info.Commit) > 12 {
				info.Commit = info.Commit[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && Commit == "" && info.Commit != "unknown" {
		info.Commit += "+dirty"
	}
	return info
}

// String is the --version line after the program's name:
// "1.2.3 (commit 0123456789ab, go1.27.3 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
