#!/usr/bin/env bash
# `make test-cluster`: the cluster shape under the events of a normal week, each scenario on a
# cluster of its own, every figure printed, everything stopped and removed even on failure.
#
#   failover   keyed orders with retries; the primary is SIGKILLed mid-load and the standby
#              promoted a second later: no 5xx but 503, at most 5 s of 503, exact reconciliation
#   rolling    keyed orders sent once each; every replica in turn gets SIGTERM and is started
#              again after it exits: no failed request, exact reconciliation
#   shared     the manager rate limit counts across replicas, and a write made through one
#              replica is read back by every other within the cache's 1 s
#   deadline   a commit stuck on a synchronous standby that is gone, and a frozen database:
#              answered 503 within server.request_timeout, then the service recovers
#
# Usage: deploy/cluster/test.sh [scenario ...]   (all of them by default)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="$ROOT/deploy/cluster/cluster.sh"
LOAD="$ROOT/deploy/cluster/load.py"
export NGINX_PORT="${NGINX_PORT:-18080}" PRIMARY_PORT="${PRIMARY_PORT:-55432}"
BASE="http://127.0.0.1:$NGINX_PORT"
LOAD_SECONDS="${LOAD_SECONDS:-20}"

log() { echo "test-cluster: $*" >&2; }

cleanup() {
  local status=$?
  [[ -n "${LOAD_PID:-}" ]] && kill "$LOAD_PID" 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    # Keep the logs of a failed run to look at.
    export KEEP_CLUSTER_LOGS="${KEEP_CLUSTER_LOGS:-$ROOT/target/cluster-failure-logs}"
    log "failed; logs kept in $KEEP_CLUSTER_LOGS"
  fi
  "$CLUSTER" stop >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT INT TERM

fresh_cluster() {
  "$CLUSTER" stop >/dev/null 2>&1 || true
  "$CLUSTER" start >/dev/null
}

scenario_failover() {
  log "failover: primary SIGKILLed mid-load, standby promoted 1 s later"
  fresh_cluster
  python3 "$LOAD" --base "$BASE" --name failover --seconds "$LOAD_SECONDS" --products 50 --max-500 0 --max-503-seconds 5 &
  LOAD_PID=$!
  sleep $((LOAD_SECONDS / 3))
  "$CLUSTER" failover
  wait "$LOAD_PID"
  LOAD_PID=
}

scenario_rolling() {
  log "rolling: each replica in turn SIGTERMed and started again, under load, no client retry"
  fresh_cluster
  python3 "$LOAD" --base "$BASE" --name rolling --seconds "$LOAD_SECONDS" --products 50 --no-retry --max-failed 0 &
  LOAD_PID=$!
  sleep 2
  for n in 1 2 3; do
    "$CLUSTER" restart-replica "$n"
    sleep 1
  done
  wait "$LOAD_PID"
  LOAD_PID=
}

scenario_shared() {
  log "shared: rate limit across replicas, cache coherence through the balancer"
  fresh_cluster
  python3 "$ROOT/deploy/cluster/shared.py" --base "$BASE" --first-replica-port $((NGINX_PORT + 1))
}

scenario_deadline() {
  log "deadline: hung synchronous commit and frozen database answer 503 in bounded time"
  "$CLUSTER" stop >/dev/null 2>&1 || true
  REQUEST_TIMEOUT=2 "$CLUSTER" start >/dev/null
  python3 "$ROOT/deploy/cluster/deadline.py" --base "$BASE" --cluster "$CLUSTER" --timeout 2 --pg-port "$PRIMARY_PORT"
}

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(failover rolling shared deadline)
started=$SECONDS
for scenario in "${scenarios[@]}"; do
  "scenario_$scenario"
done
log "passed: ${scenarios[*]} in $((SECONDS - started)) s"
