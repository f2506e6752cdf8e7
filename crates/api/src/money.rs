//! Money on the wire: a JSON number with at most two decimals, read and written from its exact
//! decimal text, never through a float.

use domain::Money;
use serde::Serialize;

/// Money as a JSON number with at most two decimals (`44.97`), written from its exact text.
#[derive(Debug, Clone, Copy)]
pub struct MoneyJson(pub Money);

impl Serialize for MoneyJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let number: serde_json::Number = self.0.to_plain_decimal().parse().map_err(serde::ser::Error::custom)?;
        number.serialize(serializer)
    }
}

/// Reads a JSON number as exact money.
///
/// # Errors
/// The domain's message when the number is negative or has more than two decimals.
pub fn parse_price(number: &serde_json::Number) -> Result<Money, domain::InvalidValue> {
    number.to_string().parse::<Money>().and_then(Money::check_price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_as_an_exact_json_number() {
        let total = Money::from_cents(4497).unwrap();
        assert_eq!(serde_json::to_string(&MoneyJson(total)).unwrap(), "44.97");
        assert_eq!(serde_json::to_string(&MoneyJson(Money::from_cents(1000).unwrap())).unwrap(), "10.0");
    }

    #[test]
    fn money_is_read_from_the_literal_without_floats() {
        let n: serde_json::Number = serde_json::from_str("15.99").unwrap();
        assert_eq!(parse_price(&n).unwrap().cents(), 1599);
        let n: serde_json::Number = serde_json::from_str("15.999").unwrap();
        assert!(parse_price(&n).is_err());
        let n: serde_json::Number = serde_json::from_str("1000000000.01").unwrap();
        assert!(parse_price(&n).is_err());
    }
}
