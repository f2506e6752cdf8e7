# The two commands: `make run` and `make test`. The rest serve them.
CARGO ?= cargo
DATABASE_URL ?= postgres://postgres@localhost:5432/postgres
export DATABASE_URL

.PHONY: run run-postgres test test-fast test-cluster cluster cluster-stop coverage lint fmt fmt-check migrate openapi bench bench-quick bench-build docker-lint docker-test ci

## Serve on 127.0.0.1:8080 with the in-memory store; nothing else needed.
run:
	$(CARGO) run --bin ecommerce-api -- serve

## Serve against PostgreSQL at APP__DATABASE__URL (migrations are applied at start-up).
run-postgres:
	APP__STORAGE__BACKEND=postgres $(CARGO) run --bin ecommerce-api -- serve

## Every test: unit, contract (both adapters) and black-box HTTP (both backends, several processes).
## PostgreSQL must be reachable at DATABASE_URL; each test makes and drops a database of its own.
test:
	$(CARGO) test --workspace --all-targets

## Every test that needs no database, in seconds: the domain, the contract suite on the memory
## adapter (plain and cached) and the HTTP tests on the memory backend. Every PostgreSQL test
## lives under a `postgres` module (or in the adapters' `postgres` test binary), so the split
## is by name, not by a list.
test-fast:
	$(CARGO) test --workspace --lib --bins --test contract --test http -- --skip postgres::

## Line coverage of crates/*/src under the whole suite (PostgreSQL included), with tarpaulin's LLVM
## engine, which also counts the server processes the tests spawn. Installs tarpaulin if missing.
COVERAGE_EXCLUDE = 'tests/*' 'crates/*/tests/*' 'crates/api/examples/*' 'crates/adapters/src/testing.rs' 'crates/*/build.rs'
coverage:
	@command -v cargo-tarpaulin >/dev/null || $(CARGO) install cargo-tarpaulin --locked
	$(CARGO) tarpaulin --engine llvm --workspace --all-targets --skip-clean --target-dir target/coverage \
		--timeout 300 --exclude-files $(COVERAGE_EXCLUDE) --out Stdout

## The production shape on loopback: PostgreSQL primary + synchronous standby, three replicas,
## nginx on 127.0.0.1:18080 (see README, "Deployment"). Stop and remove it with cluster-stop.
cluster:
	deploy/cluster/cluster.sh start

cluster-stop:
	deploy/cluster/cluster.sh stop

## Failover, rolling restart, shared rate limit and cache coherence through the balancer, on a
## cluster of its own (stopped and removed afterwards, even on failure).
test-cluster:
	deploy/cluster/test.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

migrate:
	$(CARGO) run --bin ecommerce-api -- migrate

openapi:
	@$(CARGO) run --quiet --bin ecommerce-api -- openapi

## The release binary beside its references (a minimal actix-web handler, pgbench) in one run,
## both backends, 16/64/256 connections, medians of 3 runs of 10 s, then order listings with
## 1,000,000 orders stored (bench/listings.sh): target/bench/report.md.
## bench-quick: 64 connections, one run of 5 s each (under 3 minutes). Installs wrk if missing.
BENCH_URL ?= postgres://postgres@127.0.0.1:5432
bench-build:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) build --release --bin ecommerce-api --example reference

bench: bench-build
	BENCH_MODE=full BENCH_PG=$(BENCH_URL) bash bench/run.sh

bench-quick: bench-build
	BENCH_MODE=quick BENCH_PG=$(BENCH_URL) bash bench/run.sh

docker-lint:
	hadolint docker/Dockerfile docker/postgres/Dockerfile

## Build the image from a host release build and run it for real: the container alone, then the
## compose stack (PostgreSQL + two replicas). Root on Debian 12; installs and starts what it needs.
docker-test:
	bash docker/test.sh

ci: fmt-check lint test
