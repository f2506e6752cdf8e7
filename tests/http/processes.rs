//! The `ecommerce-api` binary run as operators run it: its subcommands, start-up, and the
//! figures one process reports; several processes sharing one PostgreSQL database in
//! [`postgres`].

mod postgres;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::config_dir;

/// An `ecommerce-api` process, killed on drop.
pub struct Server {
    child: Child,
    pub address: String,
    pub client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so that the process exits as it would in production (and writes its
        // coverage data when measured); then make sure it is gone.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// A server on PostgreSQL at `database_url`.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut env = env.to_vec();
        env.extend([("APP__STORAGE__BACKEND", "postgres"), ("APP__DATABASE__URL", database_url)]);
        Self::start_with(&env).await
    }

    /// A server on the in-memory store.
    pub async fn start_in_memory(env: &[(&str, &str)]) -> Server {
        let mut env = env.to_vec();
        env.push(("APP__STORAGE__BACKEND", "memory"));
        Self::start_with(&env).await
    }

    async fn start_with(env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"));
        command
            .env("APP_CONFIG_DIR", config_dir())
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

/// The count of one sample line of the Prometheus text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_requests_and_orders_of_their_process() {
    let server = Server::start_in_memory(&[]).await;
    let created = server.post("/products", &json!({"name": "Mug", "price": 1.0, "stock": 5})).await;
    let id = created.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    for _ in 0..3 {
        assert_eq!(server.get(&format!("/products/{id}")).await.status(), StatusCode::OK);
    }
    let order = server.post("/orders", &json!({"product_id": id, "quantity": 1})).await;
    assert_eq!(order.status(), StatusCode::CREATED);
    assert_eq!(server.post("/orders", &json!({"product_id": id, "quantity": 99})).await.status(), StatusCode::CONFLICT);

    let response = server.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let series = |s: &str| sample(&text, s);
    assert_eq!(series(r#"http_requests_total{method="GET",route="/products/{id}",status="200"}"#), Some(3.0), "{text}");
    assert_eq!(series(r#"http_requests_total{method="POST",route="/orders",status="201"}"#), Some(1.0), "{text}");
    assert_eq!(series(r#"http_requests_total{method="POST",route="/orders",status="409"}"#), Some(1.0), "{text}");
    assert_eq!(
        series(r#"http_request_duration_seconds_count{method="GET",route="/products/{id}"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(series(r#"orders_placed_total{surface="storefront"}"#), Some(1.0), "{text}");
    // The product was created before the reads: the first read fills the cache, the next two hit.
    assert_eq!(series(r#"product_cache_lookups_total{result="miss"}"#), Some(1.0), "{text}");
    assert_eq!(series(r#"product_cache_lookups_total{result="hit"}"#), Some(2.0), "{text}");
    assert_eq!(series("http_requests_in_flight"), Some(1.0), "only the metrics request itself: {text}");
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
