//! Products of the catalogue: the repository functions, which compose inside one transaction, and
//! the [`ProductRepository`] port over them.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::dsl::{not, now};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use domain::ids::ProductId;
use domain::inventory::{InventoryAction, InventoryBatch, plan_inventory};
use domain::page::{Page, PageRequest, PageStart};
use domain::ports::ProductRepository;
use domain::product::{InventoryStatus, ManagerId, NewProduct, Product, ProductChanges, ProductFilter, Stock};
use domain::{Error, Money};

use super::PgStore;
use super::error::{QueryResultExt as _, TxError};
use super::models::{NewProductRow, ProductChangeset, ProductRow, count_of, products_from_rows, stock_column};
use super::schema::products;
use super::sql::{hashtext, listing_total, lock_namespace, pg_advisory_xact_lock, set_product_stocks};

/// Attempts at an automatic id before giving up: each failed one moves the sequence past every
/// id taken, so a second attempt only fails if ids are being taken explicitly right then.
const AUTOMATIC_ID_ATTEMPTS: usize = 5;

/// The product with this id, if any.
pub(crate) async fn find_product(conn: &mut AsyncPgConnection, id: ProductId) -> Result<Option<Product>, Error> {
    products::table
        .find(id.get())
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()
        .or_storage("loading a product")?
        .map(Product::try_from)
        .transpose()
}

/// The products with these ids, by ascending id, in one statement.
pub(crate) async fn find_products(conn: &mut AsyncPgConnection, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let rows = products::table
        .filter(products::id.eq_any(&ids))
        .order(products::id.asc())
        .select(ProductRow::as_select())
        .load(conn)
        .await
        .or_storage("loading products")?;
    products_from_rows(rows)
}

/// Inserts a product with its requested id, or the next free one.
///
/// # Errors
/// [`Error::ProductExists`] when the requested id is taken.
pub(crate) async fn insert_product(conn: &mut AsyncPgConnection, product: &NewProduct) -> Result<Product, Error> {
    let row = NewProductRow {
        manager_id: product.manager_id.as_ref().map(ManagerId::as_str),
        name: product.name.as_str(),
        description: product.description.as_str(),
        price_cents: product.price.cents(),
        stock: stock_column(product.stock)?,
    };
    let Some(id) = product.id else { return insert_with_automatic_id(conn, &row).await };
    let inserted = diesel::insert_into(products::table)
        .values((products::id.eq(id.get()), &row))
        .on_conflict(products::id)
        .do_nothing()
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .or_storage("inserting a product with its id")?
        .ok_or(Error::ProductExists(id))?;
    // Automatic ids must skip the one just taken. Only ever moving the sequence forward keeps a
    // concurrent `nextval` from being handed out twice.
    diesel::sql_query(
        "SELECT setval(pg_get_serial_sequence('products', 'id'), $1) \
         WHERE $1 > COALESCE(pg_sequence_last_value(pg_get_serial_sequence('products', 'id')::regclass), 0)",
    )
    .bind::<BigInt, _>(id.get())
    .execute(conn)
    .await
    .or_storage("moving the product id sequence past an explicit id")?;
    Product::try_from(inserted)
}

/// Inserts with the sequence's next id, stepping over ids that were taken explicitly without
/// moving the sequence (by a concurrent insert, or by hand).
async fn insert_with_automatic_id(conn: &mut AsyncPgConnection, row: &NewProductRow<'_>) -> Result<Product, Error> {
    for _ in 0..AUTOMATIC_ID_ATTEMPTS {
        let inserted = diesel::insert_into(products::table)
            .values(row)
            .on_conflict(products::id)
            .do_nothing()
            .returning(ProductRow::as_returning())
            .get_result(conn)
            .await
            .optional()
            .or_storage("inserting a product")?;
        if let Some(inserted) = inserted {
            return Product::try_from(inserted);
        }
        diesel::sql_query(
            "SELECT setval(pg_get_serial_sequence('products', 'id'), max(id)) FROM products \
             HAVING max(id) > COALESCE(pg_sequence_last_value(pg_get_serial_sequence('products', 'id')::regclass), 0)",
        )
        .execute(conn)
        .await
        .or_storage("moving the product id sequence past taken ids")?;
    }
    Err(Error::Unexpected(anyhow::anyhow!("no free product id after {AUTOMATIC_ID_ATTEMPTS} attempts")))
}

/// The products matching `filter`, exactly as [`ProductFilter::matches`] decides.
fn filtered(filter: &ProductFilter) -> products::BoxedQuery<'_, Pg> {
    let mut query = products::table.into_boxed();
    if let Some(manager_id) = &filter.manager_id {
        query = query.filter(products::manager_id.eq(manager_id.as_str()));
    }
    // `NOT discontinued` rather than `discontinued = $1`: a bound value would keep a generic plan
    // from using the partial index of products for sale.
    match filter.status {
        Some(InventoryStatus::InStock) => {
            query = query.filter(not(products::discontinued)).filter(products::stock.gt(0));
        }
        Some(InventoryStatus::OutOfStock) => {
            query = query.filter(not(products::discontinued)).filter(products::stock.eq(0));
        }
        Some(InventoryStatus::Discontinued) => query = query.filter(products::discontinued),
        None => {}
    }
    if filter.for_sale_only {
        query = query.filter(not(products::discontinued));
    }
    if filter.in_stock_only {
        query = query.filter(products::stock.gt(0));
    }
    query
}

/// Past this many rows, a listing's total is the planner's estimate instead of a count, so no
/// request counts a large table (README, "Pagination"). Below it, totals are exact.
pub(crate) const EXACT_TOTAL_UP_TO: i64 = 10_000;

/// The listing of `filter` as constant SQL for [`listing_total`], `$1` standing for the manager
/// id. The same conditions as [`filtered`]; the contract suite checks the totals of both against
/// [`ProductFilter::matches`] for every combination.
fn listing_sql(filter: &ProductFilter) -> String {
    let mut conditions = Vec::new();
    if filter.manager_id.is_some() {
        conditions.push("manager_id = $1");
    }
    match filter.status {
        Some(InventoryStatus::InStock) => conditions.push("NOT discontinued AND stock > 0"),
        Some(InventoryStatus::OutOfStock) => conditions.push("NOT discontinued AND stock = 0"),
        Some(InventoryStatus::Discontinued) => conditions.push("discontinued"),
        None => {}
    }
    if filter.for_sale_only {
        conditions.push("NOT discontinued");
    }
    if filter.in_stock_only {
        conditions.push("stock > 0");
    }
    let mut sql = String::from("SELECT 1 FROM products");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql
}

/// The size of a listing given as constant SQL: exact up to [`EXACT_TOTAL_UP_TO`] rows, the
/// planner's estimate past that. One cached statement, one round trip.
pub(crate) async fn listing_total_of(
    conn: &mut AsyncPgConnection,
    listing: String,
    arg: Option<&str>,
) -> Result<u64, Error> {
    let total: i64 = diesel::select(listing_total(listing, arg, EXACT_TOTAL_UP_TO))
        .get_result(conn)
        .await
        .or_storage("sizing a listing")?;
    count_of(total)
}

/// Rows one past a page's size are fetched to learn whether another page follows.
pub(crate) fn split_more<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    (rows, more)
}

/// A page of the products matching `filter`, by ascending id, and how many match in all. A
/// keyset page starts at the first id past the cursor, found in the index, however deep.
pub(crate) async fn list_products(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
    page: PageRequest,
) -> Result<Page<Product>, Error> {
    let mut query = filtered(filter).select(ProductRow::as_select()).order(products::id.asc());
    query = match page.start {
        PageStart::Offset(offset) => query.offset(i64::try_from(offset).unwrap_or(i64::MAX)),
        PageStart::After(after) => query.filter(products::id.gt(after)),
    };
    let rows = query.limit(i64::from(page.limit) + 1).load(conn).await.or_storage("listing products")?;
    let (rows, more) = split_more(rows, page.limit);
    let total = match page.total_from_slice(rows.len(), more) {
        Some(total) => total,
        None => {
            let manager_id = filter.manager_id.as_ref().map(ManagerId::as_str);
            listing_total_of(conn, listing_sql(filter), manager_id).await?
        }
    };
    Ok(Page { items: products_from_rows(rows)?, total, more })
}

/// Applies `changes` and returns the product as stored.
///
/// # Errors
/// [`Error::ProductNotFound`].
pub(crate) async fn update_product(
    conn: &mut AsyncPgConnection,
    id: ProductId,
    changes: &ProductChanges,
) -> Result<Product, Error> {
    let changeset = ProductChangeset {
        name: changes.name.as_ref().map(|name| name.as_str()),
        description: changes.description.as_ref().map(|description| description.as_str()),
        price_cents: changes.price.map(Money::cents),
        stock: changes.stock.map(stock_column).transpose()?,
    };
    // `updated_at` also keeps the changeset from being empty when nothing else changes.
    diesel::update(products::table.find(id.get()))
        .set((&changeset, products::updated_at.eq(now)))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .or_storage("updating a product")?
        .ok_or(Error::ProductNotFound(id))
        .and_then(Product::try_from)
}

/// Marks a product discontinued when [`Product::visible_to`] lets `manager_id` change it; to be
/// called inside a transaction.
///
/// # Errors
/// [`Error::ProductNotFound`] when there is no such product (for that manager).
pub(crate) async fn discontinue_product(
    conn: &mut AsyncPgConnection,
    id: ProductId,
    manager_id: Option<&ManagerId>,
) -> Result<Product, Error> {
    let product = lock_products(conn, &[id]).await?.pop().filter(|product| product.visible_to(manager_id));
    let Some(mut product) = product else { return Err(Error::ProductNotFound(id)) };
    diesel::update(products::table.find(id.get()))
        .set((products::discontinued.eq(true), products::updated_at.eq(now)))
        .execute(conn)
        .await
        .or_storage("discontinuing a product")?;
    product.discontinued = true;
    Ok(product)
}

/// Locks the products with these ids, in id order (the one order every writer follows, so
/// concurrent transactions cannot deadlock), and returns those that exist.
pub(crate) async fn lock_products(conn: &mut AsyncPgConnection, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let rows = products::table
        .filter(products::id.eq_any(&ids))
        .order(products::id.asc())
        .for_update()
        .select(ProductRow::as_select())
        .load(conn)
        .await
        .or_storage("locking products")?;
    products_from_rows(rows)
}

/// Writes stock levels in one statement, whatever the number of products. Through a SQL function
/// called by a `SELECT`, which diesel prepares once per connection (a raw `UPDATE` it would
/// prepare again on every call).
pub(crate) async fn set_stocks(conn: &mut AsyncPgConnection, stocks: &[(ProductId, Stock)]) -> Result<(), Error> {
    if stocks.is_empty() {
        return Ok(());
    }
    let (ids, levels) = stock_columns(stocks)?;
    diesel::select(set_product_stocks(ids, levels)).execute(conn).await.or_storage("writing stock levels")?;
    Ok(())
}

/// Stock levels as the two arrays the SQL functions take.
pub(crate) fn stock_columns(stocks: &[(ProductId, Stock)]) -> Result<(Vec<i64>, Vec<i32>), Error> {
    let ids = stocks.iter().map(|(id, _)| id.get()).collect();
    let levels = stocks.iter().map(|(_, stock)| stock_column(*stock)).collect::<Result<_, _>>()?;
    Ok((ids, levels))
}

/// Applies a bulk load; to be called inside a transaction, which makes it all-or-nothing.
///
/// # Errors
/// What [`plan_inventory`] returns.
pub(crate) async fn apply_inventory_batch(
    conn: &mut AsyncPgConnection,
    batch: &InventoryBatch,
) -> Result<Vec<Product>, Error> {
    let manager_id = batch.manager_id().as_str();
    // Row locks cannot cover products that do not exist yet: serialise one manager's loads so two
    // of them cannot both create a product of the same name.
    diesel::select(pg_advisory_xact_lock(lock_namespace::INVENTORY, hashtext(manager_id)))
        .execute(conn)
        .await
        .or_storage("locking a manager's inventory")?;
    let existing = products::table
        .filter(products::manager_id.eq(manager_id))
        .order(products::id.asc())
        .for_update()
        .select(ProductRow::as_select())
        .load(conn)
        .await
        .or_storage("locking a manager's products")?;
    let existing = products_from_rows(existing)?;
    let actions = plan_inventory(batch, &existing)?;

    let mut existing: HashMap<ProductId, Product> = existing.into_iter().map(|product| (product.id, product)).collect();
    let mut stored = Vec::with_capacity(actions.len());
    let mut updated = Vec::new();
    for action in &actions {
        match action {
            InventoryAction::Update(update) => {
                let mut product = existing
                    .remove(&update.id)
                    .ok_or_else(|| anyhow::anyhow!("planned product {} was not locked", update.id))?;
                update.apply_to(&mut product);
                updated.push(product.clone());
                stored.push(product);
            }
            InventoryAction::Create(new) => stored.push(insert_product(conn, new).await?),
        }
    }
    write_products(conn, &updated).await?;
    Ok(stored)
}

/// Writes the price, stock and description of these locked products in one statement.
async fn write_products(conn: &mut AsyncPgConnection, products: &[Product]) -> Result<(), Error> {
    if products.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = products.iter().map(|product| product.id.get()).collect();
    let prices: Vec<i64> = products.iter().map(|product| product.price.cents()).collect();
    let stocks: Vec<i32> = products.iter().map(|product| stock_column(product.stock)).collect::<Result<_, _>>()?;
    let descriptions: Vec<&str> = products.iter().map(|product| product.description.as_str()).collect();
    diesel::sql_query(
        "UPDATE products AS p SET price_cents = v.price_cents, stock = v.stock, description = v.description, \
         updated_at = now() \
         FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[]) AS v (id, price_cents, stock, description) \
         WHERE p.id = v.id",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<BigInt>, _>(prices)
    .bind::<Array<Integer>, _>(stocks)
    .bind::<Array<Text>, _>(descriptions)
    .execute(conn)
    .await
    .or_storage("updating a manager's products")?;
    Ok(())
}

#[async_trait]
impl ProductRepository for PgStore {
    #[tracing::instrument(name = "pg.products.create", skip_all, fields(product_id = product.id.map(ProductId::get)))]
    async fn create(&self, product: NewProduct) -> Result<Product, Error> {
        let mut conn = self.connection().await?;
        conn.transaction(async |conn| Ok::<_, TxError>(insert_product(conn, &product).await?)).await.map_err(|e| e.0)
    }

    #[tracing::instrument(name = "pg.products.find", skip_all, fields(product_id = id.get()))]
    async fn find(&self, id: ProductId) -> Result<Option<Product>, Error> {
        let mut conn = self.connection().await?;
        find_product(&mut conn, id).await
    }

    #[tracing::instrument(name = "pg.products.find_many", skip_all, fields(products = ids.len()))]
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, Error> {
        let mut conn = self.connection().await?;
        find_products(&mut conn, ids).await
    }

    #[tracing::instrument(name = "pg.products.list", skip_all, fields(start = ?page.start, limit = page.limit))]
    async fn list(&self, filter: ProductFilter, page: PageRequest) -> Result<Page<Product>, Error> {
        let mut conn = self.connection().await?;
        list_products(&mut conn, &filter, page).await
    }

    #[tracing::instrument(name = "pg.products.update", skip_all, fields(product_id = id.get()))]
    async fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, Error> {
        let mut conn = self.connection().await?;
        update_product(&mut conn, id, &changes).await
    }

    #[tracing::instrument(name = "pg.products.discontinue", skip_all, fields(product_id = id.get()))]
    async fn discontinue(&self, id: ProductId, manager_id: Option<ManagerId>) -> Result<Product, Error> {
        let mut conn = self.connection().await?;
        conn.transaction(async |conn| Ok::<_, TxError>(discontinue_product(conn, id, manager_id.as_ref()).await?))
            .await
            .map_err(|e| e.0)
    }

    #[tracing::instrument(
        name = "pg.products.apply_inventory",
        skip_all,
        fields(manager_id = batch.manager_id().as_str(), items = batch.items().len())
    )]
    async fn apply_inventory(&self, batch: InventoryBatch) -> Result<Vec<Product>, Error> {
        let mut conn = self.connection().await?;
        conn.transaction(async |conn| Ok::<_, TxError>(apply_inventory_batch(conn, &batch).await?))
            .await
            .map_err(|e| e.0)
    }
}
