//! Helpers of the PostgreSQL-only tests.

use std::sync::Arc;

use adapters::postgres::{ChangeEvent, ChangeListener, PgStore};
use adapters::testing::TestDatabase;
use chrono::{DateTime, Utc};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Money;
use domain::ids::ProductId;
use domain::product::{Description, NewProduct, ProductName, Stock};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

pub fn store_for(db: &TestDatabase) -> PgStore {
    PgStore::new(&db.settings()).unwrap()
}

pub fn new_product(id: Option<i64>, name: &str, stock: i64) -> NewProduct {
    NewProduct {
        id: id.map(|id| ProductId::new(id).unwrap()),
        manager_id: None,
        name: ProductName::parse(name).unwrap(),
        description: Description::default(),
        price: Money::from_cents(1599).unwrap(),
        stock: Stock::new(stock).unwrap(),
    }
}

/// An instant PostgreSQL stores exactly (it keeps microseconds).
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The `count` column of one row of `sql`.
pub async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap().count
}

/// A listener on `url` and the events it reports, in order.
pub fn listen(url: &str) -> (ChangeListener, UnboundedReceiver<ChangeEvent>) {
    let (sender, events) = unbounded_channel();
    let listener = ChangeListener::spawn(
        url,
        Arc::new(move |event| {
            let _ = sender.send(event);
        }),
    );
    (listener, events)
}
