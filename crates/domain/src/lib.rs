//! The store's domain: catalogue, inventory and ordering rules, independent of any transport or
//! storage. Adapters implement the [`ports`]; drivers call the [`services`].

pub mod audit;
pub mod error;
pub mod ids;
pub mod inventory;
pub mod limits;
pub mod money;
pub mod order;
pub mod page;
pub mod ports;
pub mod product;
pub mod services;
pub mod status;
pub mod validation;

pub use error::{Error, Violation};
pub use money::Money;
pub use page::{Page, PageRequest, PageStart};
pub use validation::InvalidValue;
