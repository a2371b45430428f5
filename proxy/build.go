package proxy

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Build says which elbguard-proxy runs: `elbguard-proxy version` and the
// elbguard_proxy_build_info metric.
type Build struct {
	Version   string // main.version, set at link time (make package); "dev" otherwise
	Commit    string // the VCS revision Go stamped in the binary, "unknown" without one
	GoVersion string // runtime.Version()
}

var (
	buildMu sync.Mutex
	build   = Build{Version: "dev", Commit: vcsRevision(), GoVersion: runtime.Version()}
)

// SetVersion records the version main was linked with, before anything
// reads the build (Main calls it).
func SetVersion(v string) {
	if v == "" {
		return
	}
	buildMu.Lock()
	build.Version = v
	buildMu.Unlock()
}

// CurrentBuild is this binary's Build.
func CurrentBuild() Build {
	buildMu.Lock()
	defer buildMu.Unlock()
	return build
}

func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
