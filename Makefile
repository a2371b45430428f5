# elbguard — every target prints what it does and is safe to run twice.
#
#   make demo    the whole story on a local AWS emulator (no AWS account)
#   make test    tools, go vet, every test (unit, integration, peers), short fuzzing, make security
#   make build   host binaries into bin/, Lambda bootstraps into dist/lambda/
#   make lint    go vet, gofmt, golangci-lint (gosec included)
#   make fuzz    every fuzz target for FUZZTIME (default 30s)
#   make synth   cdk synth into cdk.out/ and cfn-lint every template
#   make bench   side-by-side benchmarks against nginx and HAProxy
#   make security  govulncheck (offline database) and golangci-lint with gosec
#   make soak    the long reliability run: faults, load and fuzzing (see RELIABILITY.md)
#   make report-png  docs/report.png and docs/report.txt from the HTML report of an audit against moto
#   make package elbguard-proxy .deb and .rpm for linux/amd64 and arm64, and SHA256SUMS, into dist/package/

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
CACHE     := $(CURDIR)/.cache
# The Go toolchain named in go.mod: the machine's go1.26.8 has standard-library
# vulnerabilities (scripts/vulncheck.sh); the go command fetches this one from
# the module proxy once. Shells outside make need the same export (README).
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)
export PATH := $(CACHE)/bin:$(CACHE)/venv/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

GOLANGCI_VERSION := v2.15.0
LAMBDAS          := enforcer sweeper sweepworker configrule
LAMBDA_FLAGS     := -tags lambda.norpc -trimpath -ldflags "-s -w"
TEST_TIMEOUT     ?= 20m

FUZZTIME         ?= 30s
# make test fuzzes every target briefly (the seed corpora in testdata/fuzz
# always run as plain tests); make soak for long.
CI_FUZZTIME      ?= 5s
SOAK_FUZZTIME    ?= 2m
SOAK_TIMEOUT     ?= 90m

.PHONY: package
.PHONY: report-png
.PHONY: help tools build build-host build-lambda build-assets cdk-app test test-unit vet lint golangci security vulncheck fuzz soak synth demo demo-enforcer demo-proxy bench bench-quick clean

help:
	@sed -n 's/^#   //p' Makefile

tools:
	@echo "==> make tools: pinned test and run-time tools into .cache/ and node_modules/"
	@./scripts/tools.sh

build: build-host build-assets

# --version and elbguard_proxy_build_info: the version from git describe and
# the commit, stamped at link time (GOFLAGS may carry -buildvcs=false).
BUILDINFO        := github.com/elbguard/elbguard/internal/buildinfo
BUILD_VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_COMMIT     ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION_LDFLAGS  := -X $(BUILDINFO).Version=$(BUILD_VERSION) -X $(BUILDINFO).Commit=$(BUILD_COMMIT)

build-host:
	@echo "==> make build: bin/elbguard bin/elbguard-proxy (host)"
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o bin/elbguard ./cmd/elbguard
	$(GO) build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o bin/elbguard-proxy ./cmd/elbguard-proxy

# Rebuilt only when a Go source, go.mod/go.sum or deploy/ changed, so that a
# warm `cdk synth` rebuilds nothing (the go command's cache cannot skip the
# link and the packaging).
GO_SOURCES := $(shell find . -name '*.go' -not -name '*_test.go' -not -path './node_modules/*' -not -path './.cache/*' -not -path './cdk.out/*' -not -path './dist/*' 2>/dev/null) go.mod go.sum
DEPLOY_FILES := $(shell find deploy -type f 2>/dev/null)

build-lambda: $(LAMBDAS:%=dist/lambda/%/bootstrap)

dist/lambda/%/bootstrap: $(GO_SOURCES)
	@echo "==> make build-lambda: go build ./functions/$* -> $@ (linux/arm64, provided.al2023)"
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

build-assets: build-lambda dist/proxy/linux-arm64/elbguard-proxy.rpm

dist/proxy/linux-arm64/elbguard-proxy.rpm: $(GO_SOURCES) $(DEPLOY_FILES)
	@echo "==> make build-assets: $@ (the demo stack's S3 asset; make package builds all four)"
	@rm -rf $(@D) && mkdir -p $(@D)
	cd deploy/package && $(GO) run . -root ../.. -out ../../$(@D) -arch arm64 -formats rpm >/dev/null
	mv $(@D)/elbguard-proxy-*.aarch64.rpm $@

# The CDK app (cdk.json runs it): fresh Lambda and proxy assets, then synth.
# Everything it prints goes to stderr (cdk.json): `cdk synth > t.yaml` gets
# the template alone.
cdk-app: build-assets
	@$(GO) run ./infra/app

vet:
	@echo "==> go vet (unit and integration builds)"
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

test: tools vet
	@echo "==> go test: unit + integration + peer tests (CI=$${CI:-false}: a missing peer $$( [ "$${CI:-}" = true ] && echo fails || echo skips ))"
	@# The proxy package under the race detector (its goroutines share pooled and
	@# parked connections), beside the rest of the tests as go test would run it.
	@mkdir -p .cache && echo "$(GO) test -race -count=1 ./proxy/ (output below when done)"; \
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./proxy/ > .cache/test-proxy-race.log 2>&1 & race=$$!; \
	rc=0; $(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list -tags integration ./... | grep -v '/proxy$$') || rc=$$?; \
	rrc=0; wait $$race || rrc=$$?; cat .cache/test-proxy-race.log; [ $$rc = 0 ] && [ $$rrc = 0 ]
	cd deploy/package && $(GO) vet ./... && $(GO) test -count=1 ./...
	@$(MAKE) -s fuzz FUZZTIME=$(CI_FUZZTIME)
	@$(MAKE) -s security

test-unit:
	@echo "==> go test ./... (unit tests only)"
	$(GO) test ./...

lint: vet golangci

# gofmt, then golangci-lint (.golangci.yml: the standard linters, gosec and
# more), installed pinned into .cache/bin.
golangci:
	@echo "==> gofmt -l"
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@# Rebuilt when the toolchain changes: it type-checks with the standard library it was built with.
	@if ! $(CACHE)/bin/golangci-lint version 2>/dev/null | grep -q "version $(GOLANGCI_VERSION:v%=%) built with $$($(GO) env GOVERSION) "; then \
	  echo "==> go install golangci-lint@$(GOLANGCI_VERSION) ($$($(GO) env GOVERSION))"; \
	  GOBIN=$(CACHE)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION); fi
	@echo "==> golangci-lint run (.golangci.yml, gosec included)"
	golangci-lint run --build-tags integration ./...

security: vulncheck golangci

vulncheck:
	@echo "==> make vulncheck: govulncheck against the pinned, offline Go vulnerability database"
	@./scripts/vulncheck.sh

fuzz:
	@echo "==> make fuzz: every fuzz target for $(FUZZTIME) (FUZZTIME=...)"
	@for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | xargs -n1 dirname | sort -u); do \
	  for fn in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "    $$pkg $$fn"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

soak: tools
	@echo "==> make soak: the reliability tests scaled up (ELBGUARD_SOAK=1), then every fuzz target for $(SOAK_FUZZTIME)"
	@mkdir -p $(CACHE)/soak
	@status=0; ELBGUARD_SOAK=1 $(GO) test -tags integration -count=1 -timeout $(SOAK_TIMEOUT) -v \
	  -run 'TestEnforceFaults|TestProxyLoad|TestProxyFault|TestHostile|TestDrain' ./test/ ./proxy/ ./fleet/ \
	  > $(CACHE)/soak/test.log 2>&1 || status=$$?; \
	  grep -E '^(--- |ok |FAIL)|SUMMARY|: (keep-alive 10k|idle WebSocket|slowloris|backend (kill|restart)|SIGTERM|SIGHUP)' $(CACHE)/soak/test.log || true; \
	  echo "    full log: $(CACHE)/soak/test.log"; exit $$status
	@$(MAKE) -s fuzz FUZZTIME=$(SOAK_FUZZTIME)

synth: tools
	@echo "==> make synth: cdk synth into cdk.out/, then cfn-lint"
	@./scripts/synth.sh

demo: tools
	@./scripts/demo.sh all

demo-enforcer: tools
	@./scripts/demo.sh enforcer

demo-proxy: tools
	@./scripts/demo.sh proxy

# The screenshot of the HTML report in docs/compliance.md; TestComplianceHTMLReport fails
# when the report no longer renders as it shows (docs/report.txt).
report-png: tools
	@echo "==> make report-png: docs/report.png, docs/report.txt"
	ELBGUARD_REPORT_PNG=$(CURDIR)/docs/report.png $(GO) test -tags integration -count=1 -run '^TestComplianceHTMLReport$$' ./test/

bench:
	@./scripts/benchmark.sh

bench-quick:
	@./scripts/benchmark.sh --quick

# nfpm as a library (deploy/package, a module of its own: its dependencies stay
# out of the product's go.mod); version from git describe, or VERSION=1.2.3[-4].
package:
	@echo "==> make package: elbguard-proxy .deb and .rpm (amd64, arm64) into dist/package/"
	@rm -rf dist/package  # one version only: the ProxyFleet construct publishes exactly one of each
	cd deploy/package && $(GO) run . -root ../.. -out ../../dist/package $(if $(VERSION),-version $(VERSION))

clean:
	@echo "==> clean: bin/ dist/ cdk.out/"
	rm -rf bin dist cdk.out
