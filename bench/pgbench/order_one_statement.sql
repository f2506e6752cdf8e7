-- The best one-statement form of a 3-line order: a guarded stock update that prices from the rows
-- it locks, the order, and its lines, in one round trip (autocommit).
\set a random(1, 333)
\set b random(334, 666)
\set c random(667, 1000)
WITH taken AS (
  UPDATE products SET stock = stock - 1, updated_at = now()
   WHERE id IN (:a, :b, :c) AND stock >= 1 AND NOT discontinued
  RETURNING id, price_cents
), placed AS (
  INSERT INTO orders (status, total_cents)
  SELECT 'pending', sum(price_cents) FROM taken HAVING count(*) = 3
  RETURNING id, created_at
)
INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
SELECT placed.id, taken.id, 1, taken.price_cents FROM placed, taken;
