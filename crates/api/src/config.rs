//! Typed, layered configuration: the compiled-in defaults, then `default.toml` and
//! `{APP_ENV}.toml` from the configuration directory when present, then `DATABASE_URL`, then
//! `APP__SECTION__KEY` environment variables.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `config/default.toml`, compiled in so that the binary starts from any directory.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Every setting of the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// The HTTP listener.
    pub server: ServerSettings,
    /// Which storage backs the ports.
    pub storage: StorageSettings,
    /// PostgreSQL, when `storage.backend = "postgres"`.
    pub database: DatabaseSettings,
    /// The manager surface's rate limit.
    pub rate_limit: RateLimitSettings,
    /// The product query cache.
    pub cache: CacheSettings,
    /// Logging.
    pub log: LogSettings,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long SIGTERM waits for in-flight requests, in seconds.
    pub shutdown_timeout_seconds: u64,
    /// The request deadline, in seconds (fractions allowed): a request still running after it
    /// answers 503 with `Retry-After`, whatever the database is doing.
    pub request_timeout: f64,
    /// After SIGTERM, how long the listener stays open with `/ready` at 503 and every response
    /// closing its connection, before in-flight requests drain; in seconds.
    pub drain_seconds: f64,
}

impl ServerSettings {
    /// `request_timeout` as a duration.
    pub fn request_deadline(&self) -> Duration {
        Duration::try_from_secs_f64(self.request_timeout).unwrap_or(Duration::from_secs(10))
    }

    /// `drain_seconds` as a duration.
    pub fn drain_period(&self) -> Duration {
        Duration::try_from_secs_f64(self.drain_seconds).unwrap_or_default()
    }
}

/// Which adapter implements the ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Process-local, nothing to install.
    Memory,
    /// PostgreSQL at `database.url`.
    Postgres,
}

/// Storage choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageSettings {
    /// `memory` or `postgres`.
    pub backend: Backend,
}

/// PostgreSQL connection pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL.
    pub url: String,
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// How long a request waits for a free connection before answering 503, in ms.
    pub acquire_timeout_ms: u64,
    /// How long opening a connection may take, in ms.
    pub connect_timeout_ms: u64,
    /// Longest a single statement may run, in ms.
    pub statement_timeout_ms: u64,
}

/// Requests allowed per manager per window on `/api`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitSettings {
    /// Requests per window.
    pub requests: u32,
    /// Window length in seconds.
    pub window_seconds: u32,
}

/// Product query cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheSettings {
    /// Longest an entry lives, in seconds; 0 turns the cache off.
    pub ttl_seconds: u64,
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSettings {
    /// `RUST_LOG`-style filter used when `RUST_LOG` is not set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

impl DatabaseSettings {
    /// The adapter's pool settings.
    pub fn pool(&self) -> adapters::postgres::PoolSettings {
        adapters::postgres::PoolSettings {
            url: self.url.clone(),
            pool_size: self.pool_size,
            wait_timeout: Duration::from_millis(self.acquire_timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
        }
    }
}

/// A configuration problem, worded as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads the layers from `dir` and the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key that is missing or has a bad value.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(dir, &env)
    }

    /// Loads the layers from `dir` and the given environment (for tests).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key that is missing or has a bad value.
    pub fn load_from(dir: &Path, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let app_env = var("APP_ENV").unwrap_or_else(|| "local".to_owned());
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join(format!("{app_env}.toml"))).required(false));
        // Overrides outrank every source, so DATABASE_URL only applies when APP__DATABASE__URL,
        // which must win, is absent.
        if let Some(url) = var("DATABASE_URL").filter(|_| var("APP__DATABASE__URL").is_none()) {
            builder = builder.set_override("database.url", url).map_err(|e| ConfigError(e.to_string()))?;
        }
        let app_vars: config::Map<String, String> =
            env.iter().filter(|(k, _)| k.starts_with("APP__")).cloned().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(app_vars)),
        );
        let settings: Settings = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError(e.to_string().replace("\n", " ")))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The settings as pretty JSON, with the password in `database.url` masked: what
    /// `ecommerce-api config` prints.
    ///
    /// # Errors
    /// Only if serialisation fails, which these plain types do not.
    pub fn redacted_json(&self) -> Result<String, serde_json::Error> {
        let mut shown = self.clone();
        shown.database.url = adapters::postgres::redact_password(&shown.database.url);
        serde_json::to_string_pretty(&shown)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.server.host.trim().is_empty() {
            return bad("server.host", "must not be empty");
        }
        if !(self.server.request_timeout.is_finite() && self.server.request_timeout > 0.0) {
            return bad("server.request_timeout", "must be a number of seconds above 0");
        }
        if !(self.server.drain_seconds.is_finite() && self.server.drain_seconds >= 0.0) {
            return bad("server.drain_seconds", "must be a number of seconds, 0 or more");
        }
        if self.server.max_body_bytes == 0 {
            return bad("server.max_body_bytes", "must be at least 1");
        }
        if self.database.pool_size == 0 {
            return bad("database.pool_size", "must be at least 1");
        }
        if self.storage.backend == Backend::Postgres && !self.database.url.starts_with("postgres") {
            return bad("database.url", "must be a postgres:// or postgresql:// URL");
        }
        if self.rate_limit.requests == 0 {
            return bad("rate_limit.requests", "must be at least 1");
        }
        if self.rate_limit.window_seconds == 0 {
            return bad("rate_limit.window_seconds", "must be at least 1");
        }
        for (key, ms) in [
            ("database.acquire_timeout_ms", self.database.acquire_timeout_ms),
            ("database.connect_timeout_ms", self.database.connect_timeout_ms),
            ("database.statement_timeout_ms", self.database.statement_timeout_ms),
        ] {
            if ms == 0 {
                return bad(key, "must be at least 1");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::load_from(&dir(), &env)
    }

    #[test]
    fn defaults_serve_the_memory_store_on_localhost_8080() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.storage.backend, Backend::Memory);
        assert_eq!(settings.rate_limit.requests, 100);
        assert_eq!(settings.rate_limit.window_seconds, 3600);
        assert_eq!(settings.server.request_deadline(), Duration::from_secs(10));
    }

    #[test]
    fn the_request_deadline_takes_fractions_of_seconds_and_refuses_zero() {
        let settings = load(&[("APP__SERVER__REQUEST_TIMEOUT", "0.5")]).unwrap();
        assert_eq!(settings.server.request_deadline(), Duration::from_millis(500));
        let err = load(&[("APP__SERVER__REQUEST_TIMEOUT", "0")]).unwrap_err().to_string();
        assert!(err.contains("server.request_timeout"), "{err}");
    }

    #[test]
    fn environment_variables_override_files() {
        let settings = load(&[
            ("APP__SERVER__PORT", "9000"),
            ("APP__STORAGE__BACKEND", "postgres"),
            ("DATABASE_URL", "postgres://x/y"),
        ])
        .unwrap();
        assert_eq!(settings.server.port, 9000);
        assert_eq!(settings.storage.backend, Backend::Postgres);
        assert_eq!(settings.database.url, "postgres://x/y");
    }

    #[test]
    fn app_database_url_wins_over_database_url() {
        let settings = load(&[("DATABASE_URL", "postgres://a/b"), ("APP__DATABASE__URL", "postgres://c/d")]).unwrap();
        assert_eq!(settings.database.url, "postgres://c/d");
    }

    #[test]
    fn a_directory_without_configuration_files_gives_the_compiled_in_defaults() {
        let empty = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-config-directory");
        let settings = Settings::load_from(&empty, &[("APP_ENV".to_owned(), "production".to_owned())]).unwrap();
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.log.format, LogFormat::Text);
    }

    #[test]
    fn files_in_the_directory_override_the_compiled_in_defaults() {
        let settings = load(&[("APP_ENV", "production")]).unwrap();
        assert_eq!(settings.server.host, "0.0.0.0");
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn the_printed_settings_never_show_the_password() {
        let settings =
            load(&[("APP__DATABASE__URL", "postgres://app:s3cret@db:5432/shop?password=s3cret&sslmode=require")])
                .unwrap();
        let printed = settings.redacted_json().unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");
        let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(value["database"]["url"], "postgres://app:***@db:5432/shop?password=***&sslmode=require");
        assert_eq!(value["storage"]["backend"], "memory");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = load(&[("APP__SERVER__PORT", "eighty")]).unwrap_err().to_string();
        assert!(err.contains("server.port"), "{err}");
        let err = load(&[("APP__STORAGE__BACKEND", "mongo")]).unwrap_err().to_string();
        assert!(err.contains("storage.backend"), "{err}");
        let err = load(&[("APP__DATABASE__POOL_SIZE", "0")]).unwrap_err().to_string();
        assert!(err.contains("database.pool_size"), "{err}");
        assert!(!err.contains('\n'));
    }
}
