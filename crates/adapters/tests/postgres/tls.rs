//! TLS to PostgreSQL as libpq's `sslmode` means it, for every session the service opens (the
//! pool, the migrations, the change listener), against real servers:
//!
//! - the local server (`DATABASE_URL`, `ssl = on` with Debian's self-signed certificate);
//! - a cluster of this test's own, which accepts TLS sessions only (`hostssl` lines alone) and
//!   serves a certificate for `localhost` signed by a CA the test makes. It is started by the
//!   first test that needs it, shared by those running at the same time, and stopped (and its
//!   directory removed) when the last of them ends, panicking or not.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use adapters::postgres::{ChangeEvent, PgStore, PoolSettings, run_migrations};
use adapters::testing::TestDatabase;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use domain::Money;
use domain::ports::{HealthCheck, ProductRepository};
use domain::product::{Description, NewProduct, ProductName, Stock};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::support::listen;

/// A password the servers here never ask for (they trust): it must show in no error message.
const PASSWORD: &str = "n0t-to-be-shown";

// --- the local server -------------------------------------------------------------------------

#[tokio::test]
async fn the_local_server_is_reached_over_tls_with_sslmode_require() {
    let db = TestDatabase::create().await;
    let url = with_param(&db.url, "sslmode=require");
    let store = pooled_store(&url);
    store.ping().await.unwrap();
    assert_eq!(pool_sessions_over_tls(&db.url).await, (1, 1));
}

#[tokio::test]
async fn the_local_server_is_reached_over_tls_by_default_as_it_offers_tls() {
    let db = TestDatabase::create().await;
    for url in [db.url.clone(), with_param(&db.url, "sslmode=prefer")] {
        let store = pooled_store(&url);
        store.ping().await.unwrap();
        assert_eq!(pool_sessions_over_tls(&db.url).await, (1, 1), "{url}");
        drop(store);
        wait_for_no_pool_session(&db.url).await;
    }
}

#[tokio::test]
async fn the_local_server_is_reached_without_tls_with_sslmode_disable() {
    let db = TestDatabase::create().await;
    let store = pooled_store(&with_param(&db.url, "sslmode=disable"));
    store.ping().await.unwrap();
    assert_eq!(pool_sessions_over_tls(&db.url).await, (1, 0));
}

#[tokio::test]
async fn migrations_run_on_the_local_server_in_every_mode_it_accepts() {
    for mode in ["disable", "prefer", "require"] {
        let db = TestDatabase::empty().await;
        run_migrations(&with_param(&db.url, &format!("sslmode={mode}"))).await.unwrap();
        assert!(table_exists(&db.url, "products").await, "sslmode={mode}");
    }
}

// --- a server that accepts TLS only -----------------------------------------------------------

#[tokio::test]
async fn a_server_that_accepts_tls_only_refuses_sslmode_disable() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;

    let err = format!("{:#}", run_migrations(&db.url("localhost", "sslmode=disable")).await.unwrap_err());
    assert!(err.contains("no pg_hba.conf entry") && err.contains("no encryption"), "{err}");
    assert!(err.contains("(sslmode=disable)"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let store = pooled_store(&db.url("localhost", "sslmode=disable"));
    let err = error_chain(&store.ping().await.unwrap_err());
    assert!(err.contains("no pg_hba.conf entry"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[tokio::test]
async fn its_unix_socket_is_reached_whatever_the_sslmode_as_libpq_does() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    run_migrations(&format!("{}?sslmode=require", db.observer_url())).await.unwrap();
    assert!(table_exists(&db.observer_url(), "products").await);
}

#[tokio::test]
async fn sslmode_require_and_prefer_reach_it_over_tls_without_checking_the_certificate() {
    let cluster = Cluster::shared();
    for mode in ["require", "prefer"] {
        let db = cluster.database().await;
        // Through 127.0.0.1, which the certificate does not name, signed by a CA nobody gave.
        let url = db.url("127.0.0.1", &format!("sslmode={mode}"));
        run_migrations(&url).await.unwrap();
        let store = pooled_store(&url);
        store.ping().await.unwrap();
        assert_eq!(pool_sessions_over_tls(&db.observer_url()).await, (1, 1), "sslmode={mode}");
    }
}

#[tokio::test]
async fn sslmode_verify_ca_accepts_the_right_root_whatever_the_host_name() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    let root = format!("sslmode=verify-ca&sslrootcert={}", cluster.ca.display());
    run_migrations(&db.url("127.0.0.1", &root)).await.unwrap();
    let store = pooled_store(&db.url("localhost", &root));
    store.create(new_product("Teapot")).await.unwrap();
    assert_eq!(pool_sessions_over_tls(&db.observer_url()).await, (1, 1));
}

#[tokio::test]
async fn sslmode_verify_ca_refuses_a_certificate_of_another_authority() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    let url = db.url("localhost", &format!("sslmode=verify-ca&sslrootcert={}", cluster.other_ca.display()));

    let err = format!("{:#}", run_migrations(&url).await.unwrap_err());
    let expected = format!(
        "certificate verify failed: the server's certificate is not signed by a trusted certificate authority \
         (sslmode=verify-ca, sslrootcert \"{}\")",
        cluster.other_ca.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let err = error_chain(&pooled_store(&url).ping().await.unwrap_err());
    assert!(err.contains("certificate verify failed"), "{err}");
    assert!(!table_exists(&db.observer_url(), "products").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_reaches_a_server_whose_certificate_names_the_host() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    let url = db.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", cluster.ca.display()));

    run_migrations(&url).await.unwrap();
    assert!(table_exists(&db.observer_url(), "products").await);

    let (_listener, mut events) = listen(&url);
    assert_eq!(next_event(&mut events).await, ChangeEvent::Resynced);

    let store = pooled_store(&url);
    store.ping().await.unwrap();
    store.create(new_product("Kettle")).await.unwrap();
    assert_eq!(next_event(&mut events).await, ChangeEvent::Changed);

    assert_eq!(pool_sessions_over_tls(&db.observer_url()).await, (1, 1));
    assert_eq!(sessions_over_tls(&db.observer_url(), "ecommerce-api-listener").await, (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_refuses_a_host_name_the_certificate_does_not_carry() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    // The certificate names `localhost` only.
    let url = db.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", cluster.ca.display()));

    let err = format!("{:#}", run_migrations(&url).await.unwrap_err());
    assert!(err.contains("certificate verify failed: certificate not valid for name \"127.0.0.1\""), "{err}");
    assert!(err.contains("(sslmode=verify-full, sslrootcert"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let err = error_chain(&pooled_store(&url).ping().await.unwrap_err());
    assert!(err.contains("certificate verify failed: certificate not valid for name"), "{err}");

    let (_listener, mut events) = listen(&url);
    assert_eq!(next_event(&mut events).await, ChangeEvent::Disconnected);
    assert!(!table_exists(&db.observer_url(), "products").await);
}

#[tokio::test]
async fn several_hosts_with_target_session_attrs_read_write_still_connect_over_tls() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    // The first host refuses connections; the second is the cluster.
    let dead_port = free_port();
    let url = format!(
        "postgres://postgres:{PASSWORD}@localhost:{dead_port},localhost:{}/{}?target_session_attrs=read-write\
         &sslmode=verify-full&sslrootcert={}",
        cluster.port,
        db.name,
        cluster.ca.display()
    );
    run_migrations(&url).await.unwrap();
    let store = pooled_store(&url);
    store.ping().await.unwrap();
    assert_eq!(pool_sessions_over_tls(&db.observer_url()).await, (1, 1));
}

#[tokio::test]
async fn a_password_account_authenticates_over_verified_tls_and_a_wrong_password_is_not_shown() {
    let cluster = Cluster::shared();
    let db = cluster.database().await;
    let mut observer = AsyncPgConnection::establish(&cluster.observer_url("postgres")).await.unwrap();
    // A role of the cluster, made by the one test that uses it.
    observer
        .batch_execute(&format!("CREATE ROLE app LOGIN PASSWORD 'app-s3cret'; ALTER DATABASE {} OWNER TO app", db.name))
        .await
        .unwrap();
    let url = |password: &str| {
        format!(
            "postgres://app:{password}@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
            cluster.port,
            db.name,
            cluster.ca.display()
        )
    };

    // SCRAM over TLS, with channel binding as tokio-postgres prefers it.
    run_migrations(&url("app-s3cret")).await.unwrap();
    let store = pooled_store(&url("app-s3cret"));
    store.create(new_product("Cup")).await.unwrap();
    assert_eq!(pool_sessions_over_tls(&db.observer_url()).await, (1, 1));

    let err = format!("{:#}", run_migrations(&url(PASSWORD)).await.unwrap_err());
    assert!(err.contains("password authentication failed for user \"app\""), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

// --- helpers ----------------------------------------------------------------------------------

fn pooled_store(url: &str) -> PgStore {
    PgStore::new(&PoolSettings {
        url: url.to_owned(),
        pool_size: 2,
        wait_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
    })
    .unwrap()
}

fn new_product(name: &str) -> NewProduct {
    NewProduct {
        id: None,
        manager_id: None,
        name: ProductName::parse(name).unwrap(),
        description: Description::default(),
        price: Money::from_cents(990).unwrap(),
        stock: Stock::new(4).unwrap(),
    }
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    if url.contains('?') { format!("{url}&{param}") } else { format!("{url}?{param}") }
}

/// An error and all its causes, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

async fn next_event(events: &mut UnboundedReceiver<ChangeEvent>) -> ChangeEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("no event from the listener within 10s")
        .expect("the listener's callback is alive")
}

#[derive(diesel::QueryableByName)]
struct Sessions {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    over_tls: i64,
}

/// How many sessions of the pool are open on the database of `observer_url`, and how many of
/// them are encrypted, as the server sees them.
async fn pool_sessions_over_tls(observer_url: &str) -> (i64, i64) {
    sessions_over_tls(observer_url, "ecommerce-api").await
}

async fn sessions_over_tls(observer_url: &str, application_name: &str) -> (i64, i64) {
    let mut conn = AsyncPgConnection::establish(observer_url).await.unwrap();
    let sessions = diesel::sql_query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE s.ssl) AS over_tls \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.application_name = $1",
    )
    .bind::<diesel::sql_types::Text, _>(application_name)
    .get_result::<Sessions>(&mut conn)
    .await
    .unwrap();
    (sessions.total, sessions.over_tls)
}

async fn wait_for_no_pool_session(observer_url: &str) {
    for _ in 0..100 {
        if pool_sessions_over_tls(observer_url).await.0 == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the pool's sessions outlived the pool");
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn table_exists(observer_url: &str, table: &str) -> bool {
    let mut conn = AsyncPgConnection::establish(observer_url).await.unwrap();
    diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS exists")
        .bind::<diesel::sql_types::Text, _>(table)
        .get_result::<Exists>(&mut conn)
        .await
        .unwrap()
        .exists
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// --- the cluster that accepts TLS only --------------------------------------------------------

/// A throwaway PostgreSQL cluster: TLS only over TCP, trusting every local user but `app`, who
/// must give a password (SCRAM); plain sessions over its own Unix socket let tests look at it
/// from outside.
struct Cluster {
    dir: PathBuf,
    port: u16,
    /// The CA that signed the server's certificate (for `localhost` only).
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
    databases: AtomicUsize,
}

/// The cluster of the tests running now; gone when none is.
static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

impl Cluster {
    fn shared() -> Arc<Cluster> {
        let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Cluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    fn start() -> Cluster {
        // As root the cluster runs as `postgres`, who may not reach root's own TMPDIR.
        let tmp = if running_as_root() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tmp.join(format!(
            "ecommerce-tls-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir(&dir).unwrap();
        let port = free_port();
        // From here on, a failure still stops the server and removes the directory.
        let cluster = Cluster {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
            dir,
            port,
            databases: AtomicUsize::new(0),
        };
        cluster.write_certificates();
        give_to_database_user(&cluster.dir);
        let data = cluster.data_dir();
        run_as_database_user(
            "initdb",
            &["-D", path_str(&data), "-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8"],
        );
        for file in ["server.crt", "server.key"] {
            std::fs::rename(cluster.dir.join(file), data.join(file)).unwrap();
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all app 127.0.0.1/32 scram-sha-256\nhostssl all app ::1/128 scram-sha-256\n\
             hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .unwrap();
        let settings = format!(
            "\nlisten_addresses = 'localhost'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 50\n",
            path_str(&cluster.dir)
        );
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(&settings);
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        give_to_database_user(&cluster.dir);
        let log = cluster.dir.join("server.log");
        run_as_database_user("pg_ctl", &["-D", path_str(&data), "-l", path_str(&log), "-w", "-t", "60", "start"]);
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A CA, a certificate for `localhost` it signs, and a CA unrelated to either.
    fn write_certificates(&self) {
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params("ecommerce-api test CA");
        std::fs::write(&self.ca, ca.self_signed(&ca_key).unwrap().pem()).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        std::fs::write(self.dir.join("server.crt"), server.signed_by(&server_key, &issuer).unwrap().pem()).unwrap();
        let key_file = self.dir.join("server.key");
        std::fs::write(&key_file, server_key.serialize_pem()).unwrap();
        // PostgreSQL refuses a key others may read.
        std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

        let other_key = KeyPair::generate().unwrap();
        std::fs::write(&self.other_ca, ca_params("another CA").self_signed(&other_key).unwrap().pem()).unwrap();
    }

    /// A database of its own for one test.
    async fn database(self: &Arc<Cluster>) -> ClusterDatabase {
        let name = format!("tls_test_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let mut conn = AsyncPgConnection::establish(&self.observer_url("postgres")).await.unwrap();
        conn.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        ClusterDatabase { cluster: Arc::clone(self), name }
    }

    /// A plain session over the cluster's Unix socket, which needs no TLS.
    fn observer_url(&self, database: &str) -> String {
        let socket_dir = path_str(&self.dir).replace('/', "%2F");
        format!("postgres://postgres@{socket_dir}:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let data = self.data_dir();
            let stopped =
                database_user_command("pg_ctl", &["-D", path_str(&data), "-m", "immediate", "-w", "stop"]).output();
            if !matches!(&stopped, Ok(output) if output.status.success()) {
                eprintln!("could not stop the test cluster in {}: {stopped:?}", self.dir.display());
            }
        }
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {err}", self.dir.display());
        }
    }
}

struct ClusterDatabase {
    cluster: Arc<Cluster>,
    name: String,
}

impl ClusterDatabase {
    /// The service's URL for this database through `host`, with `params`.
    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@{host}:{}/{}?{params}", self.cluster.port, self.name)
    }

    fn observer_url(&self) -> String {
        self.cluster.observer_url(&self.name)
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// PostgreSQL's server tools refuse to run as root: as root, run them as `postgres`.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|meta| meta.uid() == 0).unwrap_or(false)
}

fn database_user_command(tool: &str, args: &[&str]) -> Command {
    let bindir = Command::new("pg_config").arg("--bindir").output().expect("pg_config (PostgreSQL's server tools)");
    let program = Path::new(String::from_utf8_lossy(&bindir.stdout).trim()).join(tool);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run_as_database_user(tool: &str, args: &[&str]) {
    let output = database_user_command(tool, args).output().unwrap();
    assert!(
        output.status.success(),
        "{tool} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// As root, hands `dir` (and what is in it) to `postgres`, who runs the cluster.
fn give_to_database_user(dir: &Path) {
    if running_as_root() {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir).status().unwrap();
        assert!(status.success(), "chown of {} failed", dir.display());
    }
}
