//! What only PostgreSQL has to prove, against a real server, each test in a database of its
//! own: its migrations, how it fails and recovers, the change feed that keeps several processes'
//! caches honest, what several processes sharing one database see, and TLS as libpq's sslmode
//! means it. Everything a storage adapter promises is specified once, in `contract.rs`, and run
//! against PostgreSQL there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failure_modes;
mod listener;
mod listings;
mod migrations;
mod orders_agree;
mod sharing;
mod support;
mod tls;
