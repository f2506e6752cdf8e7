//! The change feed: every committed catalogue change reaches every listening process, losses
//! are reported once, and a listener reconnects by itself.

use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters::postgres::ChangeEvent;
use adapters::testing::TestDatabase;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use domain::Money;
use domain::ports::ProductRepository;
use domain::product::{Description, NewProduct, ProductName, Stock};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::support::{count, listen, store_for};

/// How long a committed change may take to reach a listener.
const DELIVERY: Duration = Duration::from_secs(1);

/// How long a listener must stay silent to count as having heard nothing.
const QUIET: Duration = Duration::from_millis(300);

fn new_product(name: &str) -> NewProduct {
    NewProduct {
        id: None,
        manager_id: None,
        name: ProductName::parse(name).unwrap(),
        description: Description::default(),
        price: Money::from_cents(250).unwrap(),
        stock: Stock::new(3).unwrap(),
    }
}

async fn next_event(events: &mut UnboundedReceiver<ChangeEvent>, within: Duration) -> ChangeEvent {
    tokio::time::timeout(within, events.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
        .expect("the listener's callback is alive")
}

/// Nothing reported for a while; a listener that let go of its callback can report nothing more.
async fn assert_quiet(events: &mut UnboundedReceiver<ChangeEvent>) {
    if let Ok(Some(event)) = tokio::time::timeout(QUIET, events.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

async fn listener_sessions(url: &str) -> i64 {
    count(
        url,
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'ecommerce-api-listener'",
    )
    .await
}

/// Every span and event logged while it is the default, as text, with the events' levels.
#[derive(Default)]
struct LogRecorder {
    spans: Mutex<Vec<String>>,
    events: Mutex<Vec<(Level, String)>>,
    next_span: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for LogRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = String::new();
        span.record(&mut Fields(&mut text));
        self.spans.lock().unwrap().push(text);
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = String::new();
        values.record(&mut Fields(&mut text));
        self.spans.lock().unwrap().push(text);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = String::new();
        event.record(&mut Fields(&mut text));
        self.events.lock().unwrap().push((*event.metadata().level(), text));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_hears_of_every_change_committed_by_another_process_and_of_none_rolled_back() {
    let db = TestDatabase::create().await;
    let (_listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    let other_process = store_for(&db);

    let product = other_process.create(new_product("Mug")).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
    assert_quiet(&mut events).await;

    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let id = product.id.get();
    conn.batch_execute(&format!("UPDATE products SET stock = 9 WHERE id = {id}")).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);

    conn.batch_execute(&format!("BEGIN; UPDATE products SET stock = 1 WHERE id = {id}; ROLLBACK")).await.unwrap();
    assert_quiet(&mut events).await;

    // One transaction of several statements is announced once, at its commit.
    conn.batch_execute(&format!(
        "BEGIN; UPDATE products SET stock = 2 WHERE id = {id}; UPDATE products SET stock = 3 WHERE id = {id}; COMMIT"
    ))
    .await
    .unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
    assert_quiet(&mut events).await;
}

// A notification in every order made PostgreSQL commit orders one at a time: the order's own
// transaction stays quiet, and the process that placed it announces it after the commit (below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_an_order_announces_nothing_while_other_stock_changes_still_do() {
    use domain::order::{OrderRequest, Quantity, RequestedLine};
    use domain::ports::OrderRepository;
    use domain::status::OrderStatus;

    let db = TestDatabase::create().await;
    let (_listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    let other_process = store_for(&db);
    let product = other_process.create(new_product("Mug")).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);

    let line = RequestedLine { product_id: product.id, quantity: Quantity::new(1).unwrap() };
    let request = OrderRequest::new(vec![line], None, None, OrderStatus::Pending).unwrap();
    other_process.place(request, None).await.unwrap();
    assert_quiet(&mut events).await;
    assert_eq!(ProductRepository::find(&other_process, product.id).await.unwrap().unwrap().stock.get(), 2);

    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    conn.batch_execute(&format!("UPDATE products SET stock = 9 WHERE id = {}", product.id.get())).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_session_is_killed_reports_the_loss_and_listens_again() {
    let db = TestDatabase::create().await;
    let (_listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);

    let killed = count(
        &db.url,
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'ecommerce-api-listener'",
    )
    .await;

    assert_eq!(killed, 1, "the listener's session should carry its application name");
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Disconnected);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    store_for(&db).create(new_product("Mug")).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_reports_an_outage_once_however_many_retries_fail_and_resyncs_after_it() {
    let db = TestDatabase::create().await;
    let (_listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);

    db.set_connections_allowed(false).await;
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Disconnected);
    // Long enough for several refused reconnection attempts.
    tokio::time::sleep(Duration::from_millis(800)).await;
    db.set_connections_allowed(true).await;

    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    store_for(&db).create(new_product("Mug")).await.unwrap();
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
}

#[tokio::test]
async fn a_listener_that_cannot_reach_the_database_says_so_once() {
    let (_listener, mut events) = listen("postgres://postgres:s3cret@127.0.0.1:1/postgres");

    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Disconnected);
    assert_quiet(&mut events).await;
}

// A current-thread runtime runs the listener's task on this thread, under this thread's logger.
#[tokio::test]
async fn a_listener_warns_once_per_outage_without_the_password_of_its_url() {
    // A "database" that hangs up on every connection, counting the attempts.
    let refuser = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = refuser.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&attempts);
    tokio::spawn(async move {
        while let Ok((socket, _)) = refuser.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let recorder = Arc::new(LogRecorder::default());
    let _logging = tracing::subscriber::set_default(Arc::clone(&recorder));
    let (_listener, mut events) = listen(&format!("postgres://postgres:s3cret@127.0.0.1:{port}/postgres"));

    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Disconnected);
    // Several failed retries, however slowly a loaded machine gets to them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while AtomicU64::load(&attempts, Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the listener stopped retrying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_quiet(&mut events).await;

    let logged = recorder.events.lock().unwrap().clone();
    let warnings: Vec<_> = logged.iter().filter(|(level, _)| *level == Level::WARN).collect();
    assert_eq!(warnings.len(), 1, "{logged:?}");
    let spans = recorder.spans.lock().unwrap().clone();
    let redacted = format!("postgres://postgres:***@127.0.0.1:{port}/postgres");
    assert!(spans.iter().any(|span| span.contains(&redacted)), "{spans:?}");
    for text in spans.iter().chain(logged.iter().map(|(_, text)| text)) {
        assert!(!text.contains("s3cret"), "the password leaked: {text}");
    }
}

#[tokio::test]
async fn a_listener_with_a_url_that_does_not_parse_says_so_and_stops() {
    let (_listener, mut events) = listen("postgres://postgres@localhost:notaport/postgres");

    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Disconnected);
    assert_quiet(&mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_listener_closes_its_session() {
    let db = TestDatabase::create().await;
    let (listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    assert_eq!(listener_sessions(&db.url).await, 1);

    drop(listener);

    let deadline = tokio::time::Instant::now() + DELIVERY;
    while listener_sessions(&db.url).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the listener's session outlived it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn one_unit_of(id: domain::ids::ProductId) -> domain::order::OrderRequest {
    use domain::order::{OrderRequest, Quantity, RequestedLine};
    let line = RequestedLine { product_id: id, quantity: Quantity::new(1).unwrap() };
    OrderRequest::new(vec![line], None, None, domain::status::OrderStatus::Pending).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_announced_with_its_products_after_its_commit_except_to_its_own_process() {
    use adapters::postgres::{AnnouncedOrders, ChangeAnnouncer};
    use domain::ports::OrderRepository;

    let db = TestDatabase::create().await;
    let store = store_for(&db);
    let announcer = Arc::new(ChangeAnnouncer::spawn(store.clone()).unwrap());
    let orders = AnnouncedOrders::new(Arc::new(store.clone()), announcer.clone());
    let (_listener, mut events) = listen(&db.url);
    let (sender, mut own_events) = tokio::sync::mpsc::unbounded_channel();
    let _own_listener = adapters::postgres::ChangeListener::spawn_ignoring(
        &db.url,
        announcer.origin(),
        Arc::new(move |event| {
            let _ = sender.send(event);
        }),
    );
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    assert_eq!(next_event(&mut own_events, Duration::from_secs(5)).await, ChangeEvent::Resynced);
    let mug = store.create(new_product("Mug")).await.unwrap().id;
    let cup = store.create(new_product("Cup")).await.unwrap().id;
    for _ in 0..2 {
        assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::Changed);
        assert_eq!(next_event(&mut own_events, DELIVERY).await, ChangeEvent::Changed, "the trigger's, heard by all");
    }

    orders.place(one_unit_of(mug), None).await.unwrap();

    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::StockChanged(vec![mug]));
    assert_quiet(&mut own_events).await;
    // The cup's three units, then an order that is refused: it changed nothing and says nothing.
    for _ in 0..3 {
        orders.place(one_unit_of(cup), None).await.unwrap();
    }
    assert_eq!(next_event(&mut events, DELIVERY).await, ChangeEvent::StockChanged(vec![cup]));
    while let Ok(Some(event)) = tokio::time::timeout(QUIET, events.recv()).await {
        assert_eq!(event, ChangeEvent::StockChanged(vec![cup]));
    }
    assert!(orders.place(one_unit_of(cup), None).await.is_err(), "the cup is sold out");
    assert_quiet(&mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_of_a_moment_are_announced_together() {
    use adapters::postgres::{AnnouncedOrders, ChangeAnnouncer};
    use domain::ports::OrderRepository;

    let db = TestDatabase::create().await;
    let store = store_for(&db);
    let orders = Arc::new(AnnouncedOrders::new(
        Arc::new(store.clone()),
        Arc::new(ChangeAnnouncer::spawn(store.clone()).unwrap()),
    ));
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(store.create(new_product(&format!("Product {n}"))).await.unwrap().id);
    }
    let (_listener, mut events) = listen(&db.url);
    assert_eq!(next_event(&mut events, Duration::from_secs(5)).await, ChangeEvent::Resynced);

    let placing = ids.iter().map(|&id| {
        let orders = orders.clone();
        tokio::spawn(async move { orders.place(one_unit_of(id), None).await.unwrap() })
    });
    futures_util::future::join_all(placing).await;

    let mut heard = Vec::new();
    let mut announcements = 0;
    while heard.len() < ids.len() {
        match next_event(&mut events, DELIVERY).await {
            ChangeEvent::StockChanged(announced) => heard.extend(announced),
            other => panic!("{other:?}"),
        }
        announcements += 1;
    }
    heard.sort_unstable();
    assert_eq!(heard, ids);
    assert!(announcements < ids.len(), "{announcements} announcements for {} orders", ids.len());
}
