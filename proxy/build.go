package proxy

import "github.com/elbguard/elbguard/internal/buildinfo"

// Build says which elbguard-proxy runs: `elbguard-proxy version` and the
// elbguard_proxy_build_info metric. It is internal/buildinfo's, the same
// for both commands.
type Build struct {
	Version   string // set at link time (make build, make package); "dev" otherwise
	Commit    string // the commit stamped at link time or by the go command; "unknown" without one
	GoVersion string // runtime.Version()
}

// CurrentBuild is this binary's Build.
func CurrentBuild() Build {
	i := buildinfo.Read()
	return Build{Version: i.Version, Commit: i.Commit, GoVersion: i.GoVersion}
}
