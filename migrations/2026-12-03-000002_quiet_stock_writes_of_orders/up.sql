-- Orders no longer notify `catalogue_changed`. A transaction that has queued a notification
-- takes one database-wide lock at commit and holds it until the commit is flushed, so with a
-- notification in every order, order commits ran one at a time (and every process dropped its
-- whole product cache on every order).
--
-- The stock write of an order placement is marked with the transaction-local setting
-- `ecommerce.placing_order`, set only around that one statement, and the trigger stays quiet for
-- it. Every other change to `products` (the manager surface, a cancelled order's restock, SQL by
-- hand) is still announced at its commit. Processes sharing the database see the stock an order
-- took through the short lifetime of cached answers instead (`CachedStore`, under a second).

CREATE OR REPLACE FUNCTION products_notify_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ecommerce.placing_order', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('catalogue_changed', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION place_order_rows(
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
    PERFORM set_config('ecommerce.placing_order', 'on', true);
    PERFORM set_product_stocks(p_stock_ids, p_stocks);
    PERFORM set_config('ecommerce.placing_order', 'off', true);
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
