CREATE OR REPLACE FUNCTION products_notify_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalogue_changed', '');
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
