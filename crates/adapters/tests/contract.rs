//! The contract of the ports, written once: the one specification of a storage adapter. It runs
//! against the in-memory store and PostgreSQL (a fresh database per test), each also behind the
//! product cache, and covers every port: products, orders, health, the rate counter and the
//! audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use adapters::cache::CachedStore;
use adapters::memory::MemoryStore;
use adapters::postgres::PgStore;
use adapters::testing::TestDatabase;
use chrono::{DateTime, Utc};
use domain::audit::AuditRecord;
use domain::ids::ProductId;
use domain::inventory::{InventoryBatch, InventoryItem};
use domain::order::{Customer, CustomerId, Email, Idempotency, IdempotencyKey, OrderRequest, Quantity, RequestedLine};
use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository, RateCounter};
use domain::product::{
    Description, InventoryStatus, ManagerId, NewProduct, ProductChanges, ProductFilter, ProductName, Stock,
};
use domain::status::OrderStatus;
use domain::{Error, Money, PageRequest};
use futures_util::future::join_all;
use rand::seq::SliceRandom;

struct Subject {
    products: Arc<dyn ProductRepository>,
    orders: Arc<dyn OrderRepository>,
    health: Arc<dyn HealthCheck>,
    rate: Arc<dyn RateCounter>,
    audit: Arc<dyn AuditLog>,
    _db: Option<TestDatabase>,
}

/// Whether products and orders are reached through the product cache.
#[derive(Clone, Copy)]
enum Cache {
    Off,
    On,
}

impl Subject {
    fn over<S>(store: Arc<S>, cache: Cache, db: Option<TestDatabase>) -> Self
    where
        S: ProductRepository + OrderRepository + HealthCheck + RateCounter + AuditLog,
    {
        let (products, orders): (Arc<dyn ProductRepository>, Arc<dyn OrderRepository>) = match cache {
            Cache::Off => (store.clone(), store.clone()),
            Cache::On => {
                // One process, every write through the cache: it is in sync from the start.
                let cached = Arc::new(CachedStore::new(store.clone(), store.clone(), Duration::from_secs(60), true));
                (cached.clone(), cached)
            }
        };
        Self { products, orders, health: store.clone(), rate: store.clone(), audit: store, _db: db }
    }

    fn memory(cache: Cache) -> Self {
        Self::over(Arc::new(MemoryStore::new()), cache, None)
    }

    async fn postgres(cache: Cache) -> Self {
        let db = TestDatabase::create().await;
        let store = Arc::new(PgStore::new(&db.settings()).expect("pool builds"));
        Self::over(store, cache, Some(db))
    }

    async fn add(&self, name: &str, price: &str, stock: i64) -> ProductId {
        self.products.create(new_product(None, name, price, stock, None)).await.expect("product is created").id
    }

    async fn stock(&self, id: ProductId) -> u32 {
        self.products.find(id).await.unwrap().unwrap().stock.get()
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Subject::memory(super::Cache::Off)).await;
                }
            )*
            mod cached {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        super::super::$name(super::super::Subject::memory(super::super::Cache::On)).await;
                    }
                )*
            }
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Subject::postgres(super::Cache::Off).await).await;
                }
            )*
            mod cached {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        super::super::$name(super::super::Subject::postgres(super::super::Cache::On).await).await;
                    }
                )*
            }
        }
    };
}

contract!(
    a_created_product_is_found_as_stored,
    products_are_found_many_at_once_by_ascending_id,
    explicit_ids_are_honoured_once_and_automatic_ids_skip_them,
    listing_filters_and_pages_with_a_total,
    every_listing_holds_exactly_the_products_its_filter_matches,
    updating_changes_only_the_given_fields,
    discontinuing_is_scoped_to_the_manager_and_repeatable,
    an_inventory_load_creates_updates_by_id_and_by_live_name,
    an_inventory_load_with_an_unknown_id_writes_nothing,
    placing_an_order_prices_exactly_and_decrements_stock,
    a_refused_order_changes_nothing,
    a_managers_order_only_sees_that_managers_products,
    an_idempotent_repeat_returns_the_first_order_and_places_nothing,
    an_idempotency_key_with_another_fingerprint_is_refused,
    cancelling_restocks_and_a_second_transition_is_refused,
    orders_list_newest_first_with_a_total,
    products_page_by_cursor_after_the_last_id_seen,
    orders_page_by_cursor_older_than_the_last_id_seen,
    sixty_four_tasks_racing_for_ten_units_place_exactly_ten_orders,
    multi_product_orders_in_shuffled_order_never_deadlock,
    stock_plus_ordered_units_stays_what_was_stocked_under_concurrent_orders_and_cancels,
    a_reachable_store_answers_ping,
    hits_in_one_window_count_up_and_a_later_window_starts_again_at_one,
    a_hit_stamped_with_an_older_window_counts_in_the_newer_one_instead_of_resetting_it,
    fifty_concurrent_hits_count_to_exactly_fifty,
    audit_records_come_back_newest_first_by_request_time,
);

fn new_product(id: Option<i64>, name: &str, price: &str, stock: i64, manager: Option<&str>) -> NewProduct {
    NewProduct {
        id: id.map(|n| ProductId::new(n).unwrap()),
        manager_id: manager.map(|m| ManagerId::parse(m).unwrap()),
        name: ProductName::parse(name).unwrap(),
        description: Description::parse("").unwrap(),
        price: price.parse().unwrap(),
        stock: Stock::new(stock).unwrap(),
    }
}

fn lines(items: &[(ProductId, i64)]) -> Vec<RequestedLine> {
    items.iter().map(|&(product_id, q)| RequestedLine { product_id, quantity: Quantity::new(q).unwrap() }).collect()
}

fn request(items: &[(ProductId, i64)]) -> OrderRequest {
    OrderRequest::new(lines(items), None, None, OrderStatus::Pending).unwrap()
}

fn item(id: Option<ProductId>, name: &str, price: &str, quantity: i64) -> InventoryItem {
    InventoryItem {
        id,
        name: ProductName::parse(name).unwrap(),
        price: price.parse().unwrap(),
        quantity: Stock::new(quantity).unwrap(),
        description: None,
    }
}

fn idempotency(key: &str, fingerprint: &str) -> Idempotency {
    Idempotency { scope: "test".into(), key: IdempotencyKey::parse(key).unwrap(), fingerprint: fingerprint.into() }
}

async fn a_created_product_is_found_as_stored(s: Subject) {
    let created = s.products.create(new_product(None, "Mug", "12.99", 50, Some("mgr_1"))).await.unwrap();
    let found = s.products.find(created.id).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(found.price.cents(), 1299);
    assert_eq!(found.manager_id.as_ref().map(ManagerId::as_str), Some("mgr_1"));
    assert!(!found.discontinued);
    assert!(s.products.find(ProductId::new(999_999).unwrap()).await.unwrap().is_none());
}

async fn products_are_found_many_at_once_by_ascending_id(s: Subject) {
    let mug = s.add("Mug", "1", 1).await;
    let cup = s.add("Cup", "2", 2).await;
    s.products.discontinue(cup, None).await.unwrap();
    let missing = ProductId::new(999_999).unwrap();

    let found = s.products.find_many(&[missing, cup, mug, cup]).await.unwrap();

    let ids: Vec<ProductId> = found.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![mug, cup]);
    assert!(found[1].discontinued);
    assert_eq!(found[0], s.products.find(mug).await.unwrap().unwrap());
    assert!(s.products.find_many(&[]).await.unwrap().is_empty());
}

async fn explicit_ids_are_honoured_once_and_automatic_ids_skip_them(s: Subject) {
    let explicit = s.products.create(new_product(Some(3), "Three", "1", 1, None)).await.unwrap();
    assert_eq!(explicit.id.get(), 3);
    let again = s.products.create(new_product(Some(3), "Again", "1", 1, None)).await;
    assert!(matches!(again, Err(Error::ProductExists(id)) if id.get() == 3));
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(s.add(&format!("auto{n}"), "1", 1).await.get());
    }
    assert!(!ids.contains(&3), "{ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

async fn listing_filters_and_pages_with_a_total(s: Subject) {
    let a = s.products.create(new_product(None, "a", "1", 5, Some("m1"))).await.unwrap().id;
    let b = s.products.create(new_product(None, "b", "1", 0, Some("m1"))).await.unwrap().id;
    let c = s.products.create(new_product(None, "c", "1", 5, Some("m2"))).await.unwrap().id;
    let d = s.add("d", "1", 5).await;
    s.products.discontinue(c, None).await.unwrap();
    let ids = |page: domain::Page<domain::product::Product>| page.items.iter().map(|p| p.id).collect::<Vec<_>>();

    let all = s.products.list(ProductFilter::default(), PageRequest::ALL).await.unwrap();
    assert_eq!((ids(all.clone()), all.total), (vec![a, b, c, d], 4));
    let for_sale = ProductFilter { for_sale_only: true, ..Default::default() };
    assert_eq!(ids(s.products.list(for_sale.clone(), PageRequest::ALL).await.unwrap()), vec![a, b, d]);
    let in_stock = ProductFilter { for_sale_only: true, in_stock_only: true, ..Default::default() };
    assert_eq!(ids(s.products.list(in_stock, PageRequest::ALL).await.unwrap()), vec![a, d]);
    let m1 = Some(ManagerId::parse("m1").unwrap());
    for (status, expected) in [
        (InventoryStatus::InStock, vec![a]),
        (InventoryStatus::OutOfStock, vec![b]),
        (InventoryStatus::Discontinued, vec![]),
    ] {
        let filter = ProductFilter { manager_id: m1.clone(), status: Some(status), ..Default::default() };
        assert_eq!(ids(s.products.list(filter, PageRequest::ALL).await.unwrap()), expected, "{status:?}");
    }
    let m2 = ProductFilter {
        manager_id: Some(ManagerId::parse("m2").unwrap()),
        status: Some(InventoryStatus::Discontinued),
        ..Default::default()
    };
    assert_eq!(ids(s.products.list(m2, PageRequest::ALL).await.unwrap()), vec![c]);
    let page = s.products.list(for_sale, PageRequest::offset(1, 1)).await.unwrap();
    assert_eq!((ids(page.clone()), page.total), (vec![b], 3));
}

/// The SQL adapter filters in SQL for speed; [`ProductFilter::matches`] stays the specification,
/// and every adapter must list exactly what it accepts, for every combination of conditions.
async fn every_listing_holds_exactly_the_products_its_filter_matches(s: Subject) {
    let mut stored = Vec::new();
    for (i, (stock, manager)) in
        [(0, None), (3, None), (0, Some("m1")), (2, Some("m1")), (1, Some("m2")), (0, Some("m2"))]
            .into_iter()
            .enumerate()
    {
        stored.push(s.products.create(new_product(None, &format!("p{i}"), "1", stock, manager)).await.unwrap().id);
    }
    for id in [stored[1], stored[3], stored[5]] {
        s.products.discontinue(id, None).await.unwrap();
    }
    let all = s.products.list(ProductFilter::default(), PageRequest::ALL).await.unwrap().items;
    let managers = [None, Some("m1"), Some("m2"), Some("nobody")];
    let statuses =
        [None, Some(InventoryStatus::InStock), Some(InventoryStatus::OutOfStock), Some(InventoryStatus::Discontinued)];
    for manager in managers {
        for status in statuses {
            for (for_sale_only, in_stock_only) in [(false, false), (true, false), (false, true), (true, true)] {
                let filter = ProductFilter {
                    manager_id: manager.map(|m| ManagerId::parse(m).unwrap()),
                    status,
                    for_sale_only,
                    in_stock_only,
                };
                let expected: Vec<ProductId> = all.iter().filter(|p| filter.matches(p)).map(|p| p.id).collect();
                let listed = s.products.list(filter.clone(), PageRequest::ALL).await.unwrap();
                let listed_ids: Vec<ProductId> = listed.items.iter().map(|p| p.id).collect();
                assert_eq!(listed_ids, expected, "{filter:?}");
                assert_eq!(listed.total, expected.len() as u64, "{filter:?}");
                // A page that does not reach the end: the total is counted, not seen.
                let first = s.products.list(filter.clone(), PageRequest::offset(0, 1)).await.unwrap();
                assert_eq!(first.total, expected.len() as u64, "counted, {filter:?}");
                assert_eq!(first.more, expected.len() > 1, "{filter:?}");
            }
        }
    }
}

async fn updating_changes_only_the_given_fields(s: Subject) {
    let id = s.add("Mug", "12.99", 50).await;
    let changes = ProductChanges { price: Some("10.50".parse().unwrap()), ..Default::default() };
    let updated = s.products.update(id, changes).await.unwrap();
    assert_eq!((updated.price.cents(), updated.stock.get(), updated.name.as_str()), (1050, 50, "Mug"));
    let changes = ProductChanges {
        name: Some(ProductName::parse("Cup").unwrap()),
        stock: Some(Stock::new(3).unwrap()),
        description: Some(Description::parse("blue").unwrap()),
        price: None,
    };
    let updated = s.products.update(id, changes).await.unwrap();
    assert_eq!(s.products.find(id).await.unwrap().unwrap(), updated);
    assert_eq!((updated.name.as_str(), updated.stock.get(), updated.description.as_str()), ("Cup", 3, "blue"));
    let missing = s.products.update(ProductId::new(424_242).unwrap(), ProductChanges::default()).await;
    assert!(matches!(missing, Err(Error::ProductNotFound(_))));
}

async fn discontinuing_is_scoped_to_the_manager_and_repeatable(s: Subject) {
    let mine = s.products.create(new_product(None, "mine", "1", 1, Some("m1"))).await.unwrap().id;
    let unowned = s.add("unowned", "1", 1).await;
    let m1 = || Some(ManagerId::parse("m1").unwrap());
    let m2 = Some(ManagerId::parse("m2").unwrap());
    assert!(matches!(s.products.discontinue(mine, m2.clone()).await, Err(Error::ProductNotFound(_))));
    assert!(matches!(s.products.discontinue(unowned, m1()).await, Err(Error::ProductNotFound(_))));
    assert!(!s.products.find(mine).await.unwrap().unwrap().discontinued);
    assert!(s.products.discontinue(mine, m1()).await.unwrap().discontinued);
    assert!(s.products.discontinue(mine, m1()).await.unwrap().discontinued);
    assert!(s.products.discontinue(unowned, None).await.unwrap().discontinued);
    let missing = s.products.discontinue(ProductId::new(999_999).unwrap(), None).await;
    assert!(matches!(missing, Err(Error::ProductNotFound(_))));
}

async fn an_inventory_load_creates_updates_by_id_and_by_live_name(s: Subject) {
    let manager = ManagerId::parse("mgr_123").unwrap();
    let first =
        InventoryBatch::new(manager.clone(), vec![item(None, "Beans", "15.99", 100), item(None, "Mug", "12.99", 50)])
            .unwrap();
    let created = s.products.apply_inventory(first).await.unwrap();
    assert_eq!(created.len(), 2);
    let (beans, mug) = (created[0].id, created[1].id);
    assert!(created.iter().all(|p| p.manager_id.as_ref() == Some(&manager)));
    s.products.discontinue(mug, Some(manager.clone())).await.unwrap();
    let second = InventoryBatch::new(
        manager.clone(),
        vec![item(None, "Beans", "14.00", 90), item(None, "Mug", "9.99", 10), item(Some(mug), "ignored", "8.00", 5)],
    )
    .unwrap();
    let stored = s.products.apply_inventory(second).await.unwrap();
    assert_eq!(stored[0].id, beans);
    assert_eq!((stored[0].price.cents(), stored[0].stock.get()), (1400, 90));
    assert_ne!(stored[1].id, mug, "a discontinued product is not matched by name");
    assert_eq!(stored[2].id, mug);
    assert_eq!((stored[2].price.cents(), stored[2].stock.get(), stored[2].name.as_str()), (800, 5, "Mug"));
    let other = InventoryBatch::new(ManagerId::parse("other").unwrap(), vec![item(None, "Beans", "1", 1)]).unwrap();
    assert_ne!(s.products.apply_inventory(other).await.unwrap()[0].id, beans, "names are matched per manager");
}

async fn an_inventory_load_with_an_unknown_id_writes_nothing(s: Subject) {
    let manager = ManagerId::parse("mgr_1").unwrap();
    let theirs = s.products.create(new_product(None, "theirs", "1", 1, Some("mgr_2"))).await.unwrap().id;
    let batch =
        InventoryBatch::new(manager.clone(), vec![item(None, "fresh", "1", 1), item(Some(theirs), "x", "2", 2)])
            .unwrap();
    assert!(matches!(s.products.apply_inventory(batch).await, Err(Error::ProductNotFound(id)) if id == theirs));
    let listed = s.products.list(ProductFilter::default(), PageRequest::ALL).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(s.products.find(theirs).await.unwrap().unwrap().price, Money::from_cents(100).unwrap());
}

async fn placing_an_order_prices_exactly_and_decrements_stock(s: Subject) {
    let beans = s.add("Beans", "15.99", 100).await;
    let mug = s.add("Mug", "12.99", 50).await;
    let customer = Customer {
        id: CustomerId::parse("cust_456").unwrap(),
        email: Some(Email::parse("customer@example.com").unwrap()),
    };
    let req =
        OrderRequest::new(lines(&[(mug, 1), (beans, 2)]), Some(customer.clone()), None, OrderStatus::Pending).unwrap();
    let placement = s.orders.place(req, None).await.unwrap();
    assert!(!placement.replayed);
    let order = placement.order;
    assert_eq!(order.total.cents(), 4497);
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.customer, Some(customer));
    let priced: Vec<_> = order.lines.iter().map(|l| (l.product_id, l.quantity.get(), l.unit_price.cents())).collect();
    assert_eq!(priced, vec![(beans, 2, 1599), (mug, 1, 1299)]);
    assert_eq!((s.stock(beans).await, s.stock(mug).await), (98, 49));
    assert_eq!(s.orders.find(order.id).await.unwrap().unwrap(), order);
}

async fn a_refused_order_changes_nothing(s: Subject) {
    let plenty = s.add("plenty", "1", 100).await;
    let scarce = s.add("scarce", "1", 3).await;
    let gone = s.add("gone", "1", 3).await;
    s.products.discontinue(gone, None).await.unwrap();
    let short = s.orders.place(request(&[(plenty, 10), (scarce, 5)]), None).await;
    assert!(
        matches!(short, Err(Error::InsufficientStock { product_id, requested: 5, available: 3 }) if product_id == scarce)
    );
    let discontinued = s.orders.place(request(&[(plenty, 1), (gone, 1)]), None).await;
    assert!(matches!(discontinued, Err(Error::ProductDiscontinued(id)) if id == gone));
    let missing = s.orders.place(request(&[(plenty, 1), (ProductId::new(999_999).unwrap(), 1)]), None).await;
    assert!(matches!(missing, Err(Error::ProductNotFound(_))));
    assert_eq!((s.stock(plenty).await, s.stock(scarce).await), (100, 3));
    assert_eq!(s.orders.list(PageRequest::ALL).await.unwrap().total, 0);
}

async fn a_managers_order_only_sees_that_managers_products(s: Subject) {
    let mine = s.products.create(new_product(None, "mine", "2", 5, Some("m1"))).await.unwrap().id;
    let theirs = s.products.create(new_product(None, "theirs", "2", 5, Some("m2"))).await.unwrap().id;
    let m1 = Some(ManagerId::parse("m1").unwrap());
    let foreign =
        OrderRequest::new(lines(&[(mine, 1), (theirs, 1)]), None, m1.clone(), OrderStatus::Completed).unwrap();
    assert!(matches!(s.orders.place(foreign, None).await, Err(Error::ProductNotFound(id)) if id == theirs));
    let own = OrderRequest::new(lines(&[(mine, 2)]), None, m1.clone(), OrderStatus::Completed).unwrap();
    let order = s.orders.place(own, None).await.unwrap().order;
    assert_eq!((order.status, order.manager_id), (OrderStatus::Completed, m1));
    assert_eq!((s.stock(mine).await, s.stock(theirs).await), (3, 5));
}

async fn an_idempotent_repeat_returns_the_first_order_and_places_nothing(s: Subject) {
    let mug = s.add("Mug", "1", 10).await;
    let first = s.orders.place(request(&[(mug, 3)]), Some(idempotency("k1", "f1"))).await.unwrap();
    let second = s.orders.place(request(&[(mug, 3)]), Some(idempotency("k1", "f1"))).await.unwrap();
    assert!(!first.replayed && second.replayed);
    assert_eq!(second.order, first.order);
    assert_eq!(s.stock(mug).await, 7);
    let other_scope = Idempotency { scope: "elsewhere".into(), ..idempotency("k1", "f1") };
    assert!(!s.orders.place(request(&[(mug, 3)]), Some(other_scope)).await.unwrap().replayed);
    assert_eq!(s.stock(mug).await, 4);
}

async fn an_idempotency_key_with_another_fingerprint_is_refused(s: Subject) {
    let mug = s.add("Mug", "1", 10).await;
    s.orders.place(request(&[(mug, 1)]), Some(idempotency("k2", "f1"))).await.unwrap();
    let reused = s.orders.place(request(&[(mug, 2)]), Some(idempotency("k2", "f2"))).await;
    assert!(matches!(reused, Err(Error::IdempotencyKeyReused)));
    assert_eq!(s.stock(mug).await, 9);
}

async fn cancelling_restocks_and_a_second_transition_is_refused(s: Subject) {
    let a = s.add("a", "1", 10).await;
    let b = s.add("b", "1", 4).await;
    let order = s.orders.place(request(&[(a, 3), (b, 4)]), None).await.unwrap().order;
    let cancelled = s.orders.change_status(order.id, OrderStatus::Cancelled).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!((s.stock(a).await, s.stock(b).await), (10, 4));
    let again = s.orders.change_status(order.id, OrderStatus::Completed).await;
    assert!(matches!(again, Err(Error::InvalidStatusTransition { from: OrderStatus::Cancelled, .. })));
    assert_eq!((s.stock(a).await, s.stock(b).await), (10, 4));
    let completed = s.orders.place(request(&[(a, 1)]), None).await.unwrap().order;
    s.orders.change_status(completed.id, OrderStatus::Completed).await.unwrap();
    assert_eq!(s.stock(a).await, 9);
    let missing = s.orders.change_status(domain::ids::OrderId::new(999_999).unwrap(), OrderStatus::Cancelled).await;
    assert!(matches!(missing, Err(Error::OrderNotFound(_))));
}

async fn orders_list_newest_first_with_a_total(s: Subject) {
    let mug = s.add("Mug", "1", 10).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s.orders.place(request(&[(mug, 1)]), None).await.unwrap().order.id);
    }
    let page = s.orders.list(PageRequest::offset(0, 2)).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    assert_eq!(page.items[0].lines.len(), 1);
}

async fn products_page_by_cursor_after_the_last_id_seen(s: Subject) {
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(s.add(&format!("p{n}"), "1", if n == 3 { 0 } else { 1 }).await);
    }
    s.products.discontinue(ids[1], None).await.unwrap();
    let for_sale = ProductFilter { for_sale_only: true, ..Default::default() };
    let listed = |page: &domain::Page<domain::product::Product>| page.items.iter().map(|p| p.id).collect::<Vec<_>>();

    let first = s.products.list(for_sale.clone(), PageRequest::offset(0, 2)).await.unwrap();
    assert_eq!((listed(&first), first.total, first.more), (vec![ids[0], ids[2]], 6, true));
    let second = s.products.list(for_sale.clone(), PageRequest::after(ids[2].get(), 2)).await.unwrap();
    assert_eq!((listed(&second), second.total, second.more), (vec![ids[3], ids[4]], 6, true));
    let last = s.products.list(for_sale.clone(), PageRequest::after(ids[4].get(), 2)).await.unwrap();
    assert_eq!((listed(&last), last.more), (vec![ids[5], ids[6]], false));
    assert!(s.products.list(for_sale.clone(), PageRequest::after(ids[6].get(), 2)).await.unwrap().items.is_empty());

    // The cursor need not be listed itself: a discontinued product, or an id never used.
    let past_gone = s.products.list(for_sale.clone(), PageRequest::after(ids[1].get(), 1)).await.unwrap();
    assert_eq!(listed(&past_gone), vec![ids[2]]);
    let in_stock = ProductFilter { in_stock_only: true, ..for_sale };
    let past_empty = s.products.list(in_stock, PageRequest::after(ids[2].get(), 2)).await.unwrap();
    assert_eq!((listed(&past_empty), past_empty.total), (vec![ids[4], ids[5]], 5));
    let beyond = s.products.list(ProductFilter::default(), PageRequest::after(domain::ids::MAX_ID, 5)).await.unwrap();
    assert!(beyond.items.is_empty() && !beyond.more);
}

async fn orders_page_by_cursor_older_than_the_last_id_seen(s: Subject) {
    let mug = s.add("Mug", "1", 10).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(s.orders.place(request(&[(mug, 1)]), None).await.unwrap().order.id);
    }
    let listed = |page: &domain::Page<domain::order::Order>| page.items.iter().map(|o| o.id).collect::<Vec<_>>();
    let first = s.orders.list(PageRequest::offset(0, 2)).await.unwrap();
    assert_eq!((listed(&first), first.total, first.more), (vec![ids[4], ids[3]], 5, true));
    let second = s.orders.list(PageRequest::after(ids[3].get(), 2)).await.unwrap();
    assert_eq!((listed(&second), second.total, second.more), (vec![ids[2], ids[1]], 5, true));
    assert_eq!(second.items[0].lines.len(), 1, "lines come with every order");
    let last = s.orders.list(PageRequest::after(ids[1].get(), 2)).await.unwrap();
    assert_eq!((listed(&last), last.more), (vec![ids[0]], false));
    assert!(s.orders.list(PageRequest::after(ids[0].get(), 2)).await.unwrap().items.is_empty());
    let newer_than_all = s.orders.list(PageRequest::after(domain::ids::MAX_ID, 2)).await.unwrap();
    assert_eq!(listed(&newer_than_all), vec![ids[4], ids[3]]);
}

async fn sixty_four_tasks_racing_for_ten_units_place_exactly_ten_orders(s: Subject) {
    let id = s.add("scarce", "1", 10).await;
    let attempts = (0..64).map(|_| {
        let orders = s.orders.clone();
        tokio::spawn(async move { orders.place(request(&[(id, 1)]), None).await })
    });
    let outcomes: Vec<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let placed = outcomes.iter().filter(|o| o.is_ok()).count();
    let short = outcomes.iter().filter(|o| matches!(o, Err(Error::InsufficientStock { .. }))).count();
    assert_eq!((placed, short), (10, 54));
    assert_eq!(s.stock(id).await, 0);
}

async fn multi_product_orders_in_shuffled_order_never_deadlock(s: Subject) {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(s.add(&format!("p{n}"), "1", 1000).await);
    }
    let attempts = (0..40).map(|_| {
        let orders = s.orders.clone();
        let mut picked: Vec<(ProductId, i64)> = ids.iter().map(|id| (*id, 1)).collect();
        picked.shuffle(&mut rand::rng());
        tokio::spawn(async move { orders.place(request(&picked), None).await })
    });
    let outcomes =
        tokio::time::timeout(std::time::Duration::from_secs(60), join_all(attempts)).await.expect("no deadlock");
    assert!(outcomes.into_iter().all(|o| o.unwrap().is_ok()));
    for id in ids {
        assert_eq!(s.stock(id).await, 960);
    }
}

async fn stock_plus_ordered_units_stays_what_was_stocked_under_concurrent_orders_and_cancels(s: Subject) {
    let a = s.add("a", "1", 30).await;
    let b = s.add("b", "1", 30).await;
    let attempts = (0..48).map(|n| {
        let orders = s.orders.clone();
        tokio::spawn(async move {
            let items = if n % 2 == 0 { vec![(a, 2), (b, 1)] } else { vec![(b, 2), (a, 1)] };
            let order = orders.place(request(&items), None).await?.order;
            if n % 3 == 0 {
                orders.change_status(order.id, OrderStatus::Cancelled).await?;
            }
            Ok::<_, Error>(())
        })
    });
    for outcome in join_all(attempts).await {
        match outcome.unwrap() {
            Ok(()) | Err(Error::InsufficientStock { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let orders = s.orders.list(PageRequest::ALL).await.unwrap().items;
    for id in [a, b] {
        let ordered: u32 = orders
            .iter()
            .filter(|o| o.status != OrderStatus::Cancelled)
            .flat_map(|o| o.lines.iter())
            .filter(|l| l.product_id == id)
            .map(|l| l.quantity.get())
            .sum();
        assert_eq!(s.stock(id).await + ordered, 30);
    }
}

async fn a_reachable_store_answers_ping(s: Subject) {
    s.health.ping().await.unwrap();
}

/// An instant PostgreSQL stores exactly (it keeps microseconds).
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 123_456_000).unwrap()
}

fn audit_record(at: DateTime<Utc>, request_id: &str, method: &str, status: u16) -> AuditRecord {
    AuditRecord {
        at,
        request_id: request_id.to_owned(),
        manager_id: Some("mgr_1".to_owned()),
        method: method.to_owned(),
        path: "/api/inventory/products".to_owned(),
        status,
        duration_ms: 12.625,
    }
}

async fn audit_records_come_back_newest_first_by_request_time(s: Subject) {
    let oldest = audit_record(at(1000), "req-1", "POST", 201);
    let middle = audit_record(at(2000), "req-2", "GET", 200);
    let newest = audit_record(at(3000), "req-3", "POST", 429);
    // Written out of order: a slow request is recorded after a quicker, later one.
    for record in [&oldest, &newest, &middle] {
        s.audit.record(record.clone()).await.unwrap();
    }

    assert_eq!(s.audit.recent(10).await.unwrap(), vec![newest.clone(), middle.clone(), oldest]);
    assert_eq!(s.audit.recent(2).await.unwrap(), vec![newest, middle]);
    assert!(s.audit.recent(0).await.unwrap().is_empty());
}

async fn hits_in_one_window_count_up_and_a_later_window_starts_again_at_one(s: Subject) {
    let (first_window, second_window) = (at(3600), at(7200));
    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(s.rate.hit("manager:mgr_1", first_window).await.unwrap());
    }
    let other_key = s.rate.hit("manager:mgr_2", first_window).await.unwrap();
    let later = s.rate.hit("manager:mgr_1", second_window).await.unwrap();
    let again = s.rate.hit("manager:mgr_1", second_window).await.unwrap();

    assert_eq!(counts, vec![1, 2, 3]);
    assert_eq!(other_key, 1);
    assert_eq!((later, again), (1, 2));
    assert_eq!(s.rate.hit("manager:mgr_2", first_window).await.unwrap(), 2);
}

async fn a_hit_stamped_with_an_older_window_counts_in_the_newer_one_instead_of_resetting_it(s: Subject) {
    let (older, newer) = (at(3600), at(3600 + 60));
    assert_eq!(s.rate.hit("ip:10.0.0.1", newer).await.unwrap(), 1);
    assert_eq!(s.rate.hit("ip:10.0.0.1", older).await.unwrap(), 2);
    assert_eq!(s.rate.hit("ip:10.0.0.1", newer).await.unwrap(), 3);
}

async fn fifty_concurrent_hits_count_to_exactly_fifty(s: Subject) {
    let window = at(3600);
    let hits = (0..50).map(|_| {
        let rate = s.rate.clone();
        tokio::spawn(async move { rate.hit("manager:mgr_1", window).await })
    });
    let mut counts: Vec<u32> = join_all(hits).await.into_iter().map(|hit| hit.unwrap().unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u32>>());
}
