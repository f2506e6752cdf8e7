//! Several real server processes sharing one PostgreSQL database, as operators run it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::testing::TestDatabase;
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{Server, free_port};
use crate::support::{config_dir, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_sharing_a_database_never_oversell() {
    let db = TestDatabase::create().await;
    let servers = Arc::new([Server::start(&db.url, &[]).await, Server::start(&db.url, &[]).await]);
    let product: Value =
        servers[0].post("/products", &json!({"name": "Scarce", "price": 5, "stock": 10})).await.json().await.unwrap();
    let id = product["id"].as_i64().unwrap();
    let attempts = (0..64).map(|n| {
        let servers = servers.clone();
        tokio::spawn(async move {
            servers[n % 2].post("/orders", &json!({"products": [{"product_id": id, "quantity": 1}]})).await.status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let placed = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(placed, 10, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    let product: Value = servers[1].get(&format!("/products/{id}")).await.json().await.unwrap();
    assert_eq!(product["stock"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_starting_on_an_empty_database_both_migrate_and_serve() {
    let db = TestDatabase::empty().await;
    let (a, b) = tokio::join!(Server::start(&db.url, &[]), Server::start(&db.url, &[]));
    for server in [&a, &b] {
        assert_eq!(server.get("/ready").await.status(), StatusCode::OK);
        assert_eq!(server.get("/products").await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_answers_503_and_the_server_recovers_when_it_returns() {
    let db = TestDatabase::create().await;
    let server = Server::start(&db.url, &[]).await;
    assert_eq!(
        server.post("/products", &json!({"name": "Mug", "price": 1, "stock": 1})).await.status(),
        StatusCode::CREATED
    );

    db.set_connections_allowed(false).await;
    let response = server.get("/products").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    for leak in ["SELECT", "products", "postgres", "database", "connection"] {
        assert!(!text.contains(leak), "{leak} leaked in {text}");
    }
    expect_error(server.get("/ready").await, 503, "SERVICE_UNAVAILABLE").await;
    expect_error(server.post("/orders", &json!({"product_id": 1, "quantity": 1})).await, 503, "SERVICE_UNAVAILABLE")
        .await;
    assert_eq!(server.get("/health").await.status(), StatusCode::OK);

    db.set_connections_allowed(true).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("/ready").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed: Value = server.get("/products").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_rate_limit_per_manager() {
    let db = TestDatabase::create().await;
    let limit = [("APP__RATE_LIMIT__REQUESTS", "10")];
    let (a, b) = tokio::join!(Server::start(&db.url, &limit), Server::start(&db.url, &limit));
    for n in 0..10 {
        let server = if n % 2 == 0 { &a } else { &b };
        let response = server.get("/api/inventory/products?manager_id=shared").await;
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
    }
    for server in [&a, &b] {
        expect_error(server.get("/api/inventory/products?manager_id=shared").await, 429, "RATE_LIMITED").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_one_process_is_visible_on_another_within_a_second() {
    let db = TestDatabase::create().await;
    let (a, b) = tokio::join!(Server::start(&db.url, &[]), Server::start(&db.url, &[]));
    let created: Value =
        a.post("/products", &json!({"name": "Mug", "price": 5, "stock": 10})).await.json().await.unwrap();
    let path = format!("/products/{}", created["id"]);
    // Warm both caches, including the listing.
    for server in [&a, &b] {
        let product: Value = server.get(&path).await.json().await.unwrap();
        assert_eq!(product["stock"], 10);
        assert_eq!(server.get("/products").await.json::<Value>().await.unwrap().as_array().unwrap().len(), 1);
    }
    let changed = a.client.patch(a.url(&path)).json(&json!({"stock": 3, "price": 4.5})).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    a.post("/orders", &json!({"product_id": created["id"], "quantity": 1})).await;
    let expected = json!({"id": created["id"], "name": "Mug", "description": "", "price": 4.5, "stock": 2});
    let own: Value = a.get(&path).await.json().await.unwrap();
    assert_eq!(own, expected, "the writing process sees its write at once");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let seen: Value = b.get(&path).await.json().await.unwrap();
        let listed: Value = b.get("/products").await.json().await.unwrap();
        if seen == expected && listed[0] == expected {
            break;
        }
        assert!(Instant::now() < deadline, "process b still serves {seen} after 1 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// How many product queries `server` answered from its cache so far.
async fn cache_hits(server: &Server) -> f64 {
    let text = server.get("/metrics").await.text().await.unwrap();
    super::sample(&text, r#"product_cache_lookups_total{result="hit"}"#).unwrap_or(0.0)
}

/// Reads `path` on `server`, and whether its cache answered.
async fn read_cached(server: &Server, path: &str) -> (Value, bool) {
    let before = cache_hits(server).await;
    let product: Value = server.get(path).await.json().await.unwrap();
    (product, cache_hits(server).await > before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_through_one_process_shows_on_another_within_a_second_and_leaves_its_other_products_cached() {
    let db = TestDatabase::create().await;
    let (a, b) = tokio::join!(Server::start(&db.url, &[]), Server::start(&db.url, &[]));
    let mut ids = Vec::new();
    for name in ["Mug", "Cup"] {
        let created: Value =
            a.post("/products", &json!({"name": name, "price": 5, "stock": 10})).await.json().await.unwrap();
        ids.push(created["id"].clone());
    }
    let (mug, cup) = (&format!("/products/{}", ids[0]), &format!("/products/{}", ids[1]));
    // Warm b's cache: both products served from it (once its change feed is up and the
    // announcements of the creations are in).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, mug_cached) = read_cached(&b, mug).await;
        let (_, cup_cached) = read_cached(&b, cup).await;
        if mug_cached && cup_cached {
            break;
        }
        assert!(Instant::now() < deadline, "process b never served the products from its cache");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let order = a.post("/orders", &json!({"products": [{"product_id": ids[0], "quantity": 2}]})).await;
    assert_eq!(order.status(), StatusCode::CREATED);
    let ordered = Instant::now();

    // Well within the cache's backstop lifetime: only the announcement can have shown it.
    loop {
        let (seen, _) = read_cached(&b, mug).await;
        if seen["stock"] == 8 {
            break;
        }
        assert!(ordered.elapsed() < Duration::from_secs(1), "process b still serves {seen} after 1 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (cup_seen, cup_cached) = read_cached(&b, cup).await;
    assert_eq!(cup_seen["stock"], 10);
    assert!(cup_cached, "the product the order did not touch is still served from b's cache");
    let (mug_seen, mug_cached) = read_cached(&b, mug).await;
    assert_eq!(mug_seen["stock"], 8);
    assert!(mug_cached, "the ordered product is cached again once read");
}

async fn in_flight_requests(client: &Client, address: &str) -> f64 {
    let text = client.get(format!("{address}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("http_requests_in_flight "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_an_in_flight_request_finish_before_exiting() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"))
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP__SERVER__PORT", port.to_string())
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{address}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A body that arrives in two halves, with SIGTERM sent in between.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let request = client
        .post(format!("{address}/products"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let in_flight = tokio::spawn(request);
    sender.send(Ok(bytes::Bytes::from_static(br#"{"name": "Slow", "price": 1,"#))).await.unwrap();
    // SIGTERM only once the server is serving the request (the /metrics call itself is one).
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight_requests(&client, &address).await < 2.0 {
        assert!(Instant::now() < deadline, "the slow request never reached the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    if sender.send(Ok(bytes::Bytes::from_static(br#" "stock": 1}"#))).await.is_err() {
        panic!("request ended early: {:?}", in_flight.await);
    }
    drop(sender);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_migrate_subcommand_prepares_an_empty_database_and_is_repeatable() {
    let db = TestDatabase::empty().await;
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"))
            .arg("migrate")
            .env("APP_CONFIG_DIR", config_dir())
            .env("APP__DATABASE__URL", &db.url)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let server = Server::start(&db.url, &[]).await;
    assert_eq!(
        server.post("/products", &json!({"name": "Mug", "price": 1, "stock": 1})).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_stuck_behind_a_lock_answers_503_at_the_request_deadline_and_places_nothing() {
    let db = TestDatabase::create().await;
    let server = Server::start(&db.url, &[("APP__SERVER__REQUEST_TIMEOUT", "1")]).await;
    let product: Value =
        server.post("/products", &json!({"name": "Locked", "price": 2, "stock": 5})).await.json().await.unwrap();
    let id = product["id"].as_i64().unwrap();
    // Another session holds the product's row for 3 s, longer than the 1 s deadline.
    let mut holder = Command::new("psql")
        .args([&db.url, "-X", "-q", "-c"])
        .arg(format!("BEGIN; SELECT id FROM products WHERE id = {id} FOR UPDATE; SELECT pg_sleep(3); COMMIT;"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql runs");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let order = json!({"products": [{"product_id": id, "quantity": 1}]});
    let send = || server.client.post(server.url("/orders")).header("Idempotency-Key", "stuck-1").json(&order).send();
    let started = Instant::now();
    let response = send().await.unwrap();
    let elapsed = started.elapsed();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503, "SERVICE_UNAVAILABLE").await;
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500), "{elapsed:?}");

    // The transaction cut short was rolled back once the lock was released, not committed
    // behind the client's back; the retry with the same key places the order exactly once.
    assert!(holder.wait().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let orders: Value = server.get("/orders").await.json().await.unwrap();
    assert_eq!(orders, json!([]));
    let first: Value = send().await.unwrap().json().await.unwrap();
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let product: Value = server.get(&format!("/products/{id}")).await.json().await.unwrap();
    assert_eq!(product["stock"], 4);
}
