GO ?= go
REGISTRY_VERSION := v3.1.2
CRANE_VERSION := v0.22.1
TOOLS := $(CURDIR)/bin/tools

.PHONY: build run test test-deps tools bench vet fmt

build:
	$(GO) build -o bin/deploytokens ./cmd/deploytokens

# The server on the embedded store in ./data, plus a local distribution
# registry wired to it; Ctrl-C stops both.
run: build tools
	@command -v git >/dev/null || { echo "deploytokens needs git at run time: apt-get install git" >&2; exit 1; }
	@scripts/run.sh

# Pinned registry binaries from the Go module proxy.
tools: $(TOOLS)/registry $(TOOLS)/crane

$(TOOLS)/registry:
	GOBIN=$(TOOLS) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(TOOLS)/crane:
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

test-deps:
	@scripts/test-deps.sh

test: test-deps tools
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...

bench: build tools
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -l -w .
