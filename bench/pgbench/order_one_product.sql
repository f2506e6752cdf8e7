-- One unit of product 1 as one statement: every transaction queues on the same row, so this is
-- the ceiling of a flash sale (each commit waits for the one before it).
WITH taken AS (
  UPDATE products SET stock = stock - 1, updated_at = now()
   WHERE id = 1 AND stock >= 1 AND NOT discontinued
  RETURNING id, price_cents
), placed AS (
  INSERT INTO orders (status, total_cents) SELECT 'pending', price_cents FROM taken RETURNING id
)
INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
SELECT placed.id, taken.id, 1, taken.price_cents FROM placed, taken;
