//! `ecommerce-api`: `serve` (default), `migrate`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use api::config::Settings;
use api::startup::Application;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ecommerce-api", version, about = "Catalogue, inventory and orders of a store, over HTTP")]
struct Cli {
    /// Folder holding default.toml and {APP_ENV}.toml.
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let backend = format!("{:?}", settings.storage.backend).to_lowercase();
    let app = Application::build(settings.clone()).await?;
    tracing::info!(host = %settings.server.host, port = app.port(), backend, "listening");
    app.run_until_stopped().await.context("serving HTTP")
}
