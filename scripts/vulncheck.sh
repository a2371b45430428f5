#!/usr/bin/env bash
# Runs govulncheck against an offline copy of the Go vulnerability database,
# so CI needs only the Go module proxy (vuln.go.dev is not reachable there).
# Idempotent: each step checks first and says what it does.
#
#   .cache/bin/govulncheck   golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION      (go install, GOBIN)
#   .cache/bin/indexdb       golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION     (go install, only to build the database)
#   .cache/vulndb/           a v1 database built by indexdb from the OSV files
#                            (data/osv/*.json) of the pinned golang.org/x/vulndb module
#
# Then: govulncheck -db file://.cache/vulndb ./...   (the shipped code)
# Extra arguments are passed to govulncheck before the patterns, e.g.
#   scripts/vulncheck.sh -test -tags integration      (tests and integration tests too)
# Exit status is govulncheck's: 0 clean, 3 when reachable vulnerabilities were found.
# Bump VULNDB_VERSION (a golang.org/x/vulndb pseudo-version) to refresh the data.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go toolchain named in go.mod (go1.26.8's standard library has known
# vulnerabilities); the go command fetches it from the module proxy once.
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
root=$PWD
cache=$root/.cache
VULN_VERSION=${VULN_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

say() { printf '==> vulncheck: %s\n' "$*"; }

mkdir -p "$cache/bin"
export GOBIN=$cache/bin

# --- govulncheck ------------------------------------------------------------
# govulncheck type-checks the standard library of the toolchain it was built
# with, so it is rebuilt when the toolchain changes.
stamp="$VULN_VERSION $(go env GOVERSION)"
if [ -x "$cache/bin/govulncheck" ] && [ "$(cat "$cache/bin/.govulncheck-version" 2>/dev/null)" = "$stamp" ]; then
  say "govulncheck $stamp present ($cache/bin/govulncheck)"
else
  say "go install golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION ($(go env GOVERSION)) -> $cache/bin"
  go install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION"
  echo "$stamp" > "$cache/bin/.govulncheck-version"
fi

# --- offline database ---------------------------------------------------------
db=$cache/vulndb
if [ -f "$db/index/db.json" ] && [ -f "$db/index/modules.json" ] && [ "$(cat "$db/.vulndb-version" 2>/dev/null)" = "$VULNDB_VERSION" ]; then
  say "database from golang.org/x/vulndb@$VULNDB_VERSION present ($db, $(find "$db/ID" -name '*.json' | wc -l) entries)"
else
  say "go mod download golang.org/x/vulndb@$VULNDB_VERSION"
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
    say "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION (got dir '$src')" >&2
    exit 1
  fi
  if [ -x "$cache/bin/indexdb" ] && [ "$(cat "$cache/bin/.indexdb-version" 2>/dev/null)" = "$VULNDB_VERSION" ]; then
    say "indexdb $VULNDB_VERSION present ($cache/bin/indexdb)"
  else
    say "go install golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION -> $cache/bin (first time: about a minute)"
    go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
    echo "$VULNDB_VERSION" > "$cache/bin/.indexdb-version"
  fi
  say "indexdb: $(find "$src/data/osv" -name '*.json' | wc -l) OSV entries -> $db"
  rm -rf "$db.tmp" "$db"
  "$cache/bin/indexdb" -vulns "$src/data/osv" -out "$db.tmp"
  echo "$VULNDB_VERSION" > "$db.tmp/.vulndb-version"
  mv "$db.tmp" "$db"
fi

# --- scan -------------------------------------------------------------------
say "$(go version); govulncheck -db file://$db $* ./..."
status=0
"$cache/bin/govulncheck" -db "file://$db" "$@" ./... || status=$?
case $status in
  0) say "no reachable vulnerabilities" ;;
  3) say "reachable vulnerabilities found (standard library ones are fixed by a newer Go toolchain, module ones by a go.mod upgrade)" ;;
  *) say "govulncheck failed (exit $status)" ;;
esac
exit "$status"
