//! Exact money: integer cents, parsed from and printed as decimal text.

use std::fmt;
use std::str::FromStr;

use crate::validation::InvalidValue;

/// A non-negative amount of money held as integer cents; never a binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// The largest price a product may have: 1,000,000,000.00.
    pub const MAX_PRICE: Money = Money(100_000_000_000);
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// Money from a count of cents.
    ///
    /// # Errors
    /// When `cents` is negative.
    pub fn from_cents(cents: i64) -> Result<Self, InvalidValue> {
        if cents < 0 {
            return Err(InvalidValue::new("must not be negative"));
        }
        Ok(Self(cents))
    }

    /// Checks that the amount may be a product's price: at most [`Money::MAX_PRICE`].
    ///
    /// # Errors
    /// When the amount exceeds the largest price.
    pub fn check_price(self) -> Result<Self, InvalidValue> {
        if self > Self::MAX_PRICE {
            return Err(InvalidValue::new("must be at most 1000000000"));
        }
        Ok(self)
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: u32) -> Option<Self> {
        self.0.checked_mul(i64::from(quantity)).map(Self)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// The amount as the shortest decimal text that keeps it exact: `15.99`, `15.9`, `100.0`.
    pub fn to_plain_decimal(self) -> String {
        let (units, cents) = (self.0 / 100, self.0 % 100);
        match cents {
            0 => format!("{units}.0"),
            c if c % 10 == 0 => format!("{units}.{}", c / 10),
            c => format!("{units}.{c:02}"),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl FromStr for Money {
    type Err = InvalidValue;

    /// Parses decimal text such as `15.99`, `7`, `1.5e1` exactly. More than two decimal places
    /// (after dropping trailing zeros) are refused, never rounded.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidValue::new("must be a number with at most 2 decimal places");
        let text = text.trim();
        if text.starts_with('-') {
            return Err(InvalidValue::new("must not be negative"));
        }
        let text = text.strip_prefix('+').unwrap_or(text);
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => {
                let exp: i32 = text[at + 1..].parse().map_err(|_| invalid())?;
                (&text[..at], exp)
            }
            None => (text, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        // The number is digits * 10^(exponent - fraction.len()); normalise to cents.
        let mut digits: String = format!("{whole}{fraction}");
        let mut scale = i64::from(exponent) - fraction.len() as i64 + 2;
        while scale < 0 {
            match digits.strip_suffix('0') {
                Some(rest) => digits.truncate(rest.len()),
                None if digits.bytes().all(|b| b == b'0') => break,
                None => {
                    return Err(InvalidValue::new("must have at most 2 decimal places"));
                }
            }
            scale += 1;
        }
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Self::ZERO);
        }
        // Anything longer cannot be a valid price and would overflow.
        if digits.len() as i64 + scale.max(0) > 15 {
            return Err(InvalidValue::new("must be at most 1000000000"));
        }
        let mut cents: i64 = digits.parse().map_err(|_| invalid())?;
        for _ in 0..scale.max(0) {
            cents *= 10;
        }
        Ok(Self(cents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<i64, InvalidValue> {
        text.parse::<Money>().map(Money::cents)
    }

    #[test]
    fn parses_plain_decimals_exactly() {
        assert_eq!(parse("15.99"), Ok(1599));
        assert_eq!(parse("12.9"), Ok(1290));
        assert_eq!(parse("7"), Ok(700));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0.01"), Ok(1));
        assert_eq!(parse("1000000000"), Ok(100_000_000_000));
    }

    #[test]
    fn accepts_exponents_and_trailing_zeros_that_keep_two_decimals() {
        assert_eq!(parse("1.5e1"), Ok(1500));
        assert_eq!(parse("1599E-2"), Ok(1599));
        assert_eq!(parse("15.990"), Ok(1599));
        assert_eq!(parse("0.000"), Ok(0));
    }

    #[test]
    fn refuses_more_than_two_decimals_instead_of_rounding() {
        assert!(parse("15.999").is_err());
        assert!(parse("0.001").is_err());
        assert!(parse("1e-3").is_err());
    }

    #[test]
    fn refuses_negative_and_malformed_text() {
        for bad in ["-1", "-0.5", "", ".", "abc", "1.2.3", "1e", "NaN", "1,5"] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn refuses_amounts_that_would_overflow() {
        assert!(parse("99999999999999999999").is_err());
        assert!(parse("1e30").is_err());
    }

    #[test]
    fn price_is_capped_at_one_billion() {
        assert!(Money::from_cents(100_000_000_000).and_then(Money::check_price).is_ok());
        assert!(Money::from_cents(100_000_000_001).and_then(Money::check_price).is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let a: Money = "15.99".parse().unwrap();
        let b: Money = "12.99".parse().unwrap();
        let total = a.checked_mul(2).and_then(|x| x.checked_add(b)).unwrap();
        assert_eq!(total.cents(), 4497);
        assert_eq!(total.to_plain_decimal(), "44.97");
        assert_eq!(total.to_string(), "44.97");
    }

    #[test]
    fn prints_the_shortest_exact_decimal_with_at_most_two_places() {
        assert_eq!(Money::from_cents(10000).unwrap().to_plain_decimal(), "100.0");
        assert_eq!(Money::from_cents(1290).unwrap().to_plain_decimal(), "12.9");
        assert_eq!(Money::from_cents(5).unwrap().to_plain_decimal(), "0.05");
        assert_eq!(Money::from_cents(0).unwrap().to_plain_decimal(), "0.0");
    }
}
