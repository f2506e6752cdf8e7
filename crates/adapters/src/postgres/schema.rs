// @generated automatically by Diesel CLI.

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        request_id -> Text,
        manager_id -> Nullable<Text>,
        method -> Text,
        path -> Text,
        status -> Int2,
        duration_ms -> Float8,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        fingerprint -> Text,
        order_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    order_lines (order_id, product_id) {
        order_id -> Int8,
        product_id -> Int8,
        quantity -> Int4,
        unit_price_cents -> Int8,
    }
}

diesel::table! {
    orders (id) {
        id -> Int8,
        status -> Text,
        total_cents -> Int8,
        customer_id -> Nullable<Text>,
        customer_email -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Int8,
        manager_id -> Nullable<Text>,
        name -> Text,
        description -> Text,
        price_cents -> Int8,
        stock -> Int4,
        discontinued -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    rate_limit_counters (key) {
        key -> Text,
        window_start -> Timestamptz,
        count -> Int4,
    }
}

diesel::joinable!(idempotency_keys -> orders (order_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_log,
    idempotency_keys,
    order_lines,
    orders,
    products,
    rate_limit_counters,
);
