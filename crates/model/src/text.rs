//! Validated scalar types: free text, identifiers, keys, URLs, hashes and amounts, each refusing
//! bad input when it is deserialized so that no invalid value reaches the log. The one exception
//! is content the store already holds, read through [`crate::stored::Stored`] (each type's
//! `from_stored`): it passed these checks before it was appended and the hash chain covers it,
//! so there they are not repeated. Which checks apply is always said in a signature: [`Rules`]
//! (`new_under`, `event_from_value_under`), never a flag of the thread.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

// The limits. Each is defined here once; the command line (import, append, the staff
// commands), the web app (forms and API) and restore all reach it through the same checks, so
// the same input is refused with the same message everywhere.

/// The longest line an import reads, in bytes, and the longest one event may be as JSON. An
/// event is a sentence and some data; a megabyte is far beyond any honest event and keeps a
/// hostile file from exhausting memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The deepest nesting of objects and arrays an event may have. The deepest honest event, a
/// correction of a plan (event → data → data → waves → a wave), nests five levels; sixteen
/// leaves room for new kinds while a hostile line cannot make a reader recurse deeply.
pub const MAX_JSON_DEPTH: usize = 16;
/// The longest summary, in characters: one sentence as a report prints it (`events/README.md`).
pub const MAX_SUMMARY_CHARS: usize = 2_000;
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
            /// Checked by the rules for new input.
            pub fn new(value: impl Into<String>) -> Result<Self, String> {
                $name::new_under(value, Rules::NewInput)
            }
            /// Checked by `rules`: [`Rules::Stored`] for content already in a log.
            pub fn new_under(value: impl Into<String>, rules: Rules) -> Result<Self, String> {
                let value = value.into();
                $check(&value, rules)?;
                Ok($name(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The text, moved out.
            pub fn into_string(self) -> String {
                self.0
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

        impl $name {
            /// Text read from content the store holds, taken without the checks of
            /// [`Self::new`]: only [`crate::stored::Stored`] reaches this (see there why that
            /// is sound).
            pub(crate) fn from_stored(value: String) -> Self {
                $name(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::stored::scalar(deserializer)
            }
        }

        impl crate::stored::StoredScalar for $name {
            const EXPECTING: &'static str = "a string";
            fn deserialize_checked<'de, D: Deserializer<'de>>(
                deserializer: D,
                rules: Rules,
            ) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                $name::new_under(value, rules).map_err(serde::de::Error::custom)
            }
            fn from_stored<'de, A: serde::de::VariantAccess<'de>>(
                plain: A,
            ) -> Result<Self, A::Error> {
                plain.newtype_variant::<String>().map($name::from_stored)
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

/// Why a line (or one event as JSON) is too long: the one message for it everywhere.
pub fn line_too_long() -> String {
    format!("the line is longer than {MAX_LINE_BYTES} bytes")
}

/// A summary: free text of at most [`MAX_SUMMARY_CHARS`] characters. Checked before the
/// general text limit so that every overlong summary gets this one message.
pub fn check_summary(value: &str) -> Result<(), String> {
    check_summary_under(value, Rules::NewInput)
}

/// [`check_summary`] by `rules`.
pub fn check_summary_under(value: &str, rules: Rules) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        return Err(format!(
            "the summary is {chars} characters long; at most {MAX_SUMMARY_CHARS} are allowed"
        ));
    }
    check_text(value, rules)
}

/// Deserializes an event's summary ([`check_summary`]).
pub fn summary<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
    crate::stored::scalar(deserializer).map(|Summary(text)| text)
}

/// A summary as it is deserialized: its own length limit, then the checks of any text.
struct Summary(Text);

impl crate::stored::StoredScalar for Summary {
    const EXPECTING: &'static str = "a string";
    fn deserialize_checked<'de, D: Deserializer<'de>>(
        deserializer: D,
        rules: Rules,
    ) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        check_summary_under(&value, rules).map_err(serde::de::Error::custom)?;
        Ok(Summary(Text(value)))
    }
    fn from_stored<'de, A: serde::de::VariantAccess<'de>>(plain: A) -> Result<Self, A::Error> {
        <Text as crate::stored::StoredScalar>::from_stored(plain).map(Summary)
    }
}

/// Deserializes an optional summary (a correction's new one).
pub fn optional_summary<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Text>, D::Error> {
    summary(deserializer).map(Some)
}

/// The rules a value is checked by. Content already in a log (`verify`, `restore`, reading a
/// correction's target) is checked by every rule events have always had, but not by those added
/// later for new input only, so that a log written before them still verifies and restores. The
/// rules for new input only: no bidirectional control characters and no noncharacters in text,
/// no negative amount where an amount cannot be negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// Every check: what import, append, the forms and the API apply.
    NewInput,
    /// The checks content in a log was appended under.
    Stored,
}

impl Rules {
    fn new_input(self) -> bool {
        self == Rules::NewInput
    }
}

/// The bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
/// In a summary or a title they can make text read otherwise than it is stored ("Trojan
/// Source"); no honest Swedish text needs them, so new input with them is refused rather than
/// silently altered.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_bidi(value: &str, rules: Rules) -> Result<(), String> {
    match value.chars().find(|c| is_bidi_control(*c)) {
        Some(bad) if rules.new_input() => Err(format!(
            "the text contains the bidirectional control character U+{:04X}, which can make it \
             display otherwise than it is stored; remove it",
            u32::from(bad)
        )),
        _ => Ok(()),
    }
}

fn check_text(value: &str, rules: Rules) -> Result<(), String> {
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
    check_noncharacter(value, rules)?;
    check_bidi(value, rules)
}

/// The Unicode noncharacters: U+FDD0–U+FDEF and the last two code points of every plane. They
/// are never text; U+FFFE and U+FFFF are not even allowed in XML, and one of them in a note
/// would make every reader reject the Atom feed.
pub fn is_noncharacter(c: char) -> bool {
    matches!(u32::from(c), 0xFDD0..=0xFDEF) || u32::from(c) & 0xFFFE == 0xFFFE
}

/// New input with a noncharacter is refused; a stored one reads as it was hashed.
fn check_noncharacter(value: &str, rules: Rules) -> Result<(), String> {
    match value.chars().find(|c| is_noncharacter(*c)) {
        Some(bad) if rules.new_input() => Err(format!(
            "the text contains U+{:04X}, which is not a character; remove it",
            u32::from(bad)
        )),
        _ => Ok(()),
    }
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

fn check_id(value: &str, _rules: Rules) -> Result<(), String> {
    check_slug(value, MAX_ID_BYTES, &[])
}

fn check_key(value: &str, _rules: Rules) -> Result<(), String> {
    check_slug(value, MAX_KEY_BYTES, b"._")?;
    // `show 42` means event 42; a key of digits alone could never be looked up by name.
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{value:?} is not a key: a key of digits alone would read as a sequence number"
        ));
    }
    Ok(())
}

fn check_url(value: &str, rules: Rules) -> Result<(), String> {
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
    check_bidi(value, rules)
}

fn check_hash(value: &str, _rules: Rules) -> Result<(), String> {
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

/// The most significant digits a fraction may have. The log stores a fraction as its shortest
/// decimal text and `verify` parses that text again; serde_json's default parser reads every
/// decimal of up to 15 significant digits back to exactly the same double (the digits fit in
/// the 53-bit mantissa and one correctly rounded division by an exact power of ten follows), but
/// not always one of 16 or 17 (it rounds twice), and then the event would read back changed.
pub const MAX_SIGNIFICANT_DIGITS: usize = 15;

/// A number as it was written (an integer stays an integer), finite and small enough to print
/// without an exponent, so that its canonical text is plain decimal; a fraction has at most
/// [`MAX_SIGNIFICANT_DIGITS`] significant digits, so that its text reads back exactly.
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
        let digits = significant_digits(&number.to_string());
        if digits > MAX_SIGNIFICANT_DIGITS {
            return Err(format!(
                "{number} has {digits} significant digits; at most {MAX_SIGNIFICANT_DIGITS} are kept exactly"
            ));
        }
        Ok(Amount(number))
    }

    /// An amount computed by the program, rounded to [`MAX_SIGNIFICANT_DIGITS`] significant
    /// digits so that it can be stored exactly.
    pub fn from_f64(value: f64) -> Result<Amount, String> {
        let value = if value.is_finite() {
            format!("{value:.*e}", MAX_SIGNIFICANT_DIGITS - 1)
                .parse::<f64>()
                .unwrap_or(value)
        } else {
            value
        };
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
        crate::stored::scalar(deserializer)
    }
}

impl crate::stored::StoredScalar for Amount {
    const EXPECTING: &'static str = "a number";
    fn deserialize_checked<'de, D: Deserializer<'de>>(
        deserializer: D,
        _rules: Rules,
    ) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Amount::new(number).map_err(serde::de::Error::custom)
    }
    /// Stored in the canonical form [`Amount::new`] gave it; only [`crate::stored::Stored`]
    /// reaches this.
    fn from_stored<'de, A: serde::de::VariantAccess<'de>>(plain: A) -> Result<Self, A::Error> {
        plain.newtype_variant::<serde_json::Number>().map(Amount)
    }
}

/// Deserializes an amount that cannot be negative (a contract value, a budget, a claim, a
/// cost cap). New input below zero is refused; a stored one reads as it is ([`Rules::Stored`]).
pub fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
    crate::stored::scalar(deserializer).map(|NonNegative(amount)| amount)
}

/// An amount that cannot be negative, as it is deserialized.
struct NonNegative(Amount);

impl crate::stored::StoredScalar for NonNegative {
    const EXPECTING: &'static str = "a number";
    fn deserialize_checked<'de, D: Deserializer<'de>>(
        deserializer: D,
        rules: Rules,
    ) -> Result<Self, D::Error> {
        let amount =
            <Amount as crate::stored::StoredScalar>::deserialize_checked(deserializer, rules)?;
        if rules.new_input() && amount.as_f64() < 0.0 {
            return Err(serde::de::Error::custom(format!(
                "{amount} is negative; this amount cannot be below zero"
            )));
        }
        Ok(NonNegative(amount))
    }
    fn from_stored<'de, A: serde::de::VariantAccess<'de>>(plain: A) -> Result<Self, A::Error> {
        <Amount as crate::stored::StoredScalar>::from_stored(plain).map(NonNegative)
    }
}

/// [`non_negative`] for an optional amount.
pub fn optional_non_negative<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Amount>, D::Error> {
    non_negative(deserializer).map(Some)
}

/// The significant digits of a number in plain decimal form (`-0.00120` has 2). Exponent forms
/// never reach here: [`Amount::new`] refuses the ranges that print with one.
fn significant_digits(text: &str) -> usize {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
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

    /// Regression: a summary of 2,001 to 4,000 characters was refused as "at most 2000", a
    /// longer one as "at most 4000"; now every overlong summary gets the summary's message.
    #[test]
    fn every_overlong_summary_gets_the_same_message() {
        for chars in [
            MAX_SUMMARY_CHARS + 1,
            MAX_TEXT_CHARS,
            MAX_TEXT_CHARS + 1,
            10_000,
        ] {
            let error = check_summary(&"å".repeat(chars)).unwrap_err();
            assert_eq!(
                error,
                format!("the summary is {chars} characters long; at most 2000 are allowed")
            );
        }
        assert!(check_summary(&"å".repeat(MAX_SUMMARY_CHARS)).is_ok());
    }

    #[test]
    fn bidirectional_controls_are_refused_in_new_text_but_read_in_stored() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}',
        ] {
            let text = format!("Avtalet {c}gillbbadu");
            let error = Text::new(text.clone()).unwrap_err();
            assert!(
                error.contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
            assert!(
                Text::new_under(text.clone(), Rules::Stored).is_ok(),
                "stored text reads"
            );
            let url = format!("https://a.se/{c}x");
            assert!(Url::new(url.clone()).is_err());
            assert!(Url::new_under(url.clone(), Rules::Stored).is_ok());
        }
        // The marks that are not controls (LRM, RLM) and ordinary right-to-left text pass.
        assert!(Text::new("\u{200F}שלום and مرحبا").is_ok());
        assert!(Text::new("x\u{202E}").is_err());
    }

    #[test]
    fn noncharacters_are_refused_in_new_text_but_read_in_stored() {
        for c in [
            '\u{FFFF}',
            '\u{FFFE}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{1FFFF}',
            '\u{10FFFE}',
        ] {
            let text = format!("Avtalet {c} gäller");
            let error = Text::new(text.clone()).unwrap_err();
            assert!(
                error.contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
            assert!(Text::new_under(text.clone(), Rules::Stored).is_ok());
        }
        // Their neighbours are characters.
        assert!(Text::new("\u{FFFD} \u{FDCF} \u{FDF0} \u{1FFFD}").is_ok());
    }

    #[test]
    fn amounts_that_cannot_be_negative_refuse_it_in_new_input_only() {
        #[derive(serde::Deserialize)]
        struct Contract {
            #[serde(deserialize_with = "non_negative")]
            value: Amount,
        }
        let error = serde_json::from_str::<Contract>(r#"{"value":-3.5}"#)
            .err()
            .expect("negative refused");
        assert!(error.to_string().contains("-3.5 is negative"), "{error}");
        let zero: Contract = serde_json::from_str(r#"{"value":0}"#).expect("zero is fine");
        assert_eq!(zero.value.to_string(), "0");
        let stored = <Contract as Deserialize>::deserialize(crate::stored::Stored::rechecked(
            serde_json::json!({"value": -3.5}),
        ))
        .expect("a stored one reads");
        assert_eq!(stored.value.to_string(), "-3.5");
    }

    #[test]
    fn ids_keys_and_urls() {
        assert!(Id::new("sodra-1").is_ok());
        assert!(Id::new("Södra").is_err());
        assert!(EventKey::new("2022-05-17-ny-tidplan").is_ok());
        assert!(EventKey::new("a.b_c").is_ok());
        // Regression: `show 42` reads 42 as a sequence number, so such a key could never be shown.
        assert!(EventKey::new("42").unwrap_err().contains("sequence number"));
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

    /// Regression: 1104948050673.3093 was accepted, stored as that text and read back by
    /// serde_json as 1104948050673.309, so the event read back changed and verify called the
    /// honest log edited.
    #[test]
    fn amounts_with_more_significant_digits_than_read_back_exactly_are_refused() {
        for text in [
            "1104948050673.3093",
            "0.30000000000000004",
            "394301.33845633676",
        ] {
            let error = serde_json::from_str::<Amount>(text).unwrap_err();
            assert!(error.to_string().contains("significant digits"), "{error}");
        }
        for text in ["110494805067.309", "0.000123456789012345", "-3.7", "0.0001"] {
            let amount: Amount = serde_json::from_str(text).expect(text);
            assert_eq!(amount.to_string(), text);
        }
        assert_eq!(
            Amount::from_f64(0.1 + 0.2).unwrap().to_string(),
            "0.3",
            "computed amounts are rounded to what can be kept"
        );
    }

    proptest::proptest! {
        /// Every amount the model accepts reads back from its canonical text unchanged.
        #[test]
        fn accepted_amounts_read_back_from_their_text(bits in proptest::prelude::any::<u64>(), scale in -4i32..15) {
            let value = f64::from_bits(bits);
            let value = if value.is_finite() { value.abs().fract() * 10f64.powi(scale) } else { 1.5 };
            if let Some(number) = serde_json::Number::from_f64(value)
                && let Ok(amount) = Amount::new(number)
            {
                let back: Amount = serde_json::from_str(&amount.to_string()).expect("reads back");
                proptest::prop_assert_eq!(back, amount);
            }
        }
    }
}
