//! The HTTP surfaces of the store and the composition root of the `ecommerce-api` binary.

pub mod config;
pub mod deadline;
pub mod drain;
pub mod errors;
pub mod extract;
pub mod healthcheck;
pub mod ids;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod money;
pub mod pagination;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
