//! SQL functions the queries call, declared so diesel can type them and cache their statements
//! (unlike raw SQL, which it prepares again on every execution).

use diesel::expression::functions::declare_sql_function;
use diesel::query_builder::QueryId;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, SqlType, Text, Timestamptz};

/// PostgreSQL's `void`: what lock functions return. Only ever executed, never loaded. (Public
/// only because the declared functions' types name it; the module is private.)
#[derive(Debug, Clone, Copy, SqlType, QueryId)]
#[diesel(postgres_type(name = "void"))]
pub struct Void;

#[declare_sql_function]
extern "SQL" {
    /// Transaction-scoped advisory lock on `(namespace, key)`, released at commit or rollback.
    fn pg_advisory_xact_lock(namespace: Integer, key: Integer) -> Void;

    /// PostgreSQL's internal text hash: turns a string into an advisory lock key.
    fn hashtext(text: Text) -> Integer;

    /// Expands an array into rows.
    #[sql_name = "unnest"]
    fn unnest_bigint(values: Array<BigInt>) -> BigInt;

    /// Expands an array into rows.
    #[sql_name = "unnest"]
    fn unnest_int(values: Array<Integer>) -> Integer;

    /// Writes stock levels, one per product id; returns how many rows it changed
    /// (migration `2026-12-03-000001`).
    fn set_product_stocks(ids: Array<BigInt>, stocks: Array<Integer>) -> Integer;

    /// The writes of an order placement in one statement: stock levels, the order, its lines and,
    /// when `key` is not null, its idempotency key. Returns the order's id and creation time
    /// (migration `2026-12-03-000001`).
    #[allow(clippy::too_many_arguments)]
    fn place_order_rows(
        stock_ids: Array<BigInt>,
        stocks: Array<Integer>,
        status: Text,
        total_cents: BigInt,
        customer_id: Nullable<Text>,
        customer_email: Nullable<Text>,
        manager_id: Nullable<Text>,
        line_product_ids: Array<BigInt>,
        line_quantities: Array<Integer>,
        line_unit_prices: Array<BigInt>,
        key_scope: Nullable<Text>,
        key: Nullable<Text>,
        key_fingerprint: Nullable<Text>,
    ) -> Record<(BigInt, Timestamptz)>;
    /// A whole order placement in one statement: the idempotency key's record if it has one,
    /// else the order if `price_order` would accept it, else nothing (migration
    /// `2026-12-04-000001`). Returns the outcome (`placed`, `replay` or `refused`), the order's
    /// id and creation time, the unit prices charged (in the order of `product_ids`), the total,
    /// and the fingerprint an earlier placement stored under the key.
    #[allow(clippy::too_many_arguments)]
    fn place_order(
        product_ids: Array<BigInt>,
        quantities: Array<Integer>,
        status: Text,
        customer_id: Nullable<Text>,
        customer_email: Nullable<Text>,
        manager_id: Nullable<Text>,
        key_scope: Nullable<Text>,
        key: Nullable<Text>,
        key_fingerprint: Nullable<Text>,
    ) -> Record<(
        Text,
        Nullable<BigInt>,
        Nullable<Timestamptz>,
        Nullable<Array<BigInt>>,
        Nullable<BigInt>,
        Nullable<Text>,
    )>;

    /// The size of a listing: exact up to `exact_up_to` rows, estimated past that (migration
    /// `2026-12-03-170000_listing_totals`). `listing` is constant SQL; `$1` in it is `arg`.
    fn listing_total(listing: Text, arg: Nullable<Text>, exact_up_to: BigInt) -> BigInt;

    /// The later of two instants.
    #[sql_name = "greatest"]
    fn greatest_timestamptz(a: Timestamptz, b: Timestamptz) -> Timestamptz;
}

/// Advisory lock namespaces, so keys hashed for different purposes never block each other.
pub(crate) mod lock_namespace {
    /// A manager's bulk loads, keyed by manager id.
    pub(crate) const INVENTORY: i32 = 1;
    /// Placements under one idempotency key, keyed by scope and key.
    pub(crate) const IDEMPOTENCY: i32 = 2;
}
