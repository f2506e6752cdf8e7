#!/usr/bin/env bash
# `make bench` / `make bench-quick`: the release binary as a separate process, pinned to one core
# with one worker, driven by wrk pinned to the other core, on both backends; beside it, in the
# same run, the references it is judged against: a minimal actix-web handler
# (crates/api/examples/reference.rs) and pgbench on the same PostgreSQL.
#
# Absolute figures on a shared machine move between runs: compare only ratios within one report.
#
#   BENCH_MODE=full   16/64/256 connections, median of 3 runs of 10 s (default), then the
#                     order listings with 1,000,000 orders stored (bench/listings.sh)
#   BENCH_MODE=quick  64 connections, 1 run of 5 s (under 3 minutes)
#   BENCH_PG          PostgreSQL server, default postgres://postgres@127.0.0.1:5432 (the bench
#                     makes a database of its own there and drops it)
#   BENCH_OUT         where the report goes, default target/bench
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${BENCH_MODE:-full}
case "$MODE" in
  quick) CONNECTIONS=(64); RUNS=1; SECONDS_PER_RUN=5 ;;
  full) CONNECTIONS=(16 64 256); RUNS=3; SECONDS_PER_RUN=10 ;;
  *) echo "BENCH_MODE must be quick or full" >&2; exit 2 ;;
esac
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/ecommerce-api
REFERENCE=$TARGET/release/examples/reference
OUT=${BENCH_OUT:-target/bench}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PRODUCTS=1000
SERVER_CORE=0
LOAD_CORE=1
PORT=18080
REFERENCE_PORT=18090
TICKS=$(getconf CLK_TCK)
DB=ecommerce_bench_$$

for tool in wrk pgbench taskset psql curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] && [ -x "$REFERENCE" ] || { echo "bench: build first (make bench builds)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores (server and load generator apart)" >&2; exit 1; }

mkdir -p "$OUT"
REPORT=$OUT/report.md
ROWS=$OUT/rows.tsv
: >"$ROWS"
SERVER_PID=

cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$OUT"/pgbench_log.*
}
trap cleanup EXIT

# start_process CMD...: runs CMD on the server core, output discarded (the access log's cost is
# in the CPU figures, the disk's is not), and waits until it answers on $HEALTH_URL.
start_process() {
  taskset -c "$SERVER_CORE" "$@" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$HEALTH_URL" && return 0
    sleep 0.1
  done
  echo "bench: $1 did not start" >&2
  exit 1
}

stop_process() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# cache_lookups URL: the product cache's hits, misses and bypasses so far, from /metrics.
cache_lookups() {
  curl -sf "$1/metrics" | awk '
    /^product_cache_lookups_total\{result="hit"\}/ {h = $2}
    /^product_cache_lookups_total\{result="miss"\}/ {m = $2}
    /^product_cache_lookups_total\{result="bypass"\}/ {b = $2}
    END {printf "%d %d %d\n", h, m, b}'
}

# cache_ratio BACKEND CONNECTIONS BEFORE AFTER: the lookups between two cache_lookups, and the
# hit ratio hit / (hit + miss + bypass), one row of $OUT/cache.tsv.
cache_ratio() {
  echo "$3 $4" | awk -v backend="$1" -v c="$2" '{
    h = $4 - $1; m = $5 - $2; b = $6 - $3; n = h + m + b
    printf "%s\t%s\t%d\t%d\t%d\t%s\n", backend, c, h, m, b, (n > 0) ? sprintf("%.1f%%", 100 * h / n) : "no lookups (cache off?)"
  }' | tee -a "$OUT/cache.tsv"
}
peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status"; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# measure SUBJECT WORKLOAD URL CONNECTIONS WRK_ARGS...: RUNS runs of wrk; one row of medians.
measure() {
  local subject=$1 workload=$2 url=$3 connections=$4
  shift 4
  local runs=$OUT/runs.tmp
  : >"$runs"
  for _ in $(seq 1 "$RUNS"); do
    local before after line
    before=$(cpu_ticks)
    line=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d"${SECONDS_PER_RUN}s" --timeout 10s \
      -s bench/wrk.lua "$url" -- "$@" | grep '^RESULT')
    after=$(cpu_ticks)
    # requests duration_us p50_us p99_us non2xx socket_errors cpu_ticks
    echo "$line" | sed -E 's/[a-z_0-9]+=//g; s/^RESULT //' | awk -v t=$((after - before)) '{print $0, t}' >>"$runs"
  done
  local rps p50 p99 cpu bad
  rps=$(awk '{print $1 * 1e6 / $2}' "$runs" | median)
  p50=$(awk '{print $3 / 1000}' "$runs" | median)
  p99=$(awk '{print $4 / 1000}' "$runs" | median)
  cpu=$(awk -v hz="$TICKS" '{print ($1 > 0) ? $7 * 1e6 / hz / $1 : 0}' "$runs" | median)
  bad=$(awk '{s += $5 + $6} END {print s}' "$runs")
  printf '%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%s\n' "$subject" "$workload" "$connections" "$rps" "$p50" "$p99" "$cpu" "$bad" \
    | tee -a "$ROWS"
}

# service BACKEND: the shipped binary, every workload at every connection count. Its settings
# are the shipped defaults (config/default.toml: product cache on, 60 s) but for the port, one
# worker, the backend, the database and a rate limit no run reaches.
service() {
  local backend=$1 url=http://127.0.0.1:$PORT
  HEALTH_URL=$url/health
  APP__SERVER__PORT=$PORT APP__SERVER__WORKERS=1 APP__STORAGE__BACKEND=$backend \
    APP__DATABASE__URL="$PG/$DB?sslmode=disable" APP__RATE_LIMIT__REQUESTS=1000000000 \
    APP_CONFIG_DIR=config start_process "$BIN" serve
  # 1,000 products with ids 1..1000 (a fresh store numbers them from 1), stock enough for every run.
  local body
  body=$(awk -v n="$PRODUCTS" 'BEGIN {
    printf "{\"manager_id\":\"bench\",\"products\":["
    for (i = 1; i <= n; i++) printf "%s{\"name\":\"product %d\",\"description\":\"bench product number %d\",\"price\":9.99,\"quantity\":1000000000}", (i > 1 ? "," : ""), i, i
    printf "]}" }')
  curl -sf -o /dev/null -H 'content-type: application/json' -d "$body" "$url/api/inventory/products"
  taskset -c "$LOAD_CORE" wrk -t1 -c16 -d2s -s bench/wrk.lua "$url" -- order "$PRODUCTS" >/dev/null
  for c in "${CONNECTIONS[@]}"; do
    measure "$backend" "GET /products?per_page=100" "$url" "$c" get "/products?per_page=100"
    measure "$backend" "GET /products/{id}" "$url" "$c" product "$PRODUCTS"
    measure "$backend" "GET /api/inventory/products" "$url" "$c" get "/api/inventory/products?manager_id=bench"
    measure "$backend" "POST /orders, 3 lines" "$url" "$c" order "$PRODUCTS"
    measure "$backend" "POST /orders, one product" "$url" "$c" hot "$PRODUCTS"
    measure "$backend" "POST /orders, 3 lines, Idempotency-Key" "$url" "$c" idempotent "$PRODUCTS"
    local lookups_before
    lookups_before=$(cache_lookups "$url")
    measure "$backend" "mixed: 10% orders, 90% GET /products/{id}" "$url" "$c" mixed "$PRODUCTS"
    cache_ratio "$backend" "$c" "$lookups_before" "$(cache_lookups "$url")"
  done
  printf '%s\tpeak RSS\t\t%s MB\n' "$backend" "$(peak_rss_mb)" | tee -a "$OUT/rss.tsv"
  stop_process
}

reference() {
  local url=http://127.0.0.1:$REFERENCE_PORT
  HEALTH_URL=$url/products/1
  REFERENCE_PORT=$REFERENCE_PORT REFERENCE_PRODUCTS=$PRODUCTS start_process "$REFERENCE"
  for c in "${CONNECTIONS[@]}"; do
    measure reference "GET /products?per_page=100 (serialising)" "$url" "$c" get "/products?per_page=100"
    measure reference "GET /products?per_page=100 (pre-serialised)" "$url" "$c" get "/prebuilt/products"
    measure reference "GET /products/{id}" "$url" "$c" product "$PRODUCTS"
    measure reference "POST /orders, 3 lines (mutexed map)" "$url" "$c" order "$PRODUCTS"
  done
  stop_process
}

# pgbench_run NAME SCRIPT: 64 clients on the load core against the bench database; tps and
# per-transaction p50/p99 from pgbench's transaction log. Its sessions set
# ecommerce.placing_order, as the service's order path does, so the products trigger queues no
# notification for their stock writes either: the references are the database's ceiling.
pgbench_run() {
  local name=$1 script=$2 tps
  rm -f "$OUT"/pgbench_log.*
  tps=$(cd "$OUT" && PGSSLMODE=disable PGOPTIONS='-c ecommerce.placing_order=on' taskset -c "$LOAD_CORE" pgbench -n -M prepared -c 64 -j 1 \
    -T "$SECONDS_PER_RUN" -l -f "$OLDPWD/$script" "$PG/$DB" 2>/dev/null |
    awk '/^tps/ {print $3; exit}')
  local p50 p99
  p50=$(cat "$OUT"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{v[NR] = $1} END {print v[int(NR * 0.50) + 1] / 1000}')
  p99=$(cat "$OUT"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{v[NR] = $1} END {print v[int(NR * 0.99) + 1] / 1000}')
  printf 'pgbench\t%s\t64\t%.0f\t%.2f\t%.2f\t\t\n' "$name" "$tps" "$p50" "$p99" | tee -a "$ROWS"
}

echo "bench: $MODE mode, server on core $SERVER_CORE, wrk/pgbench on core $LOAD_CORE, report in $REPORT"
: >"$OUT/rss.tsv"
: >"$OUT/cache.tsv"
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
service memory
service postgres
reference
pgbench_run "order as the service sends it (one statement: SELECT place_order(...))" bench/pgbench/order_service_now.sql
pgbench_run "order in 7 round trips, as the service sent it before" bench/pgbench/order_service.sql
pgbench_run "3-line order as one statement" bench/pgbench/order_one_statement.sql
pgbench_run "1 unit of product 1 as one statement" bench/pgbench/order_one_product.sql

{
  echo "# make bench ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Server pinned to core $SERVER_CORE with one worker; wrk and pgbench pinned to core $LOAD_CORE;"
  echo "${RUNS} run(s) of ${SECONDS_PER_RUN} s per row (medians); $PRODUCTS products; PostgreSQL over loopback, sslmode=disable."
  echo "Compare ratios within this report only: absolute figures on a shared machine move between runs."
  echo
  echo "| subject | workload | conns | req/s | p50 ms | p99 ms | server CPU µs/req | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}' "$ROWS"
  echo
  echo "Product cache during the mixed workload (from /metrics before and after its runs):"
  echo
  echo "| backend | conns | hits | misses | bypasses | hit ratio |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}' "$OUT/cache.tsv"
  echo
  echo "Peak RSS (VmHWM) of the service after all its workloads:"
  echo
  awk -F'\t' '{printf "- %s: %s\n", $1, $4}' "$OUT/rss.tsv"
  echo
  echo "errors: non-2xx answers plus socket errors over the runs of the row. pgbench rows: transactions/s."
} >"$REPORT"

# Full mode: what a listing of orders costs with 1,000,000 of them stored (bench/listings.sh,
# a database of its own, seeded, measured and dropped), appended to the report.
if [ "$MODE" = full ]; then
  listings=$(DATABASE_URL="$PG/postgres?sslmode=disable" bash bench/listings.sh "$BIN")
  printf '%s\n' "$listings"
  {
    echo
    echo "GET /orders?per_page=50 with 1,000,000 orders stored (PostgreSQL; one connection, 10 s per URL):"
    echo
    echo '```'
    printf '%s\n' "$listings"
    echo '```'
  } >>"$REPORT"
fi
echo "bench: report written to $REPORT"
