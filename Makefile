# The two commands: `make run` and `make test`. The rest serve them.
CARGO ?= cargo
DATABASE_URL ?= postgres://postgres@localhost:5432/postgres
export DATABASE_URL

.PHONY: run run-postgres test test-cluster cluster cluster-stop lint fmt fmt-check migrate openapi bench docker-lint ci

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

## Order-placement throughput and latency against a release build, both backends.
bench:
	$(CARGO) run --release -p api --example bench

docker-lint:
	hadolint docker/Dockerfile

ci: fmt-check lint test
