#!/usr/bin/env bash
# make bench / make bench-quick: elbguard-proxy side by side with nginx and HAProxy, and the
# enforcement engine at scale beside Cloud Custodian, on this machine, in one run.
#
#   scripts/benchmark.sh            full run (~5-6 min on 2 cores); rewrites the generated section of BENCHMARKS.md
#   scripts/benchmark.sh --quick    ~1 s per scenario, small N (CI: checks every scenario still produces a number)
#   scripts/benchmark.sh [--quick] [elbguard-benchmark run flags...]   e.g. -only proxy, -rounds 5, -out DIR
#                               (a run with flags leaves BENCHMARKS.md alone)
#   scripts/benchmark.sh -scenario churn -rounds 3   only the proxy scenarios whose name contains "churn"
#                               (case-insensitive; implies -only proxy; idle memory and calibration only when they match)
#   scripts/benchmark.sh --baseline REV -only proxy -proxies elbguard-proxy,baseline -rounds 6
#                               elbguard-proxy built from git revision REV runs beside this checkout's, same
#                               harness, same run, rounds interleaved (column "baseline"): the no-regression figure
#   BENCH_BIN=DIR scripts/benchmark.sh ...           build the binaries into DIR instead of .cache/benchmark/bin
#                               (a second checkout sharing .cache does not replace binaries another run uses)
#
# What it does, each step saying so and safe to run twice:
#   1. scripts/tools.sh (as `make tools`): apt nginx-light, haproxy, wrk (root only, when missing);
#      moto_server and aws-lambda-rie; Cloud Custodian (c7n) into .cache/bench-venv from requirements-bench.txt
#   2. go build into .cache/benchmark/bin (or $BENCH_BIN): elbguard-benchmark, elbguard-proxy, elbguard (CLI), the enforcer bootstrap
#      for this host (cold start under aws-lambda-rie) and for linux/arm64 (the size we deploy)
#   3. full run (no flags) only: Go micro-benchmarks of the hot paths (go test -bench -benchmem) into .cache/benchmark/micro.txt
#   4. .cache/benchmark/bin/elbguard-benchmark run ...: results in .cache/benchmark/results.{md,json}, table on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go toolchain named in go.mod (go1.26.8's standard library has known
# vulnerabilities); the go command fetches it from the module proxy once.
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
root=$PWD
cache=$root/.cache
bin=${BENCH_BIN:-$cache/benchmark/bin}
say() { printf '==> bench: %s\n' "$*"; }

orig=("$@")
quick=false
baseline=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick|-quick) quick=true ;;
    --baseline) [ $# -ge 2 ] || { echo "scripts/benchmark.sh: --baseline needs a git revision" >&2; exit 2; }
                baseline=$2; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

# --- 1. peers and Cloud Custodian: the same pinned installs as `make tools` ---------------------
# (apt nginx-light, haproxy, wrk as root; moto_server, aws-lambda-rie; .cache/bench-venv with c7n)
./scripts/tools.sh

# --- 2. binaries ---------------------------------------------------------------------------------
mkdir -p "$bin"
build() { # build OUT PKG [go build flags...]
  local out=$1 pkg=$2; shift 2
  say "go build $pkg -> ${out#"$root"/}"
  go build "$@" -o "$out" "$pkg"
}
export CGO_ENABLED=0
build "$bin/elbguard-benchmark" ./benchmark/cmd/elbguard-benchmark -trimpath
build "$bin/elbguard-proxy" ./cmd/elbguard-proxy -trimpath
build "$bin/elbguard" ./cmd/elbguard -trimpath
build "$bin/enforcer-bootstrap" ./functions/enforcer -tags lambda.norpc -trimpath -ldflags "-s -w"
GOOS=linux GOARCH=arm64 build "$bin/enforcer-bootstrap-arm64" ./functions/enforcer -tags lambda.norpc -trimpath -ldflags "-s -w"
if [ -n "$baseline" ]; then
  # The baseline's source, exactly as committed at REV, in a scratch tree.
  rev=$(git rev-parse --verify --quiet "$baseline^{commit}") || { echo "scripts/benchmark.sh: --baseline $baseline: not a git revision" >&2; exit 2; }
  src=$(mktemp -d); trap 'rm -rf "$src"' EXIT
  git archive "$rev" | tar -x -C "$src"
  say "go build ./cmd/elbguard-proxy at $baseline (${rev:0:12}) -> ${bin#"$root"/}/elbguard-proxy-baseline"
  (cd "$src" && go build -trimpath -o "$bin/elbguard-proxy-baseline" ./cmd/elbguard-proxy)
  args+=(-baseline-bin "$bin/elbguard-proxy-baseline")
fi

# --- 3-4. run -------------------------------------------------------------------------------------
run=("$bin/elbguard-benchmark" run -root "$root" -proxy-bin "$bin/elbguard-proxy")
[ -x "$bin/elbguard" ] && run+=(-elbguard-bin "$bin/elbguard")
[ -x "$bin/enforcer-bootstrap" ] && run+=(-bootstrap "$bin/enforcer-bootstrap")
[ -f "$bin/enforcer-bootstrap-arm64" ] && run+=(-arm-bootstrap "$bin/enforcer-bootstrap-arm64")
# Only a full run with no flags (make bench) rewrites BENCHMARKS.md: a partial
# one (-only proxy, -rounds 5, ...) leaves its results in .cache/benchmark only.
full=false
! $quick && [ ${#args[@]} -eq 0 ] && full=true
if $quick; then
  run+=(-quick)
elif $full; then
  # Go micro-benchmarks of the hot paths, beside the tables (their packages own them).
  micro_pkgs=(./proxy/ ./events/ ./engine/ ./benchmark/loadgen/)
  say "go test -run '^\$' -bench . -benchmem -benchtime 200ms ${micro_pkgs[*]}"
  go test -run '^$' -bench . -benchmem -benchtime 200ms "${micro_pkgs[@]}" > "$cache/benchmark/micro.txt" 2>&1 ||
    say "micro-benchmarks failed (see .cache/benchmark/micro.txt); continuing"
  run+=(-publish "$root/BENCHMARKS.md" -micro "$cache/benchmark/micro.txt")
fi
cmdline="scripts/benchmark.sh${orig[*]:+ ${orig[*]}}"
$quick && [ ${#orig[@]} -eq 1 ] && cmdline="make bench-quick"
! $quick && [ ${#orig[@]} -eq 0 ] && cmdline="make bench"
run+=(-command "$cmdline" ${args[@]+"${args[@]}"})
say "${run[*]#"$root"/}"
"${run[@]}"
say "results: results.md and results.json in the -out directory (default .cache/benchmark)$($full && echo '; BENCHMARKS.md updated')"
