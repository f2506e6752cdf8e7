//! PostgreSQL places an order in one SQL statement that checks and prices it itself, falling back
//! to the domain's `price_order` under lock only when that statement refuses. The domain function
//! stays the rule: the same random orders (missing, foreign and discontinued products, shortfalls,
//! totals past the largest amount, repeated and reused idempotency keys) go through the in-memory
//! store, which only ever asks `price_order`, and through PostgreSQL, and every outcome and every
//! stock level afterwards must agree.

use std::collections::BTreeMap;

use adapters::memory::MemoryStore;
use adapters::postgres::PgStore;
use adapters::testing::TestDatabase;
use domain::Money;
use domain::error::Error;
use domain::ids::ProductId;
use domain::order::{
    Customer, CustomerId, Idempotency, IdempotencyKey, Order, OrderRequest, Placement, Quantity, RequestedLine,
};
use domain::ports::{OrderRepository, ProductRepository};
use domain::product::{Description, ManagerId, NewProduct, ProductName, Stock};
use domain::status::OrderStatus;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::store_for;

const SEEDS: u64 = 24;
const PRODUCTS_PER_SEED: i64 = 8;
const ORDERS_PER_SEED: usize = 40;
const MANAGERS: [Option<&str>; 3] = [None, Some("m-one"), Some("m-two")];

/// Both stores, products created with the same ids in each.
struct Pair {
    memory: MemoryStore,
    postgres: PgStore,
}

/// The first product id of a seed: each seed has its own ids, and one past its products that is
/// never created.
fn first_id(seed: u64) -> i64 {
    1 + i64::try_from(seed).unwrap() * 100
}

async fn stock_the_shelves(pair: &Pair, seed: u64, rng: &mut StdRng) {
    for n in 0..PRODUCTS_PER_SEED {
        let id = ProductId::new(first_id(seed) + n).unwrap();
        // Mostly a few units, for shortfalls; some products with enough units, and at a price
        // high enough, for a total past the largest amount.
        let (price, stock) = match rng.random_range(0..10) {
            0 => (Money::MAX_PRICE, Stock::MAX),
            1 => (Money::from_cents(rng.random_range(1..5_000)).unwrap(), Stock::MAX),
            _ => (Money::from_cents(rng.random_range(1..5_000)).unwrap(), rng.random_range(0..10)),
        };
        let manager = MANAGERS[rng.random_range(0..MANAGERS.len())].map(|m| ManagerId::parse(m).unwrap());
        let product = NewProduct {
            id: Some(id),
            manager_id: manager.clone(),
            name: ProductName::parse(&format!("product {id}")).unwrap(),
            description: Description::default(),
            price,
            stock: Stock::new(i64::from(stock)).unwrap(),
        };
        pair.memory.create(product.clone()).await.unwrap();
        pair.postgres.create(product).await.unwrap();
        if rng.random_ratio(1, 6) {
            pair.memory.discontinue(id, manager.clone()).await.unwrap();
            pair.postgres.discontinue(id, manager).await.unwrap();
        }
    }
}

/// A random order over the seed's products and one id that does not exist, with its
/// idempotency, if any, drawn from a few keys so that keys repeat, with the same body or not.
fn random_order(seed: u64, rng: &mut StdRng) -> (OrderRequest, Option<Idempotency>) {
    let lines = (0..rng.random_range(1..=3))
        .map(|_| {
            let units = if rng.random_ratio(1, 8) { 2_000_000_000 } else { rng.random_range(1..=3) };
            RequestedLine {
                product_id: ProductId::new(first_id(seed) + rng.random_range(0..=PRODUCTS_PER_SEED)).unwrap(),
                quantity: Quantity::new(units).unwrap(),
            }
        })
        .collect::<Vec<_>>();
    let manager = if rng.random_ratio(1, 2) { None } else { MANAGERS[rng.random_range(1..MANAGERS.len())] }
        .map(|m| ManagerId::parse(m).unwrap());
    let status = if manager.is_some() { OrderStatus::Completed } else { OrderStatus::Pending };
    let customer = rng.random_ratio(1, 2).then(|| Customer { id: CustomerId::parse("cust-1").unwrap(), email: None });
    let request = match OrderRequest::new(lines, customer, manager, status) {
        Ok(request) => request,
        // Merged lines past the largest quantity: the request never reaches a store.
        Err(_) => return random_order(seed, rng),
    };
    let idempotency = rng.random_ratio(1, 3).then(|| Idempotency {
        scope: format!("seed-{seed}"),
        key: IdempotencyKey::parse(&format!("key-{}", rng.random_range(0..4))).unwrap(),
        fingerprint: format!("{:?}", request.lines()),
    });
    (request, idempotency)
}

/// An outcome with what only one store decides (the order's id and time) left out.
fn comparable(outcome: Result<Placement, Error>) -> String {
    match outcome {
        Ok(Placement { order: Order { lines, total, status, customer, manager_id, .. }, replayed }) => {
            format!("placed {lines:?} {total:?} {status:?} {customer:?} {manager_id:?} replayed={replayed}")
        }
        Err(err) => format!("refused: {err:?}"),
    }
}

#[tokio::test]
async fn random_orders_have_the_same_outcome_on_postgres_as_in_the_domain() {
    let db = TestDatabase::create().await;
    let pair = Pair { memory: MemoryStore::new(), postgres: store_for(&db) };
    let mut outcomes = BTreeMap::<String, usize>::new();
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        stock_the_shelves(&pair, seed, &mut rng).await;
        let mut last_keyed = None;
        for step in 0..ORDERS_PER_SEED {
            // Now and then a client repeats its last keyed request exactly.
            let (request, idempotency) = match last_keyed.take() {
                Some(repeat) if rng.random_ratio(1, 3) => repeat,
                _ => random_order(seed, &mut rng),
            };
            if idempotency.is_some() {
                last_keyed = Some((request.clone(), idempotency.clone()));
            }
            let in_memory = comparable(pair.memory.place(request.clone(), idempotency.clone()).await);
            let in_postgres = comparable(pair.postgres.place(request.clone(), idempotency.clone()).await);
            assert_eq!(in_postgres, in_memory, "seed {seed}, order {step}: {request:?} {idempotency:?}");
            let kind = match in_memory.split_once(['(', ' ', '{']) {
                _ if in_memory.ends_with("replayed=true") => "replayed",
                Some(("placed", _)) => "placed",
                Some(("refused:", rest)) => rest.split(['(', ' ', '{']).next().unwrap_or(rest),
                _ => "unknown",
            };
            let kind = kind.to_owned();
            *outcomes.entry(kind).or_default() += 1;
        }
        for n in 0..=PRODUCTS_PER_SEED {
            let id = ProductId::new(first_id(seed) + n).unwrap();
            let stock = |product: Option<domain::product::Product>| product.map(|p| (p.stock, p.discontinued));
            assert_eq!(
                stock(ProductRepository::find(&pair.postgres, id).await.unwrap()),
                stock(ProductRepository::find(&pair.memory, id).await.unwrap()),
                "seed {seed}: stock of product {id}"
            );
        }
    }
    // The random orders placed and replayed orders and met every kind of refusal.
    let kinds: Vec<&str> = outcomes.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "IdempotencyKeyReused",
            "InsufficientStock",
            "Invalid",
            "ProductDiscontinued",
            "ProductNotFound",
            "placed",
            "replayed",
        ],
        "{outcomes:?}"
    );
    assert!(outcomes.values().all(|&n| n >= 5), "{outcomes:?}");
}

/// The one statement takes its products' row locks in ascending id order, the order every writer
/// of products locks in, whatever order the rows lie in on disk: waiting for its first product,
/// an order holds none of the others. (A bitmap or sequential scan, which the planner prefers for
/// a few ids, would take the rows in their physical order and could deadlock with the locked path.)
#[tokio::test]
async fn an_order_waiting_for_its_first_product_holds_none_of_the_others() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

    let db = TestDatabase::create().await;
    let store = store_for(&db);
    // Product 2's row is written first, so it lies before product 1's on disk.
    for id in [2, 1] {
        store.create(crate::support::new_product(Some(id), &format!("p{id}"), 5)).await.unwrap();
    }
    let mut holder = AsyncPgConnection::establish(&db.url).await.unwrap();
    // With statistics of a two-row table, the planner's own choice is a sequential scan.
    holder.batch_execute("ANALYZE products").await.unwrap();
    holder.batch_execute("BEGIN; SELECT 1 FROM products WHERE id = 1 FOR UPDATE").await.unwrap();

    let lines =
        [1, 2].map(|id| RequestedLine { product_id: ProductId::new(id).unwrap(), quantity: Quantity::new(1).unwrap() });
    let request = OrderRequest::new(lines.to_vec(), None, None, OrderStatus::Pending).unwrap();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.place(request, None).await })
    };
    let waits = "SELECT count(*) AS count FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..100 {
        if crate::support::count(&db.url, waits).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(crate::support::count(&db.url, waits).await, 1, "the order waits for product 1");

    let mut probe = AsyncPgConnection::establish(&db.url).await.unwrap();
    let second_is_free =
        probe.batch_execute("BEGIN; SELECT 1 FROM products WHERE id = 2 FOR UPDATE NOWAIT; ROLLBACK").await;
    assert!(second_is_free.is_ok(), "the waiting order holds product 2: {second_is_free:?}");

    holder.batch_execute("ROLLBACK").await.unwrap();
    assert!(waiting.await.unwrap().is_ok());
    for id in [1, 2] {
        let product = ProductRepository::find(&store, ProductId::new(id).unwrap()).await.unwrap().unwrap();
        assert_eq!(product.stock.get(), 4);
    }
}
