//! The migrations: repeatable, safe to run from two processes at once, and reversible.

use adapters::postgres::run_migrations;
use adapters::testing::TestDatabase;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use domain::ports::ProductRepository;

use crate::support::{count, new_product, store_for};

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
    let store = store_for(&db);
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
