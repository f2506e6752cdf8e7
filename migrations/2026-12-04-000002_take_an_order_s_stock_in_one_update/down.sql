-- Back to one guarded UPDATE per line (2026-12-04-000001).
CREATE OR REPLACE FUNCTION place_order(
    p_product_ids BIGINT[],
    p_quantities INTEGER[],
    p_status TEXT,
    p_customer_id TEXT,
    p_customer_email TEXT,
    p_manager_id TEXT,
    p_key_scope TEXT,
    p_key TEXT,
    p_key_fingerprint TEXT,
    OUT outcome TEXT,
    OUT order_id BIGINT,
    OUT created_at TIMESTAMPTZ,
    OUT unit_prices BIGINT[],
    OUT total_cents BIGINT,
    OUT earlier_fingerprint TEXT
)
LANGUAGE plpgsql AS $$
DECLARE
    total NUMERIC := 0;
    price BIGINT;
BEGIN
    IF p_key IS NOT NULL THEN
        -- The same lock the service takes on its locked path (namespace 2, "scope key").
        PERFORM pg_advisory_xact_lock(2, hashtext(p_key_scope || ' ' || p_key));
        SELECT k.order_id, k.fingerprint INTO order_id, earlier_fingerprint
        FROM idempotency_keys AS k
        WHERE k.scope = p_key_scope AND k.key = p_key;
        IF FOUND THEN
            outcome := 'replay';
            RETURN;
        END IF;
    END IF;

    -- Stock taken by an order is not announced on `catalogue_changed` (migration
    -- 2026-12-03-000002): the trigger stays quiet while this setting is on.
    PERFORM set_config('ecommerce.placing_order', 'on', true);
    unit_prices := '{}';
    FOR i IN 1 .. cardinality(p_product_ids) LOOP
        UPDATE products AS p SET stock = p.stock - p_quantities[i], updated_at = now()
        WHERE p.id = p_product_ids[i]
          AND (p_manager_id IS NULL OR p.manager_id = p_manager_id)
          AND NOT p.discontinued
          AND p.stock >= p_quantities[i]
        RETURNING p.price_cents INTO price;
        IF NOT FOUND THEN
            IF i = 1 THEN
                PERFORM set_config('ecommerce.placing_order', 'off', true);
                outcome := 'refused';
                unit_prices := NULL;
                RETURN;
            END IF;
            RAISE EXCEPTION 'place_order: refused' USING ERRCODE = 'EC409';
        END IF;
        unit_prices := unit_prices || price;
        total := total + price::NUMERIC * p_quantities[i];
    END LOOP;
    PERFORM set_config('ecommerce.placing_order', 'off', true);
    IF total > 9223372036854775807 THEN
        RAISE EXCEPTION 'place_order: refused' USING ERRCODE = 'EC409';
    END IF;

    WITH placed AS (
        INSERT INTO orders (status, total_cents, customer_id, customer_email, manager_id)
        VALUES (p_status, total, p_customer_id, p_customer_email, p_manager_id)
        RETURNING orders.id, orders.created_at
    ), lines AS (
        INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
        SELECT placed.id, l.product_id, l.quantity, l.unit_price_cents
        FROM placed, unnest(p_product_ids, p_quantities, unit_prices) AS l (product_id, quantity, unit_price_cents)
    ), keyed AS (
        INSERT INTO idempotency_keys (scope, key, fingerprint, order_id)
        SELECT p_key_scope, p_key, p_key_fingerprint, placed.id FROM placed
        WHERE p_key IS NOT NULL
    )
    SELECT placed.id, placed.created_at INTO order_id, created_at FROM placed;
    total_cents := total;
    outcome := 'placed';
END;
$$;
