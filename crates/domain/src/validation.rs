//! Why a single value was refused: the narrow error every typed constructor returns, and the
//! rule shared by every name and caller-given label.

/// Why a single value was refused by a typed constructor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    /// An error with the given explanation.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Trims `text` and checks it holds 1..=`max_chars` characters: the rule of every name and
/// caller-given identifier.
///
/// # Errors
/// When the trimmed text is empty or too long.
pub(crate) fn trimmed_label(text: &str, max_chars: usize) -> Result<&str, InvalidValue> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InvalidValue::new("must not be blank"));
    }
    if text.chars().count() > max_chars {
        return Err(InvalidValue::new(format!("must be at most {max_chars} characters")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(trimmed_label("  a ", 3).unwrap(), "a");
        assert!(trimmed_label("   ", 3).is_err());
        assert!(trimmed_label("abcd", 3).is_err());
    }
}
