# imagent — build, test, cross-compile and smoke-run on ARM under qemu.
# Every target uses one flag set for cgo (go-sqlite3), so the C amalgamation is compiled
# once per architecture and then cached (toolchain.md §1).

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
TAGS      := osusergo,netgo,sqlite_omit_load_extension
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATIC    := -linkmode external -extldflags "-static"
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 10s
TESTFLAGS ?=

.PHONY: all build test chaos bench-drain demo bench fuzz cross arm-smoke size vet lint clean

all: build

build:
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/imagent ./agent

# The test command README.md names and .ci/run calls. It includes the bounded form of the
# fault-injection suite (agent/chaos); its figure lines are printed at the end.
test:
	@test -x /usr/sbin/mosquitto || ./.ci/deps mosquitto
	$(GO) vet -tags $(TAGS) ./...
	@mkdir -p $(BIN) && rm -f $(BIN)/chaos-figures.txt
	CHAOS_FIGURES=$(CURDIR)/$(BIN)/chaos-figures.txt $(GO) test -tags $(TAGS) -count=1 -timeout 20m $(TESTFLAGS) ./...
	@cat $(BIN)/chaos-figures.txt 2>/dev/null || true

# The long form of the fault-injection suite (more kills, longer outages, more records;
# about 15 minutes). Needs root for the tmpfs and network-namespace scenarios.
chaos:
	@mkdir -p $(BIN)
	@CHAOS_LONG=1 $(GO) test -tags $(TAGS) -count=1 -timeout 60m -v -run 'Chaos' ./agent/chaos > $(BIN)/chaos.log 2>&1; rc=$$?; \
	  grep -E '^(chaos:|--- |FAIL|ok)' $(BIN)/chaos.log; echo "full log: $(BIN)/chaos.log"; exit $$rc

# Drain benchmark: a 10,000-record ASM-size backlog through mosquitto to the reference
# platform with acks; prints records/s, wire bytes per record and the agent's peak RSS.
bench-drain:
	@mkdir -p $(BIN)
	@IMAGENT_BENCH_DRAIN=1 $(GO) test -tags $(TAGS) -count=1 -timeout 30m -v -run 'BenchDrain' ./agent/chaos > $(BIN)/bench-drain.log 2>&1; rc=$$?; \
	  grep -E '^(bench|--- |FAIL|ok)' $(BIN)/bench-drain.log; exit $$rc
	$(GO) test -tags $(TAGS) -run '^$$' -bench 'Append' -benchtime 2000x ./buffer

demo: build
	$(BIN)/imagent demo

bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

# A short run of every fuzz target (go test allows one target per invocation).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

cross: $(BIN)/imagent-linux-armv7 $(BIN)/imagent-linux-arm64

$(BIN)/imagent-linux-armv7: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
	  $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS) $(STATIC)' -o $@ ./agent

$(BIN)/imagent-linux-arm64: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	  $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS) $(STATIC)' -o $@ ./agent

FORCE:

# Runs both static ARM binaries under qemu-user. selftest opens SQLite (cgo) and talks to a
# simulator over a pseudo-terminal, so a cgo-less stub cannot pass.
arm-smoke: cross
	qemu-arm-static $(BIN)/imagent-linux-armv7 version
	qemu-arm-static $(BIN)/imagent-linux-armv7 selftest
	qemu-aarch64-static $(BIN)/imagent-linux-arm64 version
	qemu-aarch64-static $(BIN)/imagent-linux-arm64 selftest

size: cross
	@for f in $(BIN)/imagent-linux-armv7 $(BIN)/imagent-linux-arm64; do \
	  printf '%-28s %10d bytes (static, stripped)\n' $$f $$(stat -c %s $$f); done

vet:
	$(GO) vet -tags $(TAGS) ./...

lint: vet
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run $(STATICCHECK) -tags $(TAGS) ./...

clean:
	rm -rf $(BIN)
