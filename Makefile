GO ?= go
REGISTRY_VERSION := v3.1.2
CRANE_VERSION := v0.22.1
TOOLS := $(CURDIR)/bin/tools

.PHONY: build run test test-deps tools bench vet fmt

# The version a build reports (deploytokens version, /api/v4/version, the
# build_info metric): git describe of the checkout; "dev" outside one.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/deploytokens/deploytokens/internal/version.stamped=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/deploytokens ./cmd/deploytokens

# The server on the embedded store in ./data, plus a local distribution
# registry wired to it; Ctrl-C stops both.
run: build tools
	@command -v git >/dev/null || { echo "deploytokens needs git at run time: apt-get install git" >&2; exit 1; }
	@scripts/run.sh

# Pinned registry binaries from the Go module proxy.
tools: $(TOOLS)/registry $(TOOLS)/crane $(TOOLS)/hydra

$(TOOLS)/registry:
	GOBIN=$(TOOLS) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(TOOLS)/crane:
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

# ORY Hydra, the OIDC provider of the federation tests: its go.mod's
# replace directives keep `go install` from building it, so testenv builds
# it from its module source (about two minutes, once).
$(TOOLS)/hydra:
	$(GO) test -count=1 -run '^TestHydraBinary$$' ./internal/testenv

test-deps:
	@scripts/test-deps.sh

test: test-deps tools
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...

# The hot paths, measured (docs/performance.md): the Go micro-benchmarks
# (also in bin/bench-micro.txt, for benchstat), then cmd/dtbench, which
# starts its own redis-server, server and bare echo servers on loopback,
# loads BENCH_N deploy tokens into each store through the ordinary Store
# methods, drives load, reads the server's /metrics and prints the table
# it writes into docs/performance.md. About 12 minutes on 2 cores; a quick
# run: make bench BENCH_N=1000. More knobs: BENCH_FLAGS (go run ./cmd/dtbench -h).
BENCH_N ?= 1000,100000,1000000
BENCH_FLAGS ?=

bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: build
	@command -v redis-server >/dev/null || { echo "make bench needs redis-server: apt-get install redis-server (or make test-deps)" >&2; exit 1; }
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./... | tee bin/bench-micro.txt
	GO=$(GO) $(GO) run ./cmd/dtbench -n $(BENCH_N) $(BENCH_FLAGS)

fmt:
	gofmt -l -w .

.PHONY: image images compose-up compose-down

# The container image, from Debian packages (mmdebstrap) and the binary with
# its version stamped in, built with no container registry in reach and
# loaded into podman as localhost/deploytokens:latest. Cached in bin/image:
# rebuilt only when an input changes. deploy/README.md says more.
image:
	GO=$(GO) deploy/image.sh --load deploytokens

# The three images deploy/compose.yaml runs: deploytokens, the registry and
# Redis.
images:
	GO=$(GO) deploy/image.sh --load deploytokens registry redis

# The stack of deploy/compose.yaml on loopback: deploytokens on :8080, the
# registry on :5000, Redis inside. make compose-down stops it; its volumes stay.
compose-up: images
	podman-compose -f deploy/compose.yaml up -d

compose-down:
	podman-compose -f deploy/compose.yaml down
