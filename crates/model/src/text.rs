//! Validated scalar types: free text, identifiers, keys, URLs, hashes and amounts, each refusing
//! bad input when it is deserialized so that no invalid value reaches the log.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest free text a field may hold, in characters. A report line is one sentence; this
/// leaves room for a long paragraph while keeping a hostile input from filling the log.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// The longest identifier (wave, matter, figure, role, stream), in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// The longest idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// The longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2_000;
/// The most items in any list inside an event.
pub const MAX_LIST_ITEMS: usize = 200;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                $check(&value)?;
                Ok($name(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                $name::new(value).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                $name::new(value)
            }
        }
    };
}

fn check_text(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("the text is empty".into());
    }
    let chars = value.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "the text is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(format!(
            "the text contains the control character U+{:04X}",
            u32::from(bad)
        ));
    }
    Ok(())
}

fn check_slug(value: &str, max: usize, extra: &[u8]) -> Result<(), String> {
    if value.is_empty() {
        return Err("the identifier is empty".into());
    }
    if value.len() > max {
        return Err(format!(
            "the identifier is {} bytes long; at most {max} are allowed",
            value.len()
        ));
    }
    let bytes = value.as_bytes();
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || extra.contains(&b);
    if !(bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        || !bytes.iter().all(|b| allowed(*b))
    {
        let allowed_text = if extra.is_empty() {
            "a-z, 0-9 and -"
        } else {
            "a-z, 0-9, -, . and _"
        };
        return Err(format!(
            "{value:?} is not an identifier: use {allowed_text}, starting with a letter or digit"
        ));
    }
    Ok(())
}

fn check_id(value: &str) -> Result<(), String> {
    check_slug(value, MAX_ID_BYTES, &[])
}

fn check_key(value: &str) -> Result<(), String> {
    check_slug(value, MAX_KEY_BYTES, b"._")
}

fn check_url(value: &str) -> Result<(), String> {
    if value.len() > MAX_URL_BYTES {
        return Err(format!("the URL is longer than {MAX_URL_BYTES} bytes"));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| format!("{value:?} is not a URL: it must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{value:?} is not a URL: the host is missing"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
    {
        return Err(format!(
            "{value:?} is not a URL: it contains a space, a quote, an angle bracket or a control character"
        ));
    }
    Ok(())
}

fn check_hash(value: &str) -> Result<(), String> {
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{value:?} is not a SHA-256 digest in 64 lowercase hex digits"
        ));
    }
    Ok(())
}

string_newtype!(
    /// Free text: not blank, at most [`MAX_TEXT_CHARS`] characters, no control characters but
    /// newline and tab.
    Text,
    check_text
);
string_newtype!(
    /// A stable identifier such as a wave, matter, figure, role or stream id.
    Id,
    check_id
);
string_newtype!(
    /// An idempotency key, unique in the log.
    EventKey,
    check_key
);
string_newtype!(
    /// An `http(s)://` address.
    Url,
    check_url
);
string_newtype!(
    /// A SHA-256 digest in lowercase hex.
    HashHex,
    check_hash
);

/// A stream name; `program` unless the event says otherwise.
pub type StreamId = Id;

pub fn default_stream() -> StreamId {
    Id("program".to_owned())
}

/// A number as it was written (an integer stays an integer), finite and small enough to print
/// without an exponent, so that its canonical text is plain decimal.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Amount(serde_json::Number);

impl Amount {
    pub fn new(number: serde_json::Number) -> Result<Amount, String> {
        if number.is_i64() || number.is_u64() {
            let ok = number
                .as_i64()
                .is_some_and(|v| v.unsigned_abs() < 1_000_000_000_000_000);
            return if ok {
                Ok(Amount(number))
            } else {
                Err(format!(
                    "{number} is too large; at most 15 digits are allowed"
                ))
            };
        }
        let value = number.as_f64().unwrap_or(f64::NAN);
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            // 120.0 and 120 are the same amount; keep one canonical text for both.
            #[allow(clippy::cast_possible_truncation)]
            return Ok(Amount(serde_json::Number::from(value as i64)));
        }
        if !value.is_finite() || value.abs() >= 1e15 || (value != 0.0 && value.abs() < 1e-4) {
            return Err(format!(
                "{number} is out of range: use a number between 0.0001 and 10^15 in size"
            ));
        }
        Ok(Amount(number))
    }

    pub fn from_f64(value: f64) -> Result<Amount, String> {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            // Whole numbers keep the integer form people write.
            #[allow(clippy::cast_possible_truncation)]
            return Amount::new(serde_json::Number::from(value as i64));
        }
        let number = serde_json::Number::from_f64(value)
            .ok_or_else(|| format!("{value} is not a finite number"))?;
        Amount::new(number)
    }

    pub fn as_f64(&self) -> f64 {
        self.0.as_f64().unwrap_or(0.0)
    }

    pub fn number(&self) -> &serde_json::Number {
        &self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Amount::new(number).map_err(serde::de::Error::custom)
    }
}

/// Deserializes a list that must hold between one and [`MAX_LIST_ITEMS`] items.
pub fn nonempty_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<T>::deserialize(deserializer)?;
    if items.is_empty() {
        return Err(serde::de::Error::custom(
            "the list is empty; at least one item is needed",
        ));
    }
    check_list_len(items)
}

/// Deserializes an optional list of at most [`MAX_LIST_ITEMS`] items.
pub fn bounded_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    check_list_len(Vec::<T>::deserialize(deserializer)?)
}

fn check_list_len<T, E: serde::de::Error>(items: Vec<T>) -> Result<Vec<T>, E> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(E::custom(format!(
            "the list has {} items; at most {MAX_LIST_ITEMS} are allowed",
            items.len()
        )));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_blank_nul_and_overlong() {
        assert!(Text::new("  ").is_err());
        assert!(Text::new("a\0b").unwrap_err().contains("U+0000"));
        assert!(Text::new("x".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(Text::new("Rad ett\nrad två").is_ok());
    }

    #[test]
    fn ids_keys_and_urls() {
        assert!(Id::new("sodra-1").is_ok());
        assert!(Id::new("Södra").is_err());
        assert!(EventKey::new("2022-05-17-ny-tidplan").is_ok());
        assert!(EventKey::new("a.b_c").is_ok());
        assert!(Url::new("https://www.vgregion.se/x").is_ok());
        assert!(Url::new("javascript:alert(1)").is_err());
        assert!(Url::new("https://a.se/\"><script>").is_err());
    }

    #[test]
    fn amounts_keep_their_form() {
        let whole: Amount = serde_json::from_str("2100").unwrap();
        assert_eq!(whole.to_string(), "2100");
        let fraction: Amount = serde_json::from_str("3.7").unwrap();
        assert_eq!(fraction.to_string(), "3.7");
        assert!(serde_json::from_str::<Amount>("1e300").is_err());
        assert_eq!(Amount::from_f64(120.0).unwrap().to_string(), "120");
    }
}
