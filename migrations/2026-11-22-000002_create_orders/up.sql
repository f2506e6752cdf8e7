-- Placed orders. Totals and unit prices are captured at placement, so later price changes never
-- alter an order.
CREATE TABLE orders (
    id BIGSERIAL,
    status TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    customer_id TEXT NULL,
    customer_email TEXT NULL,
    manager_id TEXT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT orders_pkey PRIMARY KEY (id),
    CONSTRAINT orders_status_known CHECK (status IN ('pending', 'completed', 'cancelled')),
    CONSTRAINT orders_total_not_negative CHECK (total_cents >= 0),
    CONSTRAINT orders_email_needs_customer CHECK (customer_email IS NULL OR customer_id IS NOT NULL)
);

CREATE TABLE order_lines (
    order_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, product_id),
    CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
    CONSTRAINT order_lines_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT order_lines_quantity_positive CHECK (quantity >= 1),
    CONSTRAINT order_lines_unit_price_not_negative CHECK (unit_price_cents >= 0)
);

-- The primary key serves lookups by order; this one serves the foreign key to products.
CREATE INDEX order_lines_product_id_idx ON order_lines (product_id);

-- Idempotency keys of order placements: a repeat of (scope, key) replays the order it placed.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE
);
