//! `ecommerce-api`: `serve` (default), `migrate`, `openapi`, `config` (the effective settings,
//! password masked) and `healthcheck` (exit 0 when the local server answers `/health`).
//! Starts from any directory: the defaults are compiled in, the configuration directory only
//! overrides them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use api::config::Settings;
use api::startup::Application;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ecommerce-api", version, about = "Catalogue, inventory and orders of a store, over HTTP")]
struct Cli {
    /// Folder whose default.toml and {APP_ENV}.toml, when present, override the compiled-in
    /// defaults.
    #[arg(long, env = "APP_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Print the effective settings as JSON, the database password masked, and exit.
    Config,
    /// Exit 0 when the local server answers `GET /health` with 200, else 1 with the reason.
    Healthcheck {
        /// Longest the whole check may take, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match api::routes::ops::openapi_json() {
            Ok(document) => {
                println!("{document}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("ecommerce-api: the OpenAPI document cannot be built: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::load(&cli.config_dir) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("ecommerce-api: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Config) => return print_config(&settings),
        Some(Command::Healthcheck { timeout_ms }) => return healthcheck(&settings, timeout_ms),
        _ => {}
    }
    // Held until exit: dropping it flushes the log lines still queued.
    let _log_writer = api::telemetry::init(&settings.log);
    let outcome = match cli.command {
        Some(Command::Migrate) => {
            adapters::postgres::run_migrations(&settings.database.url).await.context("applying database migrations")
        }
        _ => serve(settings).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "stopped");
            eprintln!("ecommerce-api: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(settings: &Settings) -> ExitCode {
    match settings.redacted_json() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ecommerce-api: printing the settings: {err}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(settings: &Settings, timeout_ms: u64) -> ExitCode {
    match api::healthcheck::probe(&settings.server, Duration::from_millis(timeout_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ecommerce-api healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let backend = format!("{:?}", settings.storage.backend).to_lowercase();
    let app = Application::build(settings.clone()).await?;
    tracing::info!(host = %settings.server.host, port = app.port(), backend, "listening");
    app.run_until_stopped().await.context("serving HTTP")
}
