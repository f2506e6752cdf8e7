#!/usr/bin/env bash
# What a listing costs with 1,000,000 orders stored (PostgreSQL): p50/p99 latency of
# GET /orders?per_page=50 for the first page, a deep page by `after` cursor, and the same deep
# page by `page=19000`, one request at a time.
#
# It makes a database of its own, seeds it with one INSERT ... SELECT generate_series per table
# (1,000 products, ORDERS orders of two lines each), vacuums and analyses it as autovacuum would,
# starts each binary given (release builds) pinned to one core with one worker, drives it with
# wrk from the other core, and drops the database on the way out, failure included.
#
#   bench/listings.sh                      # builds and measures target/release/ecommerce-api
#   bench/listings.sh old-binary new-binary  # the same seeded database, one after the other
#
# Environment: DATABASE_URL (an account that may create databases; default
# postgres://postgres@localhost:5432/postgres), ORDERS (1000000), DURATION (wrk seconds per URL,
# 10), PORT (18089).
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${DATABASE_URL:-postgres://postgres@localhost:5432/postgres}
ORDERS=${ORDERS:-1000000}
DURATION=${DURATION:-10}
PORT=${PORT:-18089}
DB="bench_listings_$$"
# The same URL, naming the bench database instead (query string kept).
DB_URL=$(printf '%s' "$ADMIN_URL" | sed -E "s#^([a-z]+://[^/]*)(/[^?]*)?#\1/$DB#")

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [ "$#" -eq 0 ]; then
  cargo build --release --bin ecommerce-api
  set -- target/release/ecommerce-api
fi

SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
APP__DATABASE__URL="$DB_URL" "$1" migrate >/dev/null

echo "seeding $ORDERS orders..."
start=$(date +%s)
psql -q -v ON_ERROR_STOP=1 -v orders="$ORDERS" "$DB_URL" <<'SQL'
INSERT INTO products (name, price_cents, stock)
SELECT 'product ' || g, 100 + g, 1000000 FROM generate_series(1, 1000) AS g;
INSERT INTO orders (id, status, total_cents, customer_id, created_at)
SELECT g, 'completed', (101 + g % 1000) + 2 * (101 + (g + 500) % 1000), 'customer ' || g % 5000,
       now() - (:orders - g) * interval '1 second'
FROM generate_series(1, :orders) AS g;
SELECT setval(pg_get_serial_sequence('orders', 'id'), :orders) \g /dev/null
INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
SELECT g, 1 + (g + k * 500) % 1000, 1 + k, 101 + (g + k * 500) % 1000
FROM generate_series(1, :orders) AS g, generate_series(0, 1) AS k;
VACUUM ANALYZE products, orders, order_lines;
SQL
echo "seeded in $(( $(date +%s) - start )) s"

# p50 and p99 in milliseconds from wrk's latency distribution.
measure() {
  taskset -c 1 wrk -t1 -c1 -d"${DURATION}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
    END { printf "p50 %7.2f ms   p99 %7.2f ms   %7.1f req/s", p50, p99, rps }'
}

# 95% of the way down: page 19000 of 1,000,000 orders. The cursor that starts the same page:
# orders descend from ORDERS.
deep_page=$(( ORDERS / 50 * 95 / 100 ))
deep_after=$(( ORDERS - (deep_page - 1) * 50 + 1 ))
for binary in "$@"; do
  echo "== $binary"
  APP__STORAGE__BACKEND=postgres APP__DATABASE__URL="$DB_URL" APP__SERVER__PORT="$PORT" \
    APP__SERVER__WORKERS=1 APP__LOG__LEVEL=warn taskset -c 0 "$binary" serve >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  base="http://127.0.0.1:$PORT/orders?per_page=50"
  curl -s -D - -o /dev/null "$base" | grep -i '^x-total-count' || true
  for url in "$base" "$base&after=$deep_after" "$base&page=$deep_page"; do
    printf '%-44s %s\n' "${url#http://127.0.0.1:"$PORT"}" "$(measure "$url")"
  done
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
