//! Several real server processes sharing one PostgreSQL database, as operators run it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::testing::TestDatabase;
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{config_dir, expect_error};

/// An `ecommerce-api` process, killed on drop.
pub struct Server {
    child: Child,
    pub address: String,
    pub client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"));
        command
            .env("APP_CONFIG_DIR", config_dir())
            .env("APP__STORAGE__BACKEND", "postgres")
            .env("APP__DATABASE__URL", database_url)
            .env("APP__DATABASE__POOL_SIZE", "6")
            .env("APP__DATABASE__ACQUIRE_TIMEOUT_MS", "1000")
            .env("APP__DATABASE__CONNECT_TIMEOUT_MS", "1000");
        for (key, value) in env {
            command.env(key, value);
        }
        Self::launch(command).await
    }

    /// Serves with `command`'s configuration on a free port, once `/health` answers.
    async fn launch(mut command: Command) -> Server {
        let port = free_port();
        command
            .arg("serve")
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__SERVER__WORKERS", "2")
            .env("RUST_LOG", if std::env::var_os("TEST_LOG").is_some() { "info" } else { "off" })
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn().expect("ecommerce-api starts");
        let server = Server { child, address: format!("http://127.0.0.1:{port}"), client: Client::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = server.client.get(server.url("/health")).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            assert!(Instant::now() < deadline, "ecommerce-api did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

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

#[test]
fn a_bad_configuration_value_stops_start_up_with_one_line_naming_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"))
        .env("APP_CONFIG_DIR", config_dir())
        .env("APP__SERVER__PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("server.port"), "{stderr}");
}

#[test]
fn the_openapi_subcommand_prints_the_document() {
    let output = Command::new(env!("CARGO_BIN_EXE_ecommerce-api")).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(doc["paths"]["/orders"]["post"].is_object());
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

/// An empty directory of its own, removed on drop: a working directory with no `config/`.
struct EmptyDir(PathBuf);

impl EmptyDir {
    fn new() -> EmptyDir {
        let path = std::env::temp_dir().join(format!("ecommerce-api-cwd-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path).unwrap();
        EmptyDir(path)
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary run in `dir` with only `env` set: nothing inherited names a configuration.
fn bare_command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"));
    command.current_dir(dir).env_clear().env("RUST_LOG", "off");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bare_command(dir, env).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_serves_when_started_from_a_directory_without_configuration() {
    let dir = EmptyDir::new();
    let server = Server::launch(bare_command(&dir.0, &[])).await;
    let created = server.post("/products", &json!({"name": "Mug", "price": 4.5, "stock": 3})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let order = server.post("/orders", &json!({"products": [{"product_id": 1, "quantity": 2}]})).await;
    assert_eq!(order.status(), StatusCode::CREATED);
    assert!(!dir.0.join("config").exists());
}

#[test]
fn the_config_subcommand_prints_the_effective_settings_without_any_password() {
    let dir = EmptyDir::new();
    let secret_url = "postgres://app:s3cret@db:5432/shop?sslmode=require&password=s3cret";
    for env in [
        [("APP__DATABASE__URL", secret_url), ("APP__SERVER__PORT", "9123")],
        [("DATABASE_URL", secret_url), ("APP__SERVER__PORT", "9123")],
    ] {
        let output = run(&dir.0, &["config"], &env);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(!stdout.contains("s3cret"), "{stdout}");
        let settings: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(settings["database"]["url"], "postgres://app:***@db:5432/shop?sslmode=require&password=***");
        assert_eq!(settings["server"]["port"], 9123);
        assert_eq!(settings["server"]["host"], "127.0.0.1", "the compiled-in default");
        assert_eq!(settings["storage"]["backend"], "memory");
        assert_eq!(settings["rate_limit"]["requests"], 100);
    }
}

#[test]
fn the_config_subcommand_reads_the_configuration_directory_and_app_env() {
    let dir = EmptyDir::new();
    std::fs::write(dir.0.join("staging.toml"), "[server]\nport = 7001\n").unwrap();
    let dir_name = dir.0.to_str().unwrap();
    let output = run(&dir.0, &["config"], &[("APP_CONFIG_DIR", dir_name), ("APP_ENV", "staging")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let settings: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(settings["server"]["port"], 7001);
    assert_eq!(settings["server"]["host"], "127.0.0.1");
}

#[test]
fn a_bad_value_from_a_directory_without_configuration_still_names_its_key() {
    let dir = EmptyDir::new();
    let output = run(&dir.0, &["config"], &[("APP__RATE_LIMIT__REQUESTS", "many")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("rate_limit.requests"), "{stderr}");
}

fn healthcheck(port: u16) -> Output {
    let dir = std::env::temp_dir();
    run(&dir, &["healthcheck", "--timeout-ms", "1000"], &[("APP__SERVER__PORT", &port.to_string())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_healthcheck_subcommand_exits_0_when_the_local_server_answers() {
    let dir = EmptyDir::new();
    let server = Server::launch(bare_command(&dir.0, &[])).await;
    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    let output = tokio::task::spawn_blocking(move || healthcheck(port)).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_healthcheck_subcommand_fails_with_one_line_when_nothing_listens() {
    let port = free_port();
    let output = healthcheck(port);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn the_healthcheck_subcommand_fails_on_an_answer_other_than_200() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answering = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0_u8; 1024];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
    });
    let output = healthcheck(port);
    answering.join().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn the_healthcheck_subcommand_gives_up_on_a_server_that_never_answers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let output = healthcheck(port);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    drop(listener);
}
