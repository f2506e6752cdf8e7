//! Throwaway PostgreSQL databases for tests: each test gets a database of its own, cloned from a
//! template that is migrated once per set of migrations, and dropped when the test ends.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use tokio::sync::OnceCell;

use crate::postgres::connect::Target;
use crate::postgres::{PoolSettings, run_migrations};

/// Where tests find PostgreSQL when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/postgres";

/// Session advisory lock key (on the server's maintenance database) under which templates are
/// built, so test binaries running at once do not build the same template twice.
const TEMPLATE_LOCK_KEY: i64 = 0x0065_636f_7465_6d70;

/// How long tests wait for PostgreSQL to accept a connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The template of this process's migrations, built or found once per process.
static TEMPLATE: OnceCell<Result<String, String>> = OnceCell::const_new();

/// A database of its own for one test, dropped (with any session still on it) when this is.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh database with every migration applied, from `DATABASE_URL` (default
    /// `postgres://postgres@localhost:5432/postgres`).
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached or refuses to create the database: tests that need it
    /// fail loudly rather than pass without running.
    pub async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let template = match TEMPLATE.get_or_init(|| build_template(admin_url.clone())).await {
            Ok(template) => template.clone(),
            Err(message) => panic!("{message}"),
        };
        Self::create_from(admin_url, Some(&template)).await
    }

    /// A fresh database without any table, for tests of the migrations themselves.
    ///
    /// # Panics
    /// Like [`TestDatabase::create`].
    pub async fn empty() -> TestDatabase {
        Self::create_from(admin_url(), None).await
    }

    async fn create_from(admin_url: String, template: Option<&str>) -> TestDatabase {
        let name = format!("ecommerce_test_{:016x}", RandomState::new().build_hasher().finish());
        let mut admin = connect(&admin_url).await.unwrap_or_else(|message| panic!("{message}"));
        let statement = match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        if let Err(err) = diesel::sql_query(statement).execute(&mut admin).await {
            panic!("creating test database {name} failed: {err}");
        }
        TestDatabase { url: with_database(&admin_url, &name), admin_url, name }
    }

    /// Lets sessions connect to this database again, or shuts it to new sessions and ends every
    /// open one: how tests simulate a database that goes away and comes back.
    ///
    /// # Panics
    /// When PostgreSQL refuses the change.
    pub async fn set_connections_allowed(&self, allowed: bool) {
        let mut admin = connect(&self.admin_url).await.unwrap_or_else(|message| panic!("{message}"));
        let name = &self.name;
        let mut statements = vec![format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allowed}")];
        if !allowed {
            statements.push(format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
            ));
        }
        for statement in statements {
            if let Err(err) = diesel::sql_query(&statement).execute(&mut admin).await {
                panic!("{statement} failed: {err}");
            }
        }
    }

    /// Pool settings for this database, patient enough for a loaded test machine.
    pub fn settings(&self) -> PoolSettings {
        PoolSettings {
            url: self.url.clone(),
            pool_size: 8,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await, and the test's runtime may be shutting down: use a thread and a
        // runtime of our own.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let mut admin = connect(&admin_url).await?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string())
            })
        })
        .join();
        // Panicking in a drop that runs during a failing test's unwinding would abort the run.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(message)) => eprintln!("could not drop test database {}: {message}", self.name),
            Err(_) => eprintln!("could not drop test database {}: the dropping thread panicked", self.name),
        }
    }
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// A connection to `url`, or the one line that tells the developer what to do.
async fn connect(url: &str) -> Result<AsyncPgConnection, String> {
    let unreachable = |cause: String| {
        format!(
            "PostgreSQL is not reachable at {url}: start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set DATABASE_URL \
             ({})",
            cause.replace('\n', " ")
        )
    };
    // The service's own way in, so a `DATABASE_URL` with TLS settings is honoured here too.
    let target = Target::parse(url).map_err(|err| format!("{err:#}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, target.establish()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
    }
}

/// Builds the template database of this build's migrations unless it exists, and returns its
/// name. The template only appears under its final name once fully migrated, so a run killed
/// half-way leaves nothing that a later run would mistake for a good template.
async fn build_template(admin_url: String) -> Result<String, String> {
    let template = format!("ecommerce_test_template_{}", env!("ADAPTERS_MIGRATIONS_HASH"));
    let mut admin = connect(&admin_url).await?;
    let fail = |doing: &str, err: &dyn std::fmt::Display| format!("{doing} for tests failed: {err}");
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .map_err(|err| fail("locking the template database", &err))?;
    let exists = diesel::sql_query("SELECT 1 AS found FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&template)
        .execute(&mut admin)
        .await
        .map_err(|err| fail("looking up the template database", &err))?
        > 0;
    if !exists {
        let building = format!("{template}_building");
        for statement in
            [format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"), format!("CREATE DATABASE \"{building}\"")]
        {
            diesel::sql_query(statement)
                .execute(&mut admin)
                .await
                .map_err(|err| fail("creating the template database", &err))?;
        }
        run_migrations(&with_database(&admin_url, &building))
            .await
            .map_err(|err| fail("migrating the template database", &format!("{err:#}")))?;
        diesel::sql_query(format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""))
            .execute(&mut admin)
            .await
            .map_err(|err| fail("naming the template database", &err))?;
    }
    // Closing the session releases the lock as well; this just lets waiters go sooner.
    let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await;
    Ok(template)
}

/// `url` with its database name replaced by `database`, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_database_name_of_a_url_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t"), "postgres://u@h:5432/t");
        assert_eq!(with_database("postgres://u@h/postgres?sslmode=disable", "t"), "postgres://u@h/t?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "t"), "postgresql://h/t");
    }
}
