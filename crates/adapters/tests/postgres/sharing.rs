//! What several processes sharing one database see: counters that add up across them, and
//! automatic ids that step over ids taken behind the sequence's back.

use adapters::testing::TestDatabase;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use domain::ports::{ProductRepository, RateCounter};
use futures_util::future::join_all;

use crate::support::{at, new_product, store_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hits_from_two_processes_count_to_exactly_fifty() {
    let db = TestDatabase::create().await;
    // Two pools of their own, as two processes sharing the database would have.
    let processes = [store_for(&db), store_for(&db)];
    let window = at(3600);

    let hits = (0..50).map(|i| {
        let store = processes[i % 2].clone();
        tokio::spawn(async move { store.hit("manager:mgr_1", window).await })
    });
    let mut counts: Vec<u32> = join_all(hits).await.into_iter().map(|hit| hit.unwrap().unwrap()).collect();

    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u32>>());
    assert_eq!(processes[1].hit("manager:mgr_1", window).await.unwrap(), 51);
}

#[tokio::test]
async fn automatic_ids_step_over_ids_taken_behind_the_sequence() {
    let db = TestDatabase::create().await;
    let store = store_for(&db);
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
