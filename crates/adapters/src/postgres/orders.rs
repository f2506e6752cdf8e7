//! Orders and the stock they draw on: the repository functions, which compose inside one
//! transaction, and the [`OrderRepository`] port over them.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use domain::Error;
use domain::ids::OrderId;
use domain::money::Money;
use domain::order::{
    Idempotency, KeyRecord, Order, OrderRequest, Placement, price_lines, price_order, stock_after_transition,
};
use domain::page::{Page, PageRequest, PageStart};
use domain::ports::OrderRepository;
use domain::product::ManagerId;
use domain::status::OrderStatus;

use super::PgStore;
use super::error::{QueryResultExt as _, TxError};
use super::models::{OrderLineRow, OrderRow, order_from_rows, quantity_column};
use super::products::{listing_total_of, lock_products, set_stocks, split_more, stock_columns};
use super::schema::{idempotency_keys, order_lines, orders};
use super::sql::{hashtext, lock_namespace, pg_advisory_xact_lock, place_order, place_order_rows};

/// The lines of these orders, by order then product id, in one query.
async fn load_lines(conn: &mut AsyncPgConnection, order_ids: &[i64]) -> Result<HashMap<i64, Vec<OrderLineRow>>, Error> {
    let rows = order_lines::table
        .filter(order_lines::order_id.eq_any(order_ids))
        .order((order_lines::order_id.asc(), order_lines::product_id.asc()))
        .select(OrderLineRow::as_select())
        .load(conn)
        .await
        .or_storage("loading order lines")?;
    let mut lines: HashMap<i64, Vec<OrderLineRow>> = HashMap::with_capacity(order_ids.len());
    for row in rows {
        lines.entry(row.order_id).or_default().push(row);
    }
    Ok(lines)
}

/// The lines loaded for order `id`: every stored order has at least one.
fn lines_of(lines: &mut HashMap<i64, Vec<OrderLineRow>>, id: i64) -> Result<Vec<OrderLineRow>, Error> {
    lines.remove(&id).ok_or_else(|| Error::Unexpected(anyhow::anyhow!("order {id} has no lines")))
}

/// The order with this id, if any.
pub(crate) async fn find_order(conn: &mut AsyncPgConnection, id: OrderId) -> Result<Option<Order>, Error> {
    let Some(row) = orders::table
        .find(id.get())
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()
        .or_storage("loading an order")?
    else {
        return Ok(None);
    };
    let mut lines = load_lines(conn, &[row.id]).await?;
    let lines = lines_of(&mut lines, row.id)?;
    order_from_rows(row, lines).map(Some)
}

/// A page of orders, newest first, and how many there are in all. A keyset page starts at the
/// first id below the cursor, found in the primary key, however deep.
pub(crate) async fn list_orders(conn: &mut AsyncPgConnection, page: PageRequest) -> Result<Page<Order>, Error> {
    let mut query = orders::table.select(OrderRow::as_select()).order(orders::id.desc()).into_boxed();
    query = match page.start {
        PageStart::Offset(offset) => query.offset(i64::try_from(offset).unwrap_or(i64::MAX)),
        PageStart::After(after) => query.filter(orders::id.lt(after)),
    };
    let rows = query.limit(i64::from(page.limit) + 1).load(conn).await.or_storage("listing orders")?;
    let (rows, more) = split_more(rows, page.limit);
    let total = match page.total_from_slice(rows.len(), more) {
        Some(total) => total,
        None => listing_total_of(conn, "SELECT 1 FROM orders".to_owned(), None).await?,
    };
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut lines = load_lines(conn, &ids).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let order_lines = lines_of(&mut lines, row.id)?;
            order_from_rows(row, order_lines)
        })
        .collect::<Result<_, _>>()?;
    Ok(Page { items, total, more })
}

/// The message of the error `place_order` raises to roll back an order it refused after taking
/// some of its units (migration `2026-12-04-000001`).
const REFUSED_AFTER_A_WRITE: &str = "place_order: refused";

/// What `place_order` answered: outcome, order id, creation time, unit prices, total, and the
/// fingerprint stored under the idempotency key.
type OneStatementAnswer = (String, Option<i64>, Option<DateTime<Utc>>, Option<Vec<i64>>, Option<i64>, Option<String>);

/// Places an order in one statement, its own transaction: one round trip, with the products'
/// row locks held only while it runs. `Ok(None)` when the statement refused the order, having
/// written nothing: a missing, foreign or discontinued product, a shortfall or an oversized total.
/// The caller then decides under lock with [`place_order_under_lock`], so the domain's
/// [`price_order`] still names every error.
///
/// # Errors
/// [`Error::IdempotencyKeyReused`]; storage failures.
pub(crate) async fn place_order_in_one_statement(
    conn: &mut AsyncPgConnection,
    request: &OrderRequest,
    idempotency: Option<&Idempotency>,
) -> Result<Option<Placement>, Error> {
    let lines = request.lines();
    let product_ids: Vec<i64> = lines.iter().map(|line| line.product_id.get()).collect();
    let quantities: Vec<i32> = lines.iter().map(|line| quantity_column(line.quantity)).collect::<Result<_, _>>()?;
    let customer = request.customer.as_ref();
    let (outcome, order_id, created_at, unit_prices, total_cents, earlier_fingerprint): OneStatementAnswer =
        diesel::select(place_order(
            product_ids,
            quantities,
            request.status.as_str(),
            customer.map(|customer| customer.id.as_str()),
            customer.and_then(|customer| customer.email.as_ref()).map(|email| email.as_str()),
            request.manager_id.as_ref().map(ManagerId::as_str),
            idempotency.map(|idempotency| idempotency.scope.as_str()),
            idempotency.map(|idempotency| idempotency.key.as_str()),
            idempotency.map(|idempotency| idempotency.fingerprint.as_str()),
        ))
        .get_result(conn)
        .await
        .or_else(|err| match err {
            // Refused after taking some units, which the error put back (see the migration).
            diesel::result::Error::DatabaseError(_, info) if info.message() == REFUSED_AFTER_A_WRITE => {
                Ok(("refused".to_owned(), None, None, None, None, None))
            }
            err => Err(err),
        })
        .or_storage("placing an order")?;
    let missing = |what: &str| Error::Unexpected(anyhow::anyhow!("place_order answered {outcome:?} without {what}"));
    match outcome.as_str() {
        "placed" => {
            let id = OrderId::new(order_id.ok_or_else(|| missing("an order id"))?).map_err(anyhow::Error::new)?;
            let created_at = created_at.ok_or_else(|| missing("a creation time"))?;
            let unit_prices = unit_prices
                .ok_or_else(|| missing("unit prices"))?
                .into_iter()
                .map(Money::from_cents)
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::new)?;
            let (order_lines, total) = price_lines(request, &unit_prices)?;
            if Some(total.cents()) != total_cents {
                return Err(anyhow::anyhow!(
                    "order {id} was stored with total {total_cents:?}, priced {}",
                    total.cents()
                )
                .into());
            }
            let order = Order {
                id,
                lines: order_lines,
                total,
                status: request.status,
                customer: request.customer.clone(),
                manager_id: request.manager_id.clone(),
                created_at,
            };
            Ok(Some(Placement { order, replayed: false }))
        }
        "replay" => {
            let (Some(idempotency), Some(order_id), Some(fingerprint)) = (idempotency, order_id, earlier_fingerprint)
            else {
                return Err(missing("a key record"));
            };
            let earlier = KeyRecord { fingerprint, order_id: OrderId::new(order_id).map_err(anyhow::Error::new)? };
            let order_id = idempotency.replay(Some(&earlier))?.ok_or_else(|| missing("a replayable key"))?;
            let order = find_order(conn, order_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("order {order_id} of an idempotency key is missing"))?;
            Ok(Some(Placement { order, replayed: true }))
        }
        "refused" => Ok(None),
        other => Err(anyhow::anyhow!("place_order answered an unknown outcome {other:?}").into()),
    }
}

/// Places an order with the products locked and checked by the domain's [`price_order`]; to be
/// called inside a transaction, which makes it all-or-nothing. The path of an order that
/// [`place_order_in_one_statement`] refused: it names the error, or places the order if the
/// products changed in between.
///
/// # Errors
/// What [`price_order`] returns; [`Error::IdempotencyKeyReused`].
pub(crate) async fn place_order_under_lock(
    conn: &mut AsyncPgConnection,
    request: &OrderRequest,
    idempotency: Option<&Idempotency>,
) -> Result<Placement, Error> {
    if let Some(idempotency) = idempotency {
        // The key row cannot be claimed before the order it points to exists, so repeats of one
        // key queue on a lock instead: the second sees the first's row once it commits.
        let lock_key = format!("{} {}", idempotency.scope, idempotency.key.as_str());
        diesel::select(pg_advisory_xact_lock(lock_namespace::IDEMPOTENCY, hashtext(lock_key)))
            .execute(conn)
            .await
            .or_storage("locking an idempotency key")?;
        let earlier: Option<(String, i64)> = idempotency_keys::table
            .find((idempotency.scope.as_str(), idempotency.key.as_str()))
            .select((idempotency_keys::fingerprint, idempotency_keys::order_id))
            .first(conn)
            .await
            .optional()
            .or_storage("looking up an idempotency key")?;
        let earlier = earlier
            .map(|(fingerprint, order_id)| {
                OrderId::new(order_id).map(|order_id| KeyRecord { fingerprint, order_id }).map_err(anyhow::Error::new)
            })
            .transpose()?;
        if let Some(order_id) = idempotency.replay(earlier.as_ref())? {
            let order = find_order(conn, order_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("order {order_id} of an idempotency key is missing"))?;
            return Ok(Placement { order, replayed: true });
        }
    }

    // Four round trips: BEGIN, this locking SELECT, the writes in one function call, COMMIT.
    let products = lock_products(conn, &request.product_ids()).await?;
    let priced = price_order(request, &products)?;
    let (stock_ids, stocks) = stock_columns(&priced.stock_after)?;
    let product_ids: Vec<i64> = priced.lines.iter().map(|line| line.product_id.get()).collect();
    let quantities: Vec<i32> =
        priced.lines.iter().map(|line| quantity_column(line.quantity)).collect::<Result<_, _>>()?;
    let unit_prices: Vec<i64> = priced.lines.iter().map(|line| line.unit_price.cents()).collect();
    let customer = request.customer.as_ref();
    let (order_id, created_at): (i64, DateTime<Utc>) = diesel::select(place_order_rows(
        stock_ids,
        stocks,
        request.status.as_str(),
        priced.total.cents(),
        customer.map(|customer| customer.id.as_str()),
        customer.and_then(|customer| customer.email.as_ref()).map(|email| email.as_str()),
        request.manager_id.as_ref().map(ManagerId::as_str),
        product_ids,
        quantities,
        unit_prices,
        idempotency.map(|idempotency| idempotency.scope.as_str()),
        idempotency.map(|idempotency| idempotency.key.as_str()),
        idempotency.map(|idempotency| idempotency.fingerprint.as_str()),
    ))
    .get_result(conn)
    .await
    .or_storage("writing an order")?;

    let id = OrderId::new(order_id).map_err(anyhow::Error::new)?;
    Ok(Placement { order: priced.into_order(id, request, created_at), replayed: false })
}

/// Moves an order to `status`; to be called inside a transaction.
///
/// # Errors
/// [`Error::OrderNotFound`]; what [`stock_after_transition`] returns.
pub(crate) async fn change_order_status(
    conn: &mut AsyncPgConnection,
    id: OrderId,
    status: OrderStatus,
) -> Result<Order, Error> {
    let row = orders::table
        .find(id.get())
        .for_update()
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()
        .or_storage("locking an order")?
        .ok_or(Error::OrderNotFound(id))?;
    let mut lines = load_lines(conn, &[row.id]).await?;
    let order = order_from_rows(row, lines_of(&mut lines, id.get())?)?;
    let product_ids: Vec<_> = order.lines.iter().map(|line| line.product_id).collect();
    let products = lock_products(conn, &product_ids).await?;
    let stocks = stock_after_transition(&order, status, &products)?;
    set_stocks(conn, &stocks).await?;
    diesel::update(orders::table.find(id.get()))
        .set(orders::status.eq(status.as_str()))
        .execute(conn)
        .await
        .or_storage("updating an order's status")?;
    Ok(Order { status, ..order })
}

#[async_trait]
impl OrderRepository for PgStore {
    #[tracing::instrument(
        name = "pg.orders.place",
        skip_all,
        fields(lines = request.lines().len(), idempotent = idempotency.is_some(), order_id, replayed)
    )]
    async fn place(&self, request: OrderRequest, idempotency: Option<Idempotency>) -> Result<Placement, Error> {
        let mut conn = self.connection().await?;
        let placement = match conn
            .autocommit(async |conn| place_order_in_one_statement(conn, &request, idempotency.as_ref()).await)
            .await?
        {
            Some(placement) => placement,
            None => conn
                .transaction(async |conn| {
                    Ok::<_, TxError>(place_order_under_lock(conn, &request, idempotency.as_ref()).await?)
                })
                .await
                .map_err(|e| e.0)?,
        };
        let span = tracing::Span::current();
        span.record("order_id", placement.order.id.get());
        span.record("replayed", placement.replayed);
        Ok(placement)
    }

    #[tracing::instrument(name = "pg.orders.find", skip_all, fields(order_id = id.get()))]
    async fn find(&self, id: OrderId) -> Result<Option<Order>, Error> {
        let mut conn = self.connection().await?;
        find_order(&mut conn, id).await
    }

    #[tracing::instrument(name = "pg.orders.list", skip_all, fields(start = ?page.start, limit = page.limit))]
    async fn list(&self, page: PageRequest) -> Result<Page<Order>, Error> {
        let mut conn = self.connection().await?;
        list_orders(&mut conn, page).await
    }

    #[tracing::instrument(name = "pg.orders.change_status", skip_all, fields(order_id = id.get(), status = status.as_str()))]
    async fn change_status(&self, id: OrderId, status: OrderStatus) -> Result<Order, Error> {
        let mut conn = self.connection().await?;
        conn.transaction(async |conn| Ok::<_, TxError>(change_order_status(conn, id, status).await?))
            .await
            .map_err(|e| e.0)
    }
}
