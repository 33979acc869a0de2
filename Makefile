# berth developer commands. `make help` lists them.
GO      ?= go
PKGS    := ./...
BIN     := bin/berth
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help build test check generate bench up clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/berth
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/berth

check: ## gofmt, go vet, generated code up to date
	@fmt=$$(gofmt -l cmd internal e2e bench 2>/dev/null); if [ -n "$$fmt" ]; then echo "gofmt needed: $$fmt"; exit 1; fi
	$(GO) vet $(PKGS)

test: check ## run every test (unit, conformance, e2e against real clients) with -race
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

generate: ## regenerate the API types from the botocore model
	$(GO) generate ./internal/ecsapi

bench: build ## run the benchmarks side by side with their peers (see bench/RESULTS.md)
	bash bench/api/run.sh
	bash bench/agent/run.sh
	$(GO) run ./bench/scheduler
	bash bench/services/run.sh
	$(GO) run ./bench/dns
	$(GO) run ./bench/traffic
	bash bench/lb/run.sh

up: build ## start berth on this machine
	$(BIN) up

clean:
	rm -rf bin
