DROP TRIGGER products_catalogue_changed ON products;
DROP FUNCTION products_notify_catalogue_changed();
DROP TABLE audit_log;
DROP TABLE rate_limit_counters;
