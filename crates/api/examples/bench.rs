//! `make bench`: throughput and latency of order placement and catalogue reads over HTTP, on
//! both backends, with concurrent clients. The server runs in this process on port 0.
//!
//! Knobs: `BENCH_CLIENTS` (default 32), `BENCH_REQUESTS` (per scenario, default 4000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::testing::TestDatabase;
use api::config::{Backend, Settings};
use api::startup::{Application, build_components};
use serde_json::{Value, json};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn start(backend: Backend, db: Option<&TestDatabase>) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut settings = Settings::load_from(&dir, &[]).unwrap();
    settings.server.port = 0;
    settings.storage.backend = backend;
    if let Some(db) = db {
        settings.database.url = db.url.clone();
    }
    let components = build_components(&settings).await.unwrap();
    let app = Application::bind(&settings, components, Arc::new(|_| {})).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

async fn scenario<F, Fut>(name: &str, clients: usize, requests: usize, call: F)
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let per_client = requests / clients;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::with_capacity(per_client);
                let mut failures = 0;
                for n in 0..per_client {
                    let t = Instant::now();
                    if !call(client.clone(), c * per_client + n).await {
                        failures += 1;
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    println!(
        "{name:<44} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   failures {failures}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
}

async fn run(label: &str, address: String, clients: usize, requests: usize) {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..100 {
        let body = json!({"name": format!("product {n}"), "price": 9.99, "stock": 1_000_000});
        let created: Value =
            client.post(format!("{address}/products")).json(&body).send().await.unwrap().json().await.unwrap();
        ids.push(created["id"].as_i64().unwrap());
    }
    let ids = Arc::new(ids);
    let base = Arc::new(address);

    let (a, i) = (base.clone(), ids.clone());
    scenario(&format!("{label}: POST /orders (3 lines)"), clients, requests, move |client, n| {
        let (a, i) = (a.clone(), i.clone());
        async move {
            let lines: Vec<Value> =
                (0..3).map(|k| json!({"product_id": i[(n * 7 + k * 31) % i.len()], "quantity": 1})).collect();
            let response = client.post(format!("{a}/orders")).json(&json!({"products": lines})).send().await;
            response.is_ok_and(|r| r.status() == 201)
        }
    })
    .await;

    let (a, i) = (base.clone(), ids.clone());
    scenario(&format!("{label}: POST /orders (one hot product)"), clients, requests, move |client, _| {
        let (a, i) = (a.clone(), i.clone());
        async move {
            let body = json!({"products": [{"product_id": i[0], "quantity": 1}]});
            client.post(format!("{a}/orders")).json(&body).send().await.is_ok_and(|r| r.status() == 201)
        }
    })
    .await;

    let (a, i) = (base.clone(), ids.clone());
    scenario(&format!("{label}: GET /products/{{id}}"), clients, requests, move |client, n| {
        let (a, i) = (a.clone(), i.clone());
        async move { client.get(format!("{a}/products/{}", i[n % i.len()])).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;

    let a = base.clone();
    scenario(&format!("{label}: GET /products?per_page=50"), clients, requests, move |client, _| {
        let a = a.clone();
        async move { client.get(format!("{a}/products?per_page=50")).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
}

#[tokio::main]
async fn main() {
    let clients = env_number("BENCH_CLIENTS", 32);
    let requests = env_number("BENCH_REQUESTS", 4000);
    println!("{clients} concurrent clients, {requests} requests per scenario, server in-process\n");
    run("memory", start(Backend::Memory, None).await, clients, requests).await;
    let db = TestDatabase::create().await;
    run("postgres", start(Backend::Postgres, Some(&db)).await, clients, requests).await;
}
