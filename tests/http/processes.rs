//! The `ecommerce-api` binary run as operators run it: its subcommands, start-up, and the
//! figures one process reports; several processes sharing one PostgreSQL database in
//! [`postgres`].

mod postgres;

use std::process::{Child, Command, Stdio};
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
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecommerce-api"));
        command
            .arg("serve")
            .env("APP_CONFIG_DIR", config_dir())
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__SERVER__WORKERS", "2")
            .env("APP__DATABASE__POOL_SIZE", "6")
            .env("APP__DATABASE__ACQUIRE_TIMEOUT_MS", "1000")
            .env("APP__DATABASE__CONNECT_TIMEOUT_MS", "1000")
            .env("RUST_LOG", if std::env::var_os("TEST_LOG").is_some() { "info" } else { "off" })
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
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
    assert_eq!(series("http_requests_in_flight"), Some(1.0), "only the metrics request itself: {text}");
}
