-- Products of the catalogue. Both surfaces share this one table: the storefront sees every row,
-- the manager surface only the rows carrying its manager_id.
CREATE TABLE products (
    id BIGSERIAL,
    manager_id TEXT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price_cents BIGINT NOT NULL,
    stock INTEGER NOT NULL,
    discontinued BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT products_pkey PRIMARY KEY (id),
    CONSTRAINT products_id_positive CHECK (id >= 1),
    CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT products_description_length CHECK (char_length(description) <= 5000),
    CONSTRAINT products_price_range CHECK (price_cents BETWEEN 0 AND 100000000000),
    CONSTRAINT products_stock_not_negative CHECK (stock >= 0)
);

-- The manager surface lists one manager's products by id, and a bulk load locks them in id order.
CREATE INDEX products_manager_id_id_idx ON products (manager_id, id);

-- The storefront lists only products for sale, by id; discontinued rows stay out of this index.
CREATE INDEX products_for_sale_id_idx ON products (id) WHERE NOT discontinued;
