# elbguard — every target prints what it does and is safe to run twice.
#
#   make demo    the whole story on a local AWS emulator (no AWS account)
#   make test    tools, go vet, then every test: unit, integration, peers
#   make build   host binaries into bin/, Lambda bootstraps into dist/lambda/
#   make lint    gofmt, go vet, golangci-lint
#   make fuzz    every fuzz target for FUZZTIME (default 30s)
#   make synth   cdk synth into cdk.out/ and cfn-lint every template
#   make bench   side-by-side benchmarks against nginx and HAProxy

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
CACHE     := $(CURDIR)/.cache
export PATH := $(CACHE)/bin:$(CACHE)/venv/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

GOLANGCI_VERSION := v2.15.0
LAMBDAS          := enforcer sweeper
LAMBDA_FLAGS     := -tags lambda.norpc -trimpath -ldflags "-s -w"
TEST_TIMEOUT     ?= 20m

FUZZTIME         ?= 30s

.PHONY: help tools build build-host build-lambda build-assets test test-unit vet lint fuzz synth demo demo-enforcer demo-proxy bench bench-quick clean

help:
	@sed -n 's/^#   //p' Makefile

tools:
	@echo "==> make tools: pinned test and run-time tools into .cache/ and node_modules/"
	@./scripts/tools.sh

build: build-host build-assets

build-host:
	@echo "==> make build: bin/elbguard bin/elbguard-proxy (host)"
	@mkdir -p bin
	$(GO) build -trimpath -o bin/elbguard ./cmd/elbguard
	$(GO) build -trimpath -o bin/elbguard-proxy ./cmd/elbguard-proxy

build-lambda:
	@echo "==> make build-lambda: dist/lambda/{$(subst $() $(),$(,),$(LAMBDAS))}/bootstrap (linux/arm64, provided.al2023)"
	@for fn in $(LAMBDAS); do \
	  mkdir -p dist/lambda/$$fn; \
	  echo "    go build ./functions/$$fn -> dist/lambda/$$fn/bootstrap"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o dist/lambda/$$fn/bootstrap ./functions/$$fn; \
	done

build-assets: build-lambda
	@echo "==> make build-assets: dist/proxy/linux-arm64/elbguard-proxy (the demo stack's S3 asset)"
	@mkdir -p dist/proxy/linux-arm64
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "-s -w" -o dist/proxy/linux-arm64/elbguard-proxy ./cmd/elbguard-proxy

vet:
	@echo "==> go vet (unit and integration builds)"
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

test: tools vet
	@echo "==> go test: unit + integration + peer tests (CI=$${CI:-false}: a missing peer $$( [ "$${CI:-}" = true ] && echo fails || echo skips ))"
	$(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) ./...

test-unit:
	@echo "==> go test ./... (unit tests only)"
	$(GO) test ./...

lint:
	@echo "==> gofmt -l"
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(MAKE) -s vet
	@if [ "$$($(CACHE)/bin/golangci-lint version --short 2>/dev/null)" != "$(GOLANGCI_VERSION:v%=%)" ]; then \
	  echo "==> go install golangci-lint@$(GOLANGCI_VERSION)"; \
	  GOBIN=$(CACHE)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION); fi
	@echo "==> golangci-lint run (.golangci.yml)"
	golangci-lint run --build-tags integration ./...

fuzz:
	@echo "==> make fuzz: every fuzz target for $(FUZZTIME) (FUZZTIME=...)"
	@for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | xargs -n1 dirname | sort -u); do \
	  for fn in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "    $$pkg $$fn"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

synth: tools
	@echo "==> make synth: cdk synth into cdk.out/, then cfn-lint"
	@./scripts/synth.sh

demo: tools
	@./scripts/demo.sh all

demo-enforcer: tools
	@./scripts/demo.sh enforcer

demo-proxy: tools
	@./scripts/demo.sh proxy

bench:
	@./scripts/bench.sh

bench-quick:
	@./scripts/bench.sh --quick

clean:
	@echo "==> clean: bin/ dist/ cdk.out/"
	rm -rf bin dist cdk.out
