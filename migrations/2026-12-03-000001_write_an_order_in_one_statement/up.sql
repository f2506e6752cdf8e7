-- The writes of an order placement in one statement, so the order path is four round trips
-- (BEGIN, the locking SELECT, this, COMMIT) and every one of them is prepared once per
-- connection: diesel caches `SELECT f($1, ...)` but prepares a raw `UPDATE ... FROM unnest(...)`
-- again on every execution. PL/pgSQL keeps the plans of the statements below per session too.
--
-- It decides nothing: the service has locked the products, checked and priced the order (the
-- domain's `price_order`) and passes the stock levels and prices it computed.

-- Stock levels, one per product id, in one statement whatever the number of products.
CREATE FUNCTION set_product_stocks(p_ids BIGINT[], p_stocks INTEGER[]) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    changed INTEGER;
BEGIN
    UPDATE products AS p SET stock = v.stock, updated_at = now()
    FROM unnest(p_ids, p_stocks) AS v (id, stock)
    WHERE p.id = v.id;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END;
$$;

-- The stock levels, the order, its lines and (when the key is not null) its idempotency key.
-- Returns the new order's id and creation time.
CREATE FUNCTION place_order_rows(
    p_stock_ids BIGINT[],
    p_stocks INTEGER[],
    p_status TEXT,
    p_total_cents BIGINT,
    p_customer_id TEXT,
    p_customer_email TEXT,
    p_manager_id TEXT,
    p_line_product_ids BIGINT[],
    p_line_quantities INTEGER[],
    p_line_unit_prices BIGINT[],
    p_key_scope TEXT,
    p_key TEXT,
    p_key_fingerprint TEXT,
    OUT order_id BIGINT,
    OUT created_at TIMESTAMPTZ
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_product_stocks(p_stock_ids, p_stocks);
    INSERT INTO orders (status, total_cents, customer_id, customer_email, manager_id)
    VALUES (p_status, p_total_cents, p_customer_id, p_customer_email, p_manager_id)
    RETURNING orders.id, orders.created_at INTO order_id, created_at;
    INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
    SELECT place_order_rows.order_id, l.product_id, l.quantity, l.unit_price_cents
    FROM unnest(p_line_product_ids, p_line_quantities, p_line_unit_prices) AS l (product_id, quantity, unit_price_cents);
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, fingerprint, order_id)
        VALUES (p_key_scope, p_key, p_key_fingerprint, place_order_rows.order_id);
    END IF;
END;
$$;
