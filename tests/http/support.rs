//! `TestApp`: the real application on a free port, with a fresh store or database.

use std::path::Path;
use std::sync::Arc;

use actix_web::web;
use adapters::testing::TestDatabase;
use api::config::{Backend, LogFormat, LogSettings, Settings};
use api::startup::{Application, build_components};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// Runs each listed test function against the memory and the PostgreSQL backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::TestApp::spawn($crate::support::Store::Memory).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::TestApp::spawn($crate::support::Store::Postgres).await).await;
                }
            )*
        }
    };
}

/// Which backend a test app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// The app's state, to look at what HTTP cannot show (audit records).
    pub state: api::state::AppState,
    /// Keeps the test's database alive as long as the app.
    _db: Option<TestDatabase>,
}

pub fn config_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

pub fn test_settings(store: Store, db: Option<&TestDatabase>) -> Settings {
    let mut settings = Settings::load_from(&config_dir(), &[]).expect("default configuration loads");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.storage.backend = match store {
        Store::Memory => Backend::Memory,
        Store::Postgres => Backend::Postgres,
    };
    if let Some(db) = db {
        settings.database.url = db.url.clone();
        settings.database.pool_size = 8;
    }
    settings
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        // The writer thread must outlive every test of this binary.
        if let Some(writer) = api::telemetry::init(&LogSettings { level: "info".into(), format: LogFormat::Text }) {
            std::mem::forget(writer);
        }
    }
}

impl TestApp {
    pub async fn spawn(store: Store) -> TestApp {
        Self::spawn_with(store, |_| {}).await
    }

    pub async fn spawn_with(store: Store, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        init_logs();
        let db = match store {
            Store::Memory => None,
            Store::Postgres => Some(TestDatabase::create().await),
        };
        let mut settings = test_settings(store, db.as_ref());
        tweak(&mut settings);
        let components = build_components(&settings).await.expect("components build");
        let state = components.state.clone();
        let extra: api::startup::ExtraRoutes = Arc::new(|cfg: &mut web::ServiceConfig| {
            cfg.route(
                "/__test/panic",
                web::get().to(|| async {
                    panic!("deliberate panic in a handler");
                    #[allow(unreachable_code)]
                    actix_web::HttpResponse::Ok().finish()
                }),
            );
        });
        let app = Application::bind(&settings, components, extra).expect("server binds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client builds");
        TestApp { address, client, state, _db: db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request is sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request is sent")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).json(body).send().await.expect("request is sent")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).json(body).send().await.expect("request is sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.expect("request is sent")
    }

    /// Creates a product and returns its id.
    pub async fn product(&self, name: &str, price: f64, stock: i64) -> i64 {
        let response = self.post("/products", &json!({"name": name, "price": price, "stock": stock})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["id"].as_i64().expect("id is an integer")
    }

    pub async fn stock_of(&self, id: i64) -> i64 {
        body(self.get(&format!("/products/{id}")).await).await["stock"].as_i64().expect("stock is an integer")
    }

    /// The newest audit records, once at least `count` have been written: they are written in
    /// the background after each response, so a loaded machine gets some time.
    pub async fn audit_records(&self, count: usize) -> Vec<domain::audit::AuditRecord> {
        for _ in 0..500 {
            let records = self.state.audit.recent(10).await.expect("audit records read");
            if records.len() >= count {
                return records;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.state.audit.recent(10).await.expect("audit records read")
    }
}

pub async fn body(response: Response) -> Value {
    response.json().await.expect("body is JSON")
}

/// Asserts the envelope and returns its `details`.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body = body(response).await;
    assert_eq!(body["error"]["code"], code, "code in {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    assert!(body["error"]["details"].is_object(), "details in {body}");
    body["error"]["details"].clone()
}
