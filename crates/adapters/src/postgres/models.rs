//! Rows as stored, and their conversion to domain values. A row that breaks a domain invariant
//! means the database was changed behind the adapter's back: that is [`Error::Unexpected`].

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::Error;
use domain::Money;
use domain::audit::AuditRecord;
use domain::ids::{OrderId, ProductId};
use domain::order::{Customer, CustomerId, Email, Order, OrderLine, Quantity};
use domain::product::{Description, ManagerId, Product, ProductName, Stock};
use domain::status::OrderStatus;

use super::schema::{audit_log, order_lines, orders, products};

#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ProductRow {
    pub(crate) id: i64,
    pub(crate) manager_id: Option<String>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) price_cents: i64,
    pub(crate) stock: i32,
    pub(crate) discontinued: bool,
}

impl TryFrom<ProductRow> for Product {
    type Error = Error;

    fn try_from(row: ProductRow) -> Result<Self, Error> {
        let id = row.id;
        let product = (|| -> anyhow::Result<Product> {
            Ok(Product {
                id: ProductId::new(row.id)?,
                manager_id: row.manager_id.as_deref().map(ManagerId::parse).transpose()?,
                name: ProductName::parse(&row.name)?,
                description: Description::parse(&row.description)?,
                price: Money::from_cents(row.price_cents)?,
                stock: Stock::new(i64::from(row.stock))?,
                discontinued: row.discontinued,
            })
        })();
        product.with_context(|| format!("stored product {id} is invalid")).map_err(Error::Unexpected)
    }
}

/// Converts rows in order, failing on the first invalid one.
pub(crate) fn products_from_rows(rows: Vec<ProductRow>) -> Result<Vec<Product>, Error> {
    rows.into_iter().map(Product::try_from).collect()
}

/// A product to insert; `id` is left to the sequence when absent.
#[derive(Debug, Insertable)]
#[diesel(table_name = products, treat_none_as_default_value = false)]
pub(crate) struct NewProductRow<'a> {
    pub(crate) manager_id: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) price_cents: i64,
    pub(crate) stock: i32,
}

/// The columns a product update may set; absent fields are left alone.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = products)]
pub(crate) struct ProductChangeset<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) price_cents: Option<i64>,
    pub(crate) stock: Option<i32>,
}

/// Stock as stored: `Stock` stays within a PostgreSQL `integer` by construction, so the error
/// can only mean a broken invariant.
pub(crate) fn stock_column(stock: Stock) -> Result<i32, Error> {
    i32::try_from(stock.get())
        .map_err(|_| Error::Unexpected(anyhow::anyhow!("stock {} is beyond a column", stock.get())))
}

/// A quantity as stored: `Quantity` stays within a PostgreSQL `integer` by construction, so the
/// error can only mean a broken invariant.
pub(crate) fn quantity_column(quantity: Quantity) -> Result<i32, Error> {
    i32::try_from(quantity.get())
        .map_err(|_| Error::Unexpected(anyhow::anyhow!("quantity {} is beyond a column", quantity.get())))
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub(crate) struct OrderRow {
    pub(crate) id: i64,
    pub(crate) status: String,
    pub(crate) total_cents: i64,
    pub(crate) customer_id: Option<String>,
    pub(crate) customer_email: Option<String>,
    pub(crate) manager_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = order_lines, check_for_backend(diesel::pg::Pg))]
pub(crate) struct OrderLineRow {
    pub(crate) order_id: i64,
    pub(crate) product_id: i64,
    pub(crate) quantity: i32,
    pub(crate) unit_price_cents: i64,
}

/// An order from its row and its lines' rows (already in product-id order).
pub(crate) fn order_from_rows(row: OrderRow, lines: Vec<OrderLineRow>) -> Result<Order, Error> {
    let id = row.id;
    let order = (|| -> anyhow::Result<Order> {
        let customer = match row.customer_id {
            Some(customer_id) => Some(Customer {
                id: CustomerId::parse(&customer_id)?,
                email: row.customer_email.as_deref().map(Email::parse).transpose()?,
            }),
            None => None,
        };
        Ok(Order {
            id: OrderId::new(row.id)?,
            lines: lines
                .into_iter()
                .map(|line| {
                    Ok(OrderLine {
                        product_id: ProductId::new(line.product_id)?,
                        quantity: Quantity::new(i64::from(line.quantity))?,
                        unit_price: Money::from_cents(line.unit_price_cents)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            total: Money::from_cents(row.total_cents)?,
            status: row.status.parse::<OrderStatus>()?,
            customer,
            manager_id: row.manager_id.as_deref().map(ManagerId::parse).transpose()?,
            created_at: row.created_at,
        })
    })();
    order.with_context(|| format!("stored order {id} is invalid")).map_err(Error::Unexpected)
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AuditRow {
    pub(crate) id: i64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) request_id: String,
    pub(crate) manager_id: Option<String>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: i16,
    pub(crate) duration_ms: f64,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = Error;

    fn try_from(row: AuditRow) -> Result<Self, Error> {
        let status = u16::try_from(row.status)
            .with_context(|| format!("stored audit record {} has status {}", row.id, row.status))
            .map_err(Error::Unexpected)?;
        Ok(AuditRecord {
            at: row.at,
            request_id: row.request_id,
            manager_id: row.manager_id,
            method: row.method,
            path: row.path,
            status,
            duration_ms: row.duration_ms,
        })
    }
}

/// An audit record to insert; `id` comes from the sequence.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub(crate) struct NewAuditRow<'a> {
    pub(crate) at: DateTime<Utc>,
    pub(crate) request_id: &'a str,
    pub(crate) manager_id: Option<&'a str>,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: i16,
    pub(crate) duration_ms: f64,
}

impl<'a> NewAuditRow<'a> {
    /// The row of `record`, whose status must be one HTTP can answer.
    pub(crate) fn from_record(record: &'a AuditRecord) -> Result<Self, Error> {
        let status = i16::try_from(record.status)
            .with_context(|| format!("audit status {} does not fit the audit log", record.status))
            .map_err(Error::Unexpected)?;
        Ok(NewAuditRow {
            at: record.at,
            request_id: &record.request_id,
            manager_id: record.manager_id.as_deref(),
            method: &record.method,
            path: &record.path,
            status,
            duration_ms: record.duration_ms,
        })
    }
}

/// A row count as the unsigned number it is.
pub(crate) fn count_of(rows: i64) -> Result<u64, Error> {
    u64::try_from(rows).map_err(|_| Error::Unexpected(anyhow::anyhow!("negative row count {rows}")))
}
