-- A whole order placement in one statement, so the usual order is one round trip (no BEGIN, no
-- COMMIT: the statement is its own transaction) and the products' row locks are held only while
-- it runs. diesel prepares `SELECT place_order(...)` once per connection, and PL/pgSQL keeps the
-- plans of the statements below per session.
--
-- The function is a guard, not the rule: it writes only an order that the domain's `price_order`
-- would accept (every product present, visible to the manager if there is one, not discontinued,
-- with enough stock; a total that fits in a BIGINT), priced as `price_order` prices it. For
-- anything else it writes nothing and answers 'refused', and the service then decides under lock
-- with `price_order` itself, which names the error. A property test runs the same random orders
-- through both stores and compares every outcome.
--
-- Outcomes:
--   'placed'   order_id, created_at, unit_prices (in the order of p_product_ids) and total_cents
--              describe the new order;
--   'replay'   an order was already placed under this idempotency key: order_id and
--              earlier_fingerprint are the key's record, and nothing was written;
--   'refused'  nothing was written.

CREATE FUNCTION place_order(
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
    acceptable BOOLEAN;
    total NUMERIC;
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

    -- Row locks in ascending id order, as every writer of products takes them: no deadlocks.
    PERFORM 1 FROM products WHERE id = ANY (p_product_ids) ORDER BY id FOR UPDATE;

    SELECT count(*) = cardinality(p_product_ids),
           sum(p.price_cents::NUMERIC * r.quantity),
           array_agg(p.price_cents ORDER BY r.n)
    INTO acceptable, total, unit_prices
    FROM unnest(p_product_ids, p_quantities) WITH ORDINALITY AS r (id, quantity, n)
    JOIN products AS p ON p.id = r.id
    WHERE (p_manager_id IS NULL OR p.manager_id = p_manager_id)
      AND NOT p.discontinued
      AND p.stock >= r.quantity;

    IF NOT acceptable OR total > 9223372036854775807 THEN
        outcome := 'refused';
        unit_prices := NULL;
        RETURN;
    END IF;

    -- Stock taken by an order is not announced on `catalogue_changed` (migration
    -- 2026-12-03-000002): the trigger stays quiet while this setting is on.
    PERFORM set_config('ecommerce.placing_order', 'on', true);
    UPDATE products AS p SET stock = p.stock - r.quantity, updated_at = now()
    FROM unnest(p_product_ids, p_quantities) AS r (id, quantity)
    WHERE p.id = r.id;
    PERFORM set_config('ecommerce.placing_order', 'off', true);

    INSERT INTO orders (status, total_cents, customer_id, customer_email, manager_id)
    VALUES (p_status, total, p_customer_id, p_customer_email, p_manager_id)
    RETURNING orders.id, orders.created_at INTO order_id, created_at;
    INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents)
    SELECT place_order.order_id, l.product_id, l.quantity, l.unit_price_cents
    FROM unnest(p_product_ids, p_quantities, unit_prices) AS l (product_id, quantity, unit_price_cents);
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, fingerprint, order_id)
        VALUES (p_key_scope, p_key, p_key_fingerprint, place_order.order_id);
    END IF;
    total_cents := total;
    outcome := 'placed';
END;
$$;
