//! Driven adapters: the domain's ports implemented over PostgreSQL and in memory.

pub mod cache;
pub mod memory;
pub mod postgres;
#[cfg(feature = "testing")]
pub mod testing;
