-- The order as the PostgreSQL adapter sends it now: one statement, its own transaction, calling
-- the function that checks, prices and writes the order (migration 2026-12-04-000002). Three
-- distinct products, one unit each.
\set a random(1, 333)
\set b random(334, 666)
\set c random(667, 1000)
SELECT place_order(ARRAY[:a, :b, :c]::bigint[], ARRAY[1, 1, 1]::integer[], 'pending',
  NULL, NULL, NULL, NULL, NULL, NULL);
