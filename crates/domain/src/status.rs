//! Where an order is in its life, and which moves between statuses are allowed.

use std::fmt;
use std::str::FromStr;

use crate::validation::InvalidValue;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, stock reserved, not yet fulfilled.
    Pending,
    /// Fulfilled.
    Completed,
    /// Withdrawn; its stock went back to the shelves.
    Cancelled,
}

impl OrderStatus {
    /// The name callers and storage use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether an order may move from `self` to `to`: only a pending order moves, and only to
    /// completed or cancelled.
    pub fn can_become(self, to: OrderStatus) -> bool {
        matches!((self, to), (Self::Pending, Self::Completed | Self::Cancelled))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pending" => Ok(Self::Pending),
            "completed" => Ok(Self::Completed),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(InvalidValue::new("must be one of pending, completed, cancelled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_order_moves_and_only_forward() {
        use OrderStatus::*;
        assert!(Pending.can_become(Completed));
        assert!(Pending.can_become(Cancelled));
        for (from, to) in [(Pending, Pending), (Completed, Cancelled), (Cancelled, Completed), (Completed, Pending)] {
            assert!(!from.can_become(to), "{from} -> {to}");
        }
    }

    #[test]
    fn statuses_read_back_what_they_print() {
        for status in [OrderStatus::Pending, OrderStatus::Completed, OrderStatus::Cancelled] {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!("shipped".parse::<OrderStatus>().is_err());
    }
}
