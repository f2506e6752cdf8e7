//! Black-box tests of the whole service: each test starts the real application on port 0 and
//! drives it over HTTP. Every test runs against both storage backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod concurrency;
mod errors;
mod manager;
mod operations;
mod orders;
mod processes;
mod products;
mod use_cases;
