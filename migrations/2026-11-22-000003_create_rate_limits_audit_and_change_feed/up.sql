-- Rate-limit counters shared by every process: one row per key, holding only its current window.
-- A request of a newer window restarts the count, so rows never pile up per window.
CREATE TABLE rate_limit_counters (
    key TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count INTEGER NOT NULL,
    CONSTRAINT rate_limit_counters_pkey PRIMARY KEY (key),
    CONSTRAINT rate_limit_counters_count_positive CHECK (count >= 1)
);

-- One row per request of the manager surface, written after it was answered.
CREATE TABLE audit_log (
    id BIGSERIAL,
    at TIMESTAMPTZ NOT NULL,
    request_id TEXT NOT NULL,
    manager_id TEXT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status SMALLINT NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_status_range CHECK (status BETWEEN 100 AND 599),
    CONSTRAINT audit_log_duration_not_negative CHECK (duration_ms >= 0)
);

-- The newest records first, and later the expiry of old ones.
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- One manager's records over time.
CREATE INDEX audit_log_manager_id_at_idx ON audit_log (manager_id, at);

-- Processes caching the catalogue learn of every committed change to it, whoever made it.
-- PostgreSQL delivers a notification only when its transaction commits, and folds identical ones
-- of one transaction into one, so a rolled-back change says nothing and a bulk load says it once.
-- The payload is empty: listeners drop their whole cache rather than track single products.
CREATE FUNCTION products_notify_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalogue_changed', '');
    RETURN NULL;
END;
$$;

-- Per statement, not per row: a statement touching many rows queues one notification.
CREATE TRIGGER products_catalogue_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
FOR EACH STATEMENT EXECUTE FUNCTION products_notify_catalogue_changed();
