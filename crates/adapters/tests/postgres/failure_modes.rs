//! How the adapter fails and recovers: statement timeouts, an unreachable server, killed
//! sessions, and values the schema refuses.

use std::time::{Duration, Instant};

use adapters::postgres::{PgStore, PoolSettings};
use adapters::testing::TestDatabase;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use domain::Error;
use domain::audit::AuditRecord;
use domain::ids::{OrderId, ProductId};
use domain::order::{OrderRequest, Quantity, RequestedLine};
use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository};
use domain::status::OrderStatus;

use crate::support::{at, count, new_product, store_for};

fn order_of(product: ProductId, quantity: i64) -> OrderRequest {
    let line = RequestedLine { product_id: product, quantity: Quantity::new(quantity).unwrap() };
    OrderRequest::new(vec![line], None, None, OrderStatus::Pending).unwrap()
}

#[tokio::test]
async fn a_statement_held_past_its_timeout_answers_unavailable() {
    let db = TestDatabase::create().await;
    let store = PgStore::new(&PoolSettings { statement_timeout: Duration::from_millis(300), ..db.settings() }).unwrap();
    let product = store.create(new_product(None, "Mug", 5)).await.unwrap();
    let mut blocker = AsyncPgConnection::establish(&db.url).await.unwrap();
    blocker
        .batch_execute(&format!("BEGIN; SELECT * FROM products WHERE id = {} FOR UPDATE", product.id.get()))
        .await
        .unwrap();

    let err = store.place(order_of(product.id, 1), None).await.unwrap_err();

    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(ProductRepository::find(&store, product.id).await.unwrap().unwrap().stock.get(), 5);
}

#[tokio::test]
async fn an_unreachable_database_answers_unavailable_quickly() {
    let store = PgStore::new(&PoolSettings {
        url: "postgres://postgres@127.0.0.1:1/postgres".to_owned(),
        pool_size: 2,
        wait_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(1),
    })
    .unwrap();
    let started = Instant::now();

    let ping = store.ping().await.unwrap_err();
    let find = OrderRepository::find(&store, OrderId::new(1).unwrap()).await.unwrap_err();

    assert!(matches!(ping, Error::Unavailable(_)), "{ping:?}");
    assert!(matches!(find, Error::Unavailable(_)), "{find:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_store_reconnects_by_itself_after_its_sessions_are_killed() {
    let db = TestDatabase::create().await;
    let store = store_for(&db);
    store.ping().await.unwrap();
    let killed = count(
        &db.url,
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'ecommerce-api'",
    )
    .await;
    assert_eq!(killed, 1, "the pool's session should carry the application name");
    tokio::time::sleep(Duration::from_millis(200)).await;

    store.ping().await.unwrap();
}

fn audit_record(at: DateTime<Utc>, request_id: &str, manager_id: Option<&str>, status: u16) -> AuditRecord {
    AuditRecord {
        at,
        request_id: request_id.to_owned(),
        manager_id: manager_id.map(str::to_owned),
        method: "POST".to_owned(),
        path: "/api/products".to_owned(),
        status,
        duration_ms: 12.625,
    }
}

#[tokio::test]
async fn an_audit_record_with_a_status_http_cannot_answer_is_refused_as_unexpected() {
    let db = TestDatabase::create().await;
    let store = store_for(&db);

    let err = store.record(audit_record(at(1000), "req-1", None, 700)).await.unwrap_err();

    assert!(matches!(err, Error::Unexpected(_)), "{err:?}");
    assert!(store.recent(10).await.unwrap().is_empty());
}
