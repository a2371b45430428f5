//go:build integration

// Package test holds elbguard's integration and end-to-end tests. They run
// real peers (moto_server, HAProxy, nginx, the Lambda runtime emulator and
// elbguard's own binaries) through the harness package, and are selected by
// the "integration" build tag: `make test` runs them, `go test ./...` does not.
package test
