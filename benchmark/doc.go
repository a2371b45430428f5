// Package benchmark runs elbguard's side-by-side benchmarks, `make bench`:
// nginx, HAProxy and elbguard-proxy configured alike (benchmark/configs/*.tmpl) in
// front of one shared backend, driven by the PROXY-protocol load generator
// in package loadgen; and the enforcement engine at scale against moto_server,
// beside Cloud Custodian. It returns rows for the table in BENCHMARKS.md.
//
// The binary is benchmark/cmd/elbguard-benchmark; scripts/benchmark.sh
// installs the peers and runs it.
package benchmark
