#!/usr/bin/env bash
# The elbguard demo on one machine, no AWS account:
#   scripts/demo.sh [all|enforcer|proxy] [elbguard-demo flags...]
# (make demo, make demo-enforcer, make demo-proxy). Builds, for this host,
# bin/elbguard, bin/elbguard-proxy, the enforcer Lambda's bootstrap and the
# demo program, then runs the demo (demo). Tools come from
# `make tools`: moto_server, aws-lambda-rie, haproxy (optional: a Go stand-in
# load balancer replaces it). Logs and configuration of the run are kept in
# .cache/demo/run/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go toolchain named in go.mod (go1.26.8's standard library has known
# vulnerabilities); the go command fetches it from the module proxy once.
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
root=$PWD
part=${1:-all}
case "$part" in
  all|enforcer|proxy) shift || true ;;
  -*) part=all ;;
  *) echo "usage: scripts/demo.sh [all|enforcer|proxy] [elbguard-demo flags]" >&2; exit 2 ;;
esac

export PATH="$root/.cache/bin:$root/.cache/venv/bin:$PATH"
out=$root/.cache/demo
work=$out/run
mkdir -p bin "$out/lambda"
case " $* " in
  *" --workdir "*) ;;            # the caller's own directory (tests)
  *) rm -rf "$work" ;;           # a fresh .cache/demo/run for each run
esac

say() { printf '==> demo: %s\n' "$*"; }
build() { # build OUT PKG [go build flags...]
  local o=$1 pkg=$2; shift 2
  CGO_ENABLED=0 go build -trimpath "$@" -o "$o" "$pkg"
}

began=$(date +%s)
say "go build (host): bin/elbguard bin/elbguard-proxy .cache/demo/lambda/bootstrap .cache/demo/elbguard-demo"
args=(--root "$root" --workdir "$work")
if [ "$part" != proxy ]; then
  build bin/elbguard ./cmd/elbguard
  build "$out/lambda/bootstrap" ./functions/enforcer -tags lambda.norpc
  args+=(--elbguard "$root/bin/elbguard" --bootstrap "$out/lambda/bootstrap")
fi
if [ "$part" != enforcer ]; then
  build bin/elbguard-proxy ./cmd/elbguard-proxy
  args+=(--proxy "$root/bin/elbguard-proxy")
fi
build "$out/elbguard-demo" ./demo/cmd/elbguard-demo
say "built in $(( $(date +%s) - began ))s; running the $part demo"

exec "$out/elbguard-demo" "${args[@]}" "$@" "$part"
