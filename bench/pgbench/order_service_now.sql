-- The order transaction as the PostgreSQL adapter sends it now: BEGIN, the locking SELECT, the
-- writes in one function call (migration 2026-12-03-000001), COMMIT. Three distinct products.
\set a random(1, 333)
\set b random(334, 666)
\set c random(667, 1000)
BEGIN;
SELECT id, manager_id, name, description, price_cents, stock, discontinued, created_at, updated_at
  FROM products WHERE id = ANY (ARRAY[:a, :b, :c]::bigint[]) ORDER BY id FOR UPDATE;
SELECT place_order_rows(ARRAY[:a, :b, :c]::bigint[], ARRAY[999999, 999999, 999999]::integer[], 'pending', 2997,
  NULL, NULL, NULL, ARRAY[:a, :b, :c]::bigint[], ARRAY[1, 1, 1]::integer[], ARRAY[999, 999, 999]::bigint[],
  NULL, NULL, NULL);
COMMIT;
