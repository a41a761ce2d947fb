# Two commands matter: `make demo` (the cross-regional flow on this machine) and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
CHARM_DIR := $(CURDIR)/build/charms/postgresql-k8s
GOTESTFLAGS ?= -count=1 -timeout 30m
# staticcheck 2026.2.2, run from the module proxy at a pinned version so that neither go.mod nor
# the charm binary carries its dependencies.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

export JUJULET_PEBBLE := $(BIN)/pebble

.PHONY: all setup build jujulet pebble charm-dir client-charm-dir tlsca-charm-dir charm demo test test-juju bench chaos lint clean

all: build

# Installs what a fresh Debian/Ubuntu machine with Go lacks (PostgreSQL, make); idempotent.
setup:
	./scripts/setup.sh

build: jujulet pebble charm-dir client-charm-dir tlsca-charm-dir

# jujuc is what the hook tools link to (found next to jujulet): static and stripped, since
# every hook tool call starts it.
jujulet:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/jujulet ./cmd/jujulet
	@ln -sf jujulet $(BIN)/juju
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/jujuc ./cmd/jujuc

pebble:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/pebble github.com/canonical/pebble/cmd/pebble

# The charm directory jujulet deploys by name (see docs/SEAMS.md); hooks/ holds one symlink to
# ../dispatch per hook the charm handles.
charm-dir:
	@rm -rf $(CHARM_DIR) && mkdir -p $(CHARM_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CHARM_DIR)/dispatch ./cmd/postgresql-k8s
	cp metadata.yaml actions.yaml config.yaml LICENSE README.md $(CHARM_DIR)/
	cp -P -r hooks $(CHARM_DIR)/hooks

# The test client of the database relation (tests/e2e/client_test.go, README "Connect an
# application"): `jujulet deploy pgclient` finds it beside postgresql-k8s.
CLIENT_DIR := $(CURDIR)/build/charms/pgclient
client-charm-dir:
	@rm -rf $(CLIENT_DIR) && mkdir -p $(CLIENT_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CLIENT_DIR)/dispatch ./tests/testdata/charms/pgclient/src
	cp tests/testdata/charms/pgclient/{metadata,actions,config}.yaml LICENSE $(CLIENT_DIR)/

# The test provider of the certificates relation (tests/e2e/tls_certs_test.go, README "TLS"):
# `jujulet deploy tlsca` finds it beside postgresql-k8s.
TLSCA_DIR := $(CURDIR)/build/charms/tlsca
tlsca-charm-dir:
	@rm -rf $(TLSCA_DIR) && mkdir -p $(TLSCA_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(TLSCA_DIR)/dispatch ./tests/testdata/charms/tlsca/src
	cp tests/testdata/charms/tlsca/{metadata,actions,config}.yaml LICENSE $(TLSCA_DIR)/

# A packed .charm as charmcraft would produce it, without charmcraft.
charm: charm-dir
	$(GO) run ./cmd/charmpack -o $(CURDIR) $(CHARM_DIR)

demo: setup build
	./scripts/demo.sh

# The README's test command: everything, real PostgreSQL and Pebble included. With
# JUJULET_REQUIRE_E2E set, an end-to-end test that lacks jujulet or PostgreSQL fails instead of
# skipping. The Juju backend (tests/juju, its own module) is compiled and unit-tested here; its
# scenarios skip without a controller (see test-juju).
test: setup build
	$(GO) vet ./...
	JUJULET_REQUIRE_E2E=1 JUJULET_BIN=$(BIN) $(GO) test $(GOTESTFLAGS) ./...
	cd tests/juju && $(GO) vet ./... && JUJULET_REQUIRE_E2E=1 JUJULET_BIN=$(BIN) $(GO) test $(GOTESTFLAGS) ./...

# Against a real Juju controller (see README "Running on real Juju").
test-juju: charm
	cd tests/juju && $(GO) test -count=1 -timeout 120m -v ./...

bench: setup build
	JUJULET_BIN=$(BIN) $(GO) test -run '^$$' -bench NoopHook -benchtime 200x ./internal/controller
	JUJULET_BIN=$(BIN) $(GO) test -run '^$$' -bench 'Deploy|UpdateStatus|Switchover|Failover|Rollback|ClientIntegrateLogin' -benchtime 5x -timeout 60m ./...
	# Synchronous replication: TPS against a hand-configured pair; losses over ten pod kills.
	JUJULET_BIN=$(BIN) $(GO) test -run '^$$' -bench 'SyncCommitTPS|SyncPodKillLoss|TLSOverhead' -benchtime 1x -timeout 120m ./tests/e2e
	JUJULET_BIN=$(BIN) $(GO) run ./tests/cmd/scenario-bench

# The seeded chaos drill (docs/CHAOS.md), long profile: it prints its seed, and
# `CHAOS_SEED=N make chaos` replays that seed's faults, victims and delays. The short profile
# (about three minutes) runs inside `make test`.
chaos: setup build
	CHAOS_PROFILE=$${CHAOS_PROFILE:-long} JUJULET_REQUIRE_E2E=1 JUJULET_BIN=$(BIN) $(GO) test -count=1 -timeout 90m -run '^TestChaos$$' -v ./tests/chaos

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@# tests/juju links all of Juju: about 5 minutes with a cold cache, seconds after that.
	cd tests/juju && $(STATICCHECK) ./...

clean:
	rm -rf bin build *.charm
