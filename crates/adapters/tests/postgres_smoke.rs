//! The PostgreSQL adapter against a real server: migrations, id assignment, concurrency,
//! idempotency and failure modes. Each test runs in a database of its own.

// Test helpers outside `#[test]` functions fail the test by panicking too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::postgres::{PgStore, PoolSettings, run_migrations};
use adapters::testing::TestDatabase;
use diesel::sql_types::BigInt;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use domain::ids::{OrderId, ProductId};
use domain::inventory::{InventoryBatch, InventoryItem};
use domain::order::{Idempotency, IdempotencyKey, OrderRequest, Quantity, RequestedLine};
use domain::ports::{HealthCheck, OrderRepository, ProductRepository};
use domain::product::{Description, InventoryStatus, ManagerId, NewProduct, ProductFilter, ProductName, Stock};
use domain::status::OrderStatus;
use domain::{Error, Money, PageRequest};

fn new_product(id: Option<i64>, name: &str, stock: i64) -> NewProduct {
    NewProduct {
        id: id.map(|id| ProductId::new(id).unwrap()),
        manager_id: None,
        name: ProductName::parse(name).unwrap(),
        description: Description::default(),
        price: Money::from_cents(1599).unwrap(),
        stock: Stock::new(stock).unwrap(),
    }
}

fn order_of(product: ProductId, quantity: i64) -> OrderRequest {
    let line = RequestedLine { product_id: product, quantity: Quantity::new(quantity).unwrap() };
    OrderRequest::new(vec![line], None, None, OrderStatus::Pending).unwrap()
}

async fn store_for(db: &TestDatabase) -> PgStore {
    PgStore::new(&db.settings()).unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap().count
}

#[tokio::test]
async fn running_the_migrations_again_changes_nothing() {
    let db = TestDatabase::create().await;
    let applied = count(&db.url, "SELECT count(*) AS count FROM __diesel_schema_migrations").await;
    assert!(applied >= 2);

    run_migrations(&db.url).await.unwrap();
    run_migrations(&db.url).await.unwrap();

    assert_eq!(count(&db.url, "SELECT count(*) AS count FROM __diesel_schema_migrations").await, applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_migrating_an_empty_database_at_once_both_succeed() {
    let db = TestDatabase::empty().await;

    let (first, second) = tokio::join!(run_migrations(&db.url), run_migrations(&db.url));

    first.unwrap();
    second.unwrap();
    assert_eq!(count(&db.url, "SELECT count(*) AS count FROM products").await, 0);
    let store = store_for(&db).await;
    store.create(new_product(None, "Mug", 1)).await.unwrap();
}

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let db = TestDatabase::create().await;
    let url = db.url.clone();

    tokio::task::spawn_blocking(move || {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url).unwrap();
        let migrations =
            FileBasedMigrations::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations")).unwrap();
        let reverted = conn.revert_all_migrations(migrations.clone()).unwrap();
        assert!(reverted.len() >= 2);
        conn.run_pending_migrations(migrations).unwrap();
    })
    .await
    .unwrap();

    assert_eq!(count(&db.url, "SELECT count(*) AS count FROM orders").await, 0);
}

#[tokio::test]
async fn automatic_ids_skip_an_id_given_explicitly() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;

    let first = store.create(new_product(None, "First", 1)).await.unwrap();
    let explicit = store.create(new_product(Some(first.id.get() + 1), "Explicit", 1)).await.unwrap();
    let next = store.create(new_product(None, "Next", 1)).await.unwrap();

    assert_eq!(explicit.id.get(), first.id.get() + 1);
    assert_eq!(next.id.get(), explicit.id.get() + 1);
}

#[tokio::test]
async fn automatic_ids_step_over_ids_taken_behind_the_sequence() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    let first = store.create(new_product(None, "First", 1)).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let taken = first.id.get() + 1;
    conn.batch_execute(&format!(
        "INSERT INTO products (id, name, price_cents, stock) VALUES ({taken}, 'Sneaky', 1, 1)"
    ))
    .await
    .unwrap();

    let next = store.create(new_product(None, "Next", 1)).await.unwrap();

    assert!(next.id.get() > taken);
}

#[tokio::test]
async fn an_explicit_id_that_is_taken_answers_product_exists() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    store.create(new_product(Some(7), "Mug", 1)).await.unwrap();

    let err = store.create(new_product(Some(7), "Other mug", 1)).await.unwrap_err();

    assert!(matches!(err, Error::ProductExists(id) if id.get() == 7), "{err:?}");
    let kept = ProductRepository::find(&store, ProductId::new(7).unwrap()).await.unwrap().unwrap();
    assert_eq!(kept.name.as_str(), "Mug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_orders_for_ten_units_sell_exactly_ten() {
    let db = TestDatabase::create().await;
    let store = Arc::new(store_for(&db).await);
    let product = store.create(new_product(None, "Scarce", 10)).await.unwrap();

    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.place(order_of(product.id, 1), None).await })
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => placed += 1,
            Err(Error::InsufficientStock { .. }) => {}
            Err(other) => panic!("unexpected failure: {other:?}"),
        }
    }

    assert_eq!(placed, 10);
    let left = ProductRepository::find(&*store, product.id).await.unwrap().unwrap();
    assert_eq!(left.stock.get(), 0);
    assert_eq!(OrderRepository::list(&*store, PageRequest::ALL).await.unwrap().total, 10);
}

#[tokio::test]
async fn cancelling_an_order_puts_its_stock_back() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    let product = store.create(new_product(None, "Mug", 5)).await.unwrap();
    let placed = store.place(order_of(product.id, 3), None).await.unwrap();
    assert_eq!(ProductRepository::find(&store, product.id).await.unwrap().unwrap().stock.get(), 2);

    let cancelled = store.change_status(placed.order.id, OrderStatus::Cancelled).await.unwrap();

    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(ProductRepository::find(&store, product.id).await.unwrap().unwrap().stock.get(), 5);
    let again = store.change_status(placed.order.id, OrderStatus::Completed).await.unwrap_err();
    assert!(matches!(again, Error::InvalidStatusTransition { .. }), "{again:?}");
    let stored = OrderRepository::find(&store, placed.order.id).await.unwrap().unwrap();
    assert_eq!(stored, cancelled);
}

#[tokio::test]
async fn repeating_an_idempotent_order_replays_it_and_places_nothing() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    let product = store.create(new_product(None, "Mug", 5)).await.unwrap();
    let key = |fingerprint: &str| Idempotency {
        scope: "storefront".to_owned(),
        key: IdempotencyKey::parse("key-1").unwrap(),
        fingerprint: fingerprint.to_owned(),
    };

    let first = store.place(order_of(product.id, 2), Some(key("abc"))).await.unwrap();
    let repeat = store.place(order_of(product.id, 2), Some(key("abc"))).await.unwrap();
    let reused = store.place(order_of(product.id, 1), Some(key("other"))).await.unwrap_err();

    assert!(!first.replayed);
    assert!(repeat.replayed);
    assert_eq!(repeat.order, first.order);
    assert!(matches!(reused, Error::IdempotencyKeyReused), "{reused:?}");
    assert_eq!(ProductRepository::find(&store, product.id).await.unwrap().unwrap().stock.get(), 3);
    assert_eq!(OrderRepository::list(&store, PageRequest::ALL).await.unwrap().total, 1);
}

#[tokio::test]
async fn orders_list_newest_first_with_their_lines() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    let mug = store.create(new_product(None, "Mug", 5)).await.unwrap();
    let cup = store.create(new_product(None, "Cup", 5)).await.unwrap();
    let lines = vec![
        RequestedLine { product_id: cup.id, quantity: Quantity::new(1).unwrap() },
        RequestedLine { product_id: mug.id, quantity: Quantity::new(2).unwrap() },
    ];
    let older = store.place(OrderRequest::new(lines, None, None, OrderStatus::Pending).unwrap(), None).await.unwrap();
    let newer = store.place(order_of(mug.id, 1), None).await.unwrap();

    let page = OrderRepository::list(&store, PageRequest { offset: 0, limit: 10 }).await.unwrap();

    assert_eq!(page.total, 2);
    assert_eq!(page.items, vec![newer.order, older.order.clone()]);
    assert_eq!(page.items[1].total.cents(), 3 * 1599);
    let product_ids: Vec<_> = page.items[1].lines.iter().map(|line| line.product_id).collect();
    assert_eq!(product_ids, vec![mug.id, cup.id]);
    let second = OrderRepository::list(&store, PageRequest { offset: 1, limit: 1 }).await.unwrap();
    assert_eq!(second.items, vec![older.order]);
}

#[tokio::test]
async fn a_bulk_load_updates_by_id_and_name_creates_the_rest_and_lists_by_status() {
    let db = TestDatabase::create().await;
    let store = store_for(&db).await;
    let manager = ManagerId::parse("mgr_1").unwrap();
    let item = |id: Option<ProductId>, name: &str, quantity: i64, description: Option<&str>| InventoryItem {
        id,
        name: ProductName::parse(name).unwrap(),
        price: Money::from_cents(250).unwrap(),
        quantity: Stock::new(quantity).unwrap(),
        description: description.map(|text| Description::parse(text).unwrap()),
    };
    let loaded = store
        .apply_inventory(
            InventoryBatch::new(manager.clone(), vec![item(None, "Mug", 3, Some("blue")), item(None, "Cup", 0, None)])
                .unwrap(),
        )
        .await
        .unwrap();
    let (mug, cup) = (loaded[0].clone(), loaded[1].clone());
    assert_eq!(mug.manager_id.as_ref(), Some(&manager));

    let reloaded = store
        .apply_inventory(
            InventoryBatch::new(manager.clone(), vec![item(None, "Tea", 1, None), item(Some(mug.id), "Mug", 9, None)])
                .unwrap(),
        )
        .await
        .unwrap();

    assert_eq!(reloaded[1].id, mug.id);
    assert_eq!(reloaded[1].stock.get(), 9);
    assert_eq!(reloaded[1].description.as_str(), "blue");
    assert_eq!(reloaded[0].name.as_str(), "Tea");
    store.discontinue(cup.id, Some(manager.clone())).await.unwrap();
    let other = ManagerId::parse("mgr_2").unwrap();
    let foreign = store.discontinue(mug.id, Some(other)).await.unwrap_err();
    assert!(matches!(foreign, Error::ProductNotFound(_)), "{foreign:?}");

    let listed = |status| {
        let filter = ProductFilter { manager_id: Some(manager.clone()), status, ..Default::default() };
        let store = store.clone();
        async move {
            let page = ProductRepository::list(&store, filter, PageRequest::ALL).await.unwrap();
            page.items.into_iter().map(|product| product.name.as_str().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(None).await, vec!["Mug", "Cup", "Tea"]);
    assert_eq!(listed(Some(InventoryStatus::InStock)).await, vec!["Mug", "Tea"]);
    assert_eq!(listed(Some(InventoryStatus::Discontinued)).await, vec!["Cup"]);
    assert!(listed(Some(InventoryStatus::OutOfStock)).await.is_empty());
    let storefront = ProductFilter { for_sale_only: true, ..Default::default() };
    assert_eq!(ProductRepository::list(&store, storefront, PageRequest::ALL).await.unwrap().total, 2);
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
    let store = store_for(&db).await;
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
