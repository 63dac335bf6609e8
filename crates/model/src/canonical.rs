//! The one canonical JSON writer: RFC 8785 (JCS), written straight from any serializable value
//! without building a `serde_json::Value` first. The store's append (content and envelope in one
//! pass, [`crate::trusted::content_and_envelope`]), `verify` and every other caller
//! ([`crate::canonical_json`], [`crate::envelope_json`]) go through it, so that what is hashed on
//! append is what is recomputed on verify.
//!
//! Object members are sorted by the UTF-16 code units of their keys (for the ASCII keys of
//! every event, simply by their bytes), no whitespace, strings escaped as ECMAScript's
//! `JSON.stringify` escapes them (which is what serde_json does), a key given twice keeping its
//! last value as `serde_json::to_value` does. Numbers are written as serde_json prints them,
//! which is RFC 8785's form for every number an event can hold: integers of at most 53 bits
//! and the fractions [`crate::text::Amount`] admits (at most 15 significant digits, between
//! 0.0001 and 10^15 in size; no other field is a fraction). What differs no new event holds:
//! a float with no fractional part (serde_json writes `12.0`, RFC 8785 `12`), which new input
//! turns into an integer (`event_from_value`); fractions far outside Amount's range (`1e-6`,
//! `1e+20`), which Amount refuses; and an integer beyond 2^53, which is outside the I-JSON
//! (RFC 7493) that RFC 8785 is defined on (its implementations write the nearest double), and
//! which this writer keeps exact (a sequence number or byte count never comes near one). They are kept as serde_json prints them so that a log written
//! before those input rules (a correction's `data` holding `12.0`) still verifies byte for byte. `crates/model/tests/canonical_paths.rs`
//! checks this writer against an independent implementation (`serde_json_canonicalizer`) over
//! every kind, the real history, generated events and generated JSON values.
//!
//! An object's members are written in the order they come, into the output itself; when the
//! object ends and they were not in order, its text is rewritten sorted (through one scratch
//! buffer shared by the whole value), so that nested objects cost no allocation of their own.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

/// Why a value has no canonical encoding: a map key that is not a string (or a number or bool,
/// which serde_json writes as strings), or an integer beyond 64 bits. Events never have either.
#[derive(Debug)]
pub(crate) struct CanonicalError(String);

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CanonicalError {}

impl ser::Error for CanonicalError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        CanonicalError(message.to_string())
    }
}

/// One member of an object as written: `"key":value` from `start` to `end`, the key's closing
/// quote just before `colon`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub start: usize,
    pub colon: usize,
    pub end: usize,
    /// The key's first eight bytes as written, big-endian, zero-padded: most keys differ
    /// there, so that sorting rarely compares whole keys. (A key as written holds no zero byte:
    /// U+0000 is escaped.)
    prefix: u64,
}

impl Member {
    /// The key as written, escaped, without its quotes.
    pub fn key<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start + 1..self.colon - 1]
    }

    fn key_bytes<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        &text[self.start + 1..self.colon - 1]
    }

    fn set_prefix(&mut self, text: &[u8]) {
        let key = self.key_bytes(text);
        let mut prefix = [0u8; 8];
        let len = key.len().min(8);
        prefix[..len].copy_from_slice(&key[..len]);
        self.prefix = u64::from_be_bytes(prefix);
    }
}

/// The order of two members of one object by their keys: by the bytes of the keys as written,
/// or, if any key was written with an escape or a non-ASCII character, by the UTF-16 code units
/// of the text they stand for ([`compare_special_keys`]).
fn member_order(text: &str, special_keys: bool, a: &Member, b: &Member) -> std::cmp::Ordering {
    if special_keys {
        return compare_special_keys(a.key(text), b.key(text));
    }
    a.prefix.cmp(&b.prefix).then_with(|| {
        a.key_bytes(text.as_bytes())
            .cmp(b.key_bytes(text.as_bytes()))
    })
}

/// The output and the bookkeeping of one canonical encoding.
pub(crate) struct Writer {
    pub out: String,
    scratch: String,
    /// The members of the objects still open, innermost last.
    open: Vec<Member>,
    /// The members of the top-level object (the one starting at byte 0) in the finished text.
    pub top: Vec<Member>,
    /// Whether any key was written with an escape or holds a non-ASCII character, so that keys
    /// must be compared by the UTF-16 code units of the text they stand for
    /// ([`compare_special_keys`]) rather than by their bytes as written. Never, for an event.
    pub special_keys: bool,
}

impl Writer {
    pub fn new(capacity: usize) -> Writer {
        Writer {
            out: String::with_capacity(capacity),
            scratch: String::with_capacity(capacity),
            open: Vec::with_capacity(16),
            top: Vec::new(),
            special_keys: false,
        }
    }

    /// Compares two keys as written.
    pub fn compare_keys(&self, a: &str, b: &str) -> std::cmp::Ordering {
        if self.special_keys {
            compare_special_keys(a, b)
        } else {
            a.cmp(b)
        }
    }
}

/// The canonical JSON of `value`.
pub(crate) fn to_canonical_string<T: Serialize + ?Sized>(
    value: &T,
) -> Result<String, CanonicalError> {
    let mut writer = Writer::new(512);
    value.serialize(&mut writer)?;
    Ok(writer.out)
}

/// Compares two keys as written (escaped) as RFC 8785 sorts them: by the UTF-16 code units of
/// the text they stand for. Only an escape can put a backslash into a key as written, and
/// without one the written key is the key. (UTF-16 order differs from the bytes' order only
/// between a character above U+FFFF and one in U+E000–U+FFFF.)
pub(crate) fn compare_special_keys(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (unescape(a), unescape(b));
    a.encode_utf16().cmp(b.encode_utf16())
}

fn unescape(key: &str) -> Cow<'_, str> {
    if key.contains('\\') {
        Cow::Owned(serde_json::from_str(&format!("\"{key}\"")).expect("keys are written escaped"))
    } else {
        Cow::Borrowed(key)
    }
}

/// Writes `text` as a JSON string, escaped exactly as serde_json escapes it: `"` and `\`, the
/// short forms `\b \t \n \f \r`, other controls below U+0020 as `\u00xx` in lowercase hex,
/// everything else as it is.
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    write_string_contents(out, text);
    out.push('"');
}

/// True if any of the eight bytes in `word` is below 0x20, a `"` or a `\`: the bytes JSON
/// escapes. (The usual test for a zero byte, exact for whether there is any.)
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
}

fn write_string_contents(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    // Skip eight bytes at a time while none needs an escape: most text has none at all.
    let mut clean = 0;
    while let Some(chunk) = bytes.get(clean..clean + 8) {
        let word = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        if needs_escape(word) {
            break;
        }
        clean += 8;
    }
    if clean == bytes.len() {
        out.push_str(text);
        return;
    }
    let mut run = 0;
    for (i, &byte) in bytes.iter().enumerate().skip(clean) {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        // `byte` is ASCII, so `i` and `i + 1` are character boundaries.
        out.push_str(&text[run..i]);
        out.push('\\');
        match byte {
            b'"' | b'\\' => out.push(char::from(byte)),
            0x08 => out.push('b'),
            0x09 => out.push('t'),
            0x0A => out.push('n'),
            0x0C => out.push('f'),
            0x0D => out.push('r'),
            _ => {
                out.push_str("u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
        run = i + 1;
    }
    out.push_str(&text[run..]);
}

/// A `fmt::Write` that escapes what is written into a JSON string's contents.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_string_contents(self.0, text);
        Ok(())
    }
}

fn write_display(out: &mut String, value: impl fmt::Display) {
    write!(out, "{value}").expect("writing to a String cannot fail");
}

/// An integer in decimal, as serde_json (itoa) and `Display` write it, without the formatting
/// machinery.
pub(crate) fn write_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

fn write_i64(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    write_u64(out, value.unsigned_abs());
}

fn write_f64(out: &mut String, value: f64) {
    // As serde_json::to_value does: a number JSON cannot hold becomes null.
    match serde_json::Number::from_f64(value) {
        Some(number) => write_display(out, number),
        None => out.push_str("null"),
    }
}

fn out_of_range() -> CanonicalError {
    CanonicalError("number out of range".into())
}

/// `{"variant":` before the value of a variant that carries data, as serde_json writes one.
fn open_variant(out: &mut String, variant: &str) {
    out.push('{');
    write_string(out, variant);
    out.push(':');
}

impl<'w> ser::Serializer for &'w mut Writer {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Array<'w>;
    type SerializeTuple = Array<'w>;
    type SerializeTupleStruct = Array<'w>;
    type SerializeTupleVariant = Array<'w>;
    type SerializeMap = Object<'w>;
    type SerializeStruct = Object<'w>;
    type SerializeStructVariant = Object<'w>;

    fn serialize_bool(self, value: bool) -> Result<(), CanonicalError> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, value: i8) -> Result<(), CanonicalError> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i16(self, value: i16) -> Result<(), CanonicalError> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i32(self, value: i32) -> Result<(), CanonicalError> {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i64(self, value: i64) -> Result<(), CanonicalError> {
        write_i64(&mut self.out, value);
        Ok(())
    }

    fn serialize_i128(self, value: i128) -> Result<(), CanonicalError> {
        match (u64::try_from(value), i64::try_from(value)) {
            (Ok(value), _) => self.serialize_u64(value),
            (_, Ok(value)) => self.serialize_i64(value),
            _ => Err(out_of_range()),
        }
    }

    fn serialize_u8(self, value: u8) -> Result<(), CanonicalError> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u16(self, value: u16) -> Result<(), CanonicalError> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u32(self, value: u32) -> Result<(), CanonicalError> {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u64(self, value: u64) -> Result<(), CanonicalError> {
        write_u64(&mut self.out, value);
        Ok(())
    }

    fn serialize_u128(self, value: u128) -> Result<(), CanonicalError> {
        self.serialize_u64(u64::try_from(value).map_err(|_| out_of_range())?)
    }

    fn serialize_f32(self, value: f32) -> Result<(), CanonicalError> {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), CanonicalError> {
        write_f64(&mut self.out, value);
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), CanonicalError> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), CanonicalError> {
        write_string(&mut self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), CanonicalError> {
        self.out.push('[');
        for (i, byte) in value.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_u64(&mut self.out, u64::from(*byte));
        }
        self.out.push(']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), CanonicalError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CanonicalError> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CanonicalError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CanonicalError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        open_variant(&mut self.out, variant);
        value.serialize(&mut *self)?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'w>, CanonicalError> {
        self.out.push('[');
        Ok(Array {
            writer: self,
            first: true,
            variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'w>, CanonicalError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Array<'w>, CanonicalError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'w>, CanonicalError> {
        open_variant(&mut self.out, variant);
        self.out.push('[');
        Ok(Array {
            writer: self,
            first: true,
            variant: true,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'w>, CanonicalError> {
        Ok(Object::open(self, false))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Object<'w>, CanonicalError> {
        Ok(Object::open(self, false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'w>, CanonicalError> {
        open_variant(&mut self.out, variant);
        Ok(Object::open(self, true))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        self.out.push('"');
        write!(Escaping(&mut self.out), "{value}").expect("writing to a String cannot fail");
        self.out.push('"');
        Ok(())
    }
}

/// An array being written.
pub(crate) struct Array<'w> {
    writer: &'w mut Writer,
    first: bool,
    /// Inside `{"variant":…}`, which closes too.
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        if !self.first {
            self.writer.out.push(',');
        }
        self.first = false;
        value.serialize(&mut *self.writer)
    }

    fn close(self) -> Result<(), CanonicalError> {
        self.writer.out.push(']');
        if self.variant {
            self.writer.out.push('}');
        }
        Ok(())
    }
}

/// serde's four sequence traits differ only in their method's name; each writes one element.
macro_rules! array_trait {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = CanonicalError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), CanonicalError> {
                self.close()
            }
        }
    )*};
}

array_trait!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// An object being written: its members go into the output as they come and are put in key
/// order when it ends.
pub(crate) struct Object<'w> {
    writer: &'w mut Writer,
    /// Where its `{` is.
    start: usize,
    /// Its first member's index in `writer.open`.
    first: usize,
    /// Where the member being written starts, and its key ends.
    member: Member,
    /// Inside `{"variant":…}`, which closes too.
    variant: bool,
}

impl<'w> Object<'w> {
    fn open(writer: &'w mut Writer, variant: bool) -> Object<'w> {
        let start = writer.out.len();
        writer.out.push('{');
        let first = writer.open.len();
        Object {
            writer,
            start,
            first,
            member: Member {
                start,
                colon: start,
                end: start,
                prefix: 0,
            },
            variant,
        }
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        let out = &mut self.writer.out;
        if self.writer.open.len() > self.first {
            out.push(',');
        }
        self.member.start = out.len();
        key.serialize(KeyWriter(out))?;
        self.member.colon = out.len();
        self.member.set_prefix(out.as_bytes());
        if !self.writer.special_keys
            && self
                .member
                .key(out)
                .bytes()
                .any(|b| b == b'\\' || !b.is_ascii())
        {
            self.writer.special_keys = true;
        }
        self.writer.out.push(':');
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        value.serialize(&mut *self.writer)?;
        self.member.end = self.writer.out.len();
        self.writer.open.push(self.member);
        Ok(())
    }

    fn close(self) -> Result<(), CanonicalError> {
        let Writer {
            out,
            scratch,
            open,
            top,
            special_keys,
        } = &mut *self.writer;
        let text: &str = out;
        let order = |a: &Member, b: &Member| member_order(text, *special_keys, a, b);
        let members = &mut open[self.first..];
        let in_order = members
            .windows(2)
            .all(|pair| order(&pair[0], &pair[1]).is_lt());
        if in_order {
            out.push('}');
            if self.start == 0 {
                top.clear();
                top.extend_from_slice(members);
            }
        } else {
            // A stable sort keeps a repeated key's members in the order given; the last one
            // is kept, as serde_json::to_value keeps it.
            members.sort_by(order);
            scratch.clear();
            scratch.push('{');
            let mut written = Vec::new();
            for (i, member) in members.iter().enumerate() {
                if let Some(next) = members.get(i + 1)
                    && order(member, next).is_eq()
                {
                    continue;
                }
                if scratch.len() > 1 {
                    scratch.push(',');
                }
                let start = self.start + scratch.len();
                scratch.push_str(&text[member.start..member.end]);
                if self.start == 0 {
                    written.push(Member {
                        start,
                        colon: start + (member.colon - member.start),
                        end: start + (member.end - member.start),
                        prefix: member.prefix,
                    });
                }
            }
            scratch.push('}');
            out.truncate(self.start);
            out.push_str(scratch);
            if self.start == 0 {
                *top = written;
            }
        }
        open.truncate(self.first);
        if self.variant {
            out.push('}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.key(name)?;
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.key(name)?;
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

/// Writes a map key as a JSON string; like serde_json, numbers and booleans become their text.
struct KeyWriter<'a>(&'a mut String);

fn key_must_be_a_string() -> CanonicalError {
    CanonicalError("key must be a string".into())
}

impl KeyWriter<'_> {
    fn text(self, value: impl fmt::Display) -> Result<(), CanonicalError> {
        self.0.push('"');
        write!(Escaping(self.0), "{value}").expect("writing to a String cannot fail");
        self.0.push('"');
        Ok(())
    }
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = ser::Impossible<(), CanonicalError>;
    type SerializeTuple = ser::Impossible<(), CanonicalError>;
    type SerializeTupleStruct = ser::Impossible<(), CanonicalError>;
    type SerializeTupleVariant = ser::Impossible<(), CanonicalError>;
    type SerializeMap = ser::Impossible<(), CanonicalError>;
    type SerializeStruct = ser::Impossible<(), CanonicalError>;
    type SerializeStructVariant = ser::Impossible<(), CanonicalError>;

    fn serialize_bool(self, value: bool) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_i8(self, value: i8) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_i16(self, value: i16) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_i32(self, value: i32) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_i64(self, value: i64) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_i128(self, value: i128) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_u8(self, value: u8) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_u16(self, value: u16) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_u32(self, value: u32) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_u64(self, value: u64) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_u128(self, value: u128) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_f32(self, _value: f32) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_f64(self, _value: f64) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_char(self, value: char) -> Result<(), CanonicalError> {
        self.text(value)
    }
    fn serialize_str(self, value: &str) -> Result<(), CanonicalError> {
        write_string(self.0, value);
        Ok(())
    }
    fn serialize_bytes(self, _value: &[u8]) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CanonicalError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        self.text(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An independent implementation of RFC 8785.
    fn reference(value: &serde_json::Value) -> String {
        serde_json_canonicalizer::to_string(value).expect("the reference encodes")
    }

    #[test]
    fn values_encode_as_rfc_8785_does() {
        for value in [
            json!({"b": "a\"\\\n\u{1f}\u{8}\u{c}\r\tö\u{7f}\u{2028}", "a": [1, 2.5, true, null, -3, 0.1, 123456789012.345]}),
            json!({"z": {"y": {"x": [], "a": {}}, "b": [{"d": 1, "c": 2}]}, "": 0, "é": 1, "E": 2}),
            json!({"k\"ey": 1, "k\\ey": 2, "k\u{1}": 3, "k": 4, "ka": 5}),
            // RFC 8785's own example of UTF-16 order: U+1F600 (a surrogate pair) sorts before
            // U+FB33, although its UTF-8 bytes sort after.
            json!({"\u{fb33}": 1, "\u{1f600}": 2, "\u{80}": 3, "1": 4, "\u{e9}": 5}),
            json!({"a": {"\u{fb33}": 1, "\u{1f600}": 2}, "\u{1f600}": [{"\u{ffff}": 1, "\u{10000}": 2}]}),
            json!([{"b": 1, "a": 2}, "x"]),
            json!("just text"),
            json!(9007199254740991u64),
            json!(-9007199254740991i64),
        ] {
            assert_eq!(
                to_canonical_string(&value).expect("encodes"),
                reference(&value),
                "{value}"
            );
        }
    }

    /// The two kinds of number no new event holds are written as serde_json prints them, not
    /// as RFC 8785 does, so that a log written before they were refused or normalised on
    /// input still verifies byte for byte (see the module's documentation).
    #[test]
    fn numbers_no_new_event_holds_keep_serde_jsons_form() {
        for (value, ours, rfc) in [
            (json!(12.0), "12.0", "12"),
            (json!(-0.0), "-0.0", "0"),
            (json!(1e20), "1e+20", "100000000000000000000"),
            (json!(1e-6), "1e-6", "0.000001"),
            (
                json!(18446744073709551615u64),
                "18446744073709551615",
                "18446744073709552000",
            ),
        ] {
            assert_eq!(to_canonical_string(&value).expect("encodes"), ours);
            assert_eq!(reference(&value), rfc);
        }
    }

    #[test]
    fn strings_escape_as_serde_json_escapes_them() {
        let all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        for text in [all.as_str(), "", "ä\u{0}ö", "\\\\\"\""] {
            let mut out = String::new();
            write_string(&mut out, text);
            assert_eq!(
                out,
                serde_json::to_string(text).expect("a string serializes")
            );
        }
    }

    #[test]
    fn the_top_level_members_are_found_in_the_written_text() {
        let mut writer = Writer::new(16);
        json!({"b": {"d": 1, "c": 2}, "a": [1]})
            .serialize(&mut writer)
            .expect("encodes");
        let members: Vec<&str> = writer
            .top
            .iter()
            .map(|m| &writer.out[m.start..m.end])
            .collect();
        assert_eq!(members, [r#""a":[1]"#, r#""b":{"c":2,"d":1}"#]);
    }

    proptest::proptest! {
        #[test]
        fn any_string_escapes_as_serde_json_escapes_it(text in ".*") {
            let mut out = String::new();
            write_string(&mut out, &text);
            proptest::prop_assert_eq!(out, serde_json::to_string(&text).expect("a string serializes"));
        }
    }
}
