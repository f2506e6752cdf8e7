-- The order transaction as the PostgreSQL adapter sent it before migration 2026-12-03-000001 (7 round
-- trips with the re-prepared UPDATE): lock the products in id order, write
-- their stock, insert the order and its lines. Three distinct products, one unit each.
\set a random(1, 333)
\set b random(334, 666)
\set c random(667, 1000)
BEGIN;
SELECT id, manager_id, name, description, price_cents, stock, discontinued, created_at, updated_at
  FROM products WHERE id = ANY (ARRAY[:a, :b, :c]::bigint[]) ORDER BY id FOR UPDATE;
UPDATE products AS p SET stock = p.stock - v.q, updated_at = now()
  FROM unnest(ARRAY[:a, :b, :c]::bigint[], ARRAY[1, 1, 1]::integer[]) AS v (id, q) WHERE p.id = v.id;
INSERT INTO orders (status, total_cents) VALUES ('pending', 2997) RETURNING id, created_at;
INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
  SELECT currval('orders_id_seq'), unnest(ARRAY[:a, :b, :c]::bigint[]), unnest(ARRAY[1, 1, 1]::integer[]),
         unnest(ARRAY[999, 999, 999]::bigint[]);
COMMIT;
