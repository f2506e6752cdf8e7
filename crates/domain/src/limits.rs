//! Rate limiting: fixed windows aligned to the epoch, counted per key.

use chrono::{DateTime, TimeDelta, Utc};

use crate::validation::InvalidValue;

/// How many requests a key may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    requests: u32,
    window_seconds: u32,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_seconds: u32,
}

impl RateLimit {
    /// A limit of `requests` per `window_seconds`.
    ///
    /// # Errors
    /// When either is zero.
    pub fn new(requests: u32, window_seconds: u32) -> Result<Self, InvalidValue> {
        if requests == 0 || window_seconds == 0 {
            return Err(InvalidValue::new("requests and window must be at least 1"));
        }
        Ok(Self { requests, window_seconds })
    }

    /// The start of the window holding `now`. Windows are aligned to the Unix epoch, so every
    /// process sharing a store agrees on them.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let window = i64::from(self.window_seconds);
        let start = now.timestamp().div_euclid(window) * window;
        DateTime::from_timestamp(start, 0).unwrap_or(now)
    }

    /// The window length.
    pub fn window(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.window_seconds))
    }

    /// The verdict for the `count`-th request (counting this one) of the window holding `now`.
    pub fn decide(&self, count: u32, now: DateTime<Utc>) -> RateDecision {
        let ends = self.window_start(now) + self.window();
        let reset = (ends - now).num_milliseconds().max(0);
        RateDecision {
            allowed: count <= self.requests,
            limit: self.requests,
            remaining: self.requests.saturating_sub(count),
            reset_seconds: u32::try_from((reset + 999) / 1000).unwrap_or(self.window_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let limit = RateLimit::new(100, 3600).unwrap();
        assert_eq!(limit.window_start(at(7200 + 59)), at(7200));
        assert_eq!(limit.window_start(at(7199)), at(3600));
    }

    #[test]
    fn the_hundred_and_first_request_is_refused() {
        let limit = RateLimit::new(100, 3600).unwrap();
        let first = limit.decide(1, at(3600));
        assert_eq!((first.allowed, first.remaining, first.reset_seconds), (true, 99, 3600));
        let last = limit.decide(100, at(3600 + 1800));
        assert_eq!((last.allowed, last.remaining, last.reset_seconds), (true, 0, 1800));
        assert!(!limit.decide(101, at(3600 + 1800)).allowed);
    }

    #[test]
    fn a_zero_limit_is_refused() {
        assert!(RateLimit::new(0, 10).is_err());
        assert!(RateLimit::new(10, 0).is_err());
    }
}
