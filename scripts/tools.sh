#!/usr/bin/env bash
# Installs elbguard's test and run-time tools, pinned, into the repository's
# own ignored cache. Idempotent: each step checks first and says what it does.
#
#   apt (root only):  haproxy, nginx-light, libnginx-mod-stream, wrk, curl, rpm (rpm -qpl: package tests), chromium (HTML report test), nodejs/npm if node is missing,
#                     python3/python3-venv if `python3 -m venv` cannot work, iproute2 if `ss` is missing (make bench),
#                     gcc if missing (go test -race needs cgo)
#   .cache/venv:      moto[server], cfn-lint           (requirements.txt, exact versions)
#   .cache/bench-venv: Cloud Custodian (c7n)           (requirements-bench.txt; the enforcement benchmark's baseline)
#   node_modules:     aws-cdk CLI                      (package.json + package-lock.json, npm ci)
#   .cache/bin:       aws-lambda-rie                   (go install at a pinned pseudo-version)
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go toolchain named in go.mod (go1.26.8's standard library has known
# vulnerabilities); the go command fetches it from the module proxy once.
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
root=$PWD
cache=$root/.cache
RIE_VERSION=${RIE_VERSION:-v0.0.0-20261030222936-bef5c4ba774d}

say() { printf '==> tools: %s\n' "$*"; }

# --- apt peers -------------------------------------------------------------
apt_pkgs=(haproxy nginx-light libnginx-mod-stream wrk curl rpm chromium)
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
command -v ss >/dev/null 2>&1 || apt_pkgs+=(iproute2) # ss -tm: the bench's per-socket kernel memory
command -v gcc >/dev/null 2>&1 || apt_pkgs+=(gcc libc6-dev) # go test -race (make test runs the proxy under it) needs cgo
# Debian's python3 lacks ensurepip (so `python3 -m venv` fails) until python3-venv is installed.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_pkgs+=(python3 python3-venv)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt packages present: ${apt_pkgs[*]}"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the daemons it installs where it can; the tests start their own.
  for svc in nginx haproxy; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  done
else
  say "cannot install ${missing[*]} (needs root and apt-get)."
  say "without them these tests skip (and FAIL when CI=true): haproxy/nginx -> proxy peer tests (TestPeers*, TestProxy*), make bench; wrk -> make bench; node -> CDK synth tests; chromium -> TestComplianceHTMLReport."
fi

# --- Python venv: moto_server, cfn-lint ------------------------------------
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x "$cache/venv/bin/moto_server" ] && [ "$(cat "$cache/venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  say "python venv up to date ($cache/venv: moto_server, cfn-lint)"
else
  say "python venv $cache/venv from requirements.txt"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$cache/venv/.requirements.sha256"
fi

# --- Python venv: Cloud Custodian, the baseline of make bench / TestBenchQuick --
want=$(sha256sum requirements-bench.txt | cut -d' ' -f1)
if [ -x "$cache/bench-venv/bin/custodian" ] && [ "$(cat "$cache/bench-venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  say "bench venv up to date ($cache/bench-venv: custodian)"
else
  say "python venv $cache/bench-venv from requirements-bench.txt (Cloud Custodian)"
  python3 -m venv "$cache/bench-venv"
  "$cache/bench-venv/bin/pip" install -q --disable-pip-version-check -r requirements-bench.txt
  echo "$want" > "$cache/bench-venv/.requirements.sha256"
fi

# --- npm: aws-cdk CLI --------------------------------------------------------
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -x node_modules/.bin/cdk ] && [ "$(cat node_modules/.lock.sha256 2>/dev/null)" = "$want" ]; then
  say "node_modules up to date (aws-cdk $(node -p 'require("./node_modules/aws-cdk/package.json").version'))"
else
  say "npm ci (aws-cdk CLI from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.lock.sha256
fi
# aws-cdk ships Go init templates; a go.mod marks node_modules as another
# module so that `go build ./...` and `go vet ./...` pass over them.
[ -f node_modules/go.mod ] || printf 'module elbguard.invalid/node_modules\n' > node_modules/go.mod

# --- Go tools ---------------------------------------------------------------
if [ -x "$cache/bin/aws-lambda-rie" ] && [ "$(cat "$cache/bin/.rie-version" 2>/dev/null)" = "$RIE_VERSION" ]; then
  say "aws-lambda-rie $RIE_VERSION present"
else
  say "go install aws-lambda-rie@$RIE_VERSION"
  GOBIN="$cache/bin" go install "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION"
  echo "$RIE_VERSION" > "$cache/bin/.rie-version"
fi
say "done"
