// Package bench runs elbguard's side-by-side benchmarks, `make bench`:
// nginx, HAProxy and elbguard-proxy configured alike (bench/*.tmpl) in
// front of one shared backend, driven by the PROXY-protocol load generator
// in package load; and the enforcement engine at scale against moto_server,
// beside Cloud Custodian. It returns rows for the table in BENCHMARKS.md.
//
// The binary is internal/bench/cmd/elbguard-bench; scripts/bench.sh
// installs the peers and runs it.
package bench
