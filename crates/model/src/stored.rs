//! The deserializer of content the store already holds ([`Stored`]): the one way the validated
//! scalars of [`crate::text`] are built without their checks ([`Stored::new`]) or checked by
//! the rules for stored content rather than new input ([`Stored::rechecked`],
//! [`Rules::Stored`]), and it shows in the types: no flag of the thread decides it.
//!
//! Each validated scalar (`Text`, `Id`, `EventKey`, `Url`, `HashHex`, `Amount`, a summary, an
//! amount that cannot be negative) deserializes through [`scalar`], which asks for a newtype
//! struct named [`STORED_SCALAR`]. Every ordinary deserializer (serde_json's, a `Value`,
//! serde_path_to_error's tracker) answers that as any newtype, with `visit_newtype_struct`, and
//! the scalar is read with its checks. Only [`Stored`] answers it otherwise: it reads the plain
//! value and hands it over marked as stored (an enum of a variant no input names), which the
//! scalar takes as it is through its `from_stored` constructor. [`Stored`] wraps serde_json's deserializer all the way
//! down (every nested struct, list, map and option), so an event read through it skips every
//! scalar check, and anything read any other way keeps every check.
//!
//! Why skipping is sound on this path: [`crate::trusted::event_from_stored_content`] is used
//! only by the stores' reads of their own `content` column. That text was written by the store
//! from an event that passed every check of `event_from_value` before it was appended, and the
//! hash chain covers it, so an edit of it is found by `verify`, which reads every row through the
//! full checks (`event_from_value`), not through this path. A serde construct that buffers its
//! input (`flatten`, untagged enums) would bypass the wrapper and fall back to the checks: slower,
//! never laxer.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

use crate::text::Rules;

/// The newtype name by which a validated scalar asks whether it is read from stored content.
pub(crate) const STORED_SCALAR: &str = "$lagesbild::stored_scalar";

/// How [`Stored`] hands a validated scalar over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Taken as it is, its checks skipped: the store's reads of its own rows.
    Trusted,
    /// Checked by [`Rules::Stored`]: `verify`, `restore`, a correction's target.
    Rechecked,
}

/// A deserializer of stored content: `D` with every validated scalar taken as it is
/// ([`Stored::new`]), or checked by the rules stored content was appended under
/// ([`Stored::rechecked`]).
pub(crate) struct Stored<D>(D, Mode);

impl<D> Stored<D> {
    /// Wraps `deserializer`, which must read content the store holds (see the module's
    /// documentation for why that is the one case where the scalars' checks may be skipped).
    pub(crate) fn new(deserializer: D) -> Stored<D> {
        Stored(deserializer, Mode::Trusted)
    }

    /// Wraps `deserializer` so that every scalar is checked by [`Rules::Stored`] rather than
    /// the rules for new input: for content a log holds that is checked again (`verify`,
    /// `restore`, reading a correction's target).
    pub(crate) fn rechecked(deserializer: D) -> Stored<D> {
        Stored(deserializer, Mode::Rechecked)
    }
}

/// Wraps what a deserializer hands a visitor, so that nested values are read through
/// [`Stored`] too, in the same mode.
struct Wrap<T>(T, Mode);

macro_rules! forward_deserialize {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor, self.1))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Stored<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor, self.1))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name == STORED_SCALAR {
            // The plain value, handed over so that the scalar takes it as stored.
            return self.0.deserialize_any(StoredMark(visitor, self.1));
        }
        self.0
            .deserialize_newtype_struct(name, Wrap(visitor, self.1))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor, self.1))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_tuple_struct(name, len, Wrap(visitor, self.1))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, Wrap(visitor, self.1))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_enum(name, variants, Wrap(visitor, self.1))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit!(
        visit_bool: bool,
        visit_i8: i8,
        visit_i16: i16,
        visit_i32: i32,
        visit_i64: i64,
        visit_i128: i128,
        visit_u8: u8,
        visit_u16: u16,
        visit_u32: u32,
        visit_u64: u64,
        visit_u128: u128,
        visit_f32: f32,
        visit_f64: f64,
        visit_char: char,
        visit_str: &str,
        visit_borrowed_str: &'de str,
        visit_string: String,
        visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8],
        visit_byte_buf: Vec<u8>
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Stored(deserializer, self.1))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Stored(deserializer, self.1))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Wrap(seq, self.1))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Wrap(map, self.1))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Wrap(data, self.1))
    }
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(Stored(deserializer, self.1))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Wrap(seed, self.1))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Wrap(seed, self.1))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(Wrap(seed, self.1))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Wrap<A::Variant>), A::Error> {
        let (value, variant) = self.0.variant_seed(Wrap(seed, self.1))?;
        Ok((value, Wrap(variant, self.1)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Wrap(seed, self.1))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor, self.1))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor, self.1))
    }
}

/// Deserializes `value` keeping the path to a bad field, every scalar checked by `rules`. The
/// path tracker is inside [`Stored`], so that the hand-over of a scalar adds no segment to it.
pub(crate) fn from_value_tracked<T: de::DeserializeOwned>(
    value: serde_json::Value,
    rules: Rules,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    match rules {
        Rules::NewInput => serde_path_to_error::deserialize(value),
        Rules::Stored => {
            let mut track = serde_path_to_error::Track::new();
            let tracked = serde_path_to_error::Deserializer::new(value, &mut track);
            T::deserialize(Stored::rechecked(tracked))
                .map_err(|error| serde_path_to_error::Error::new(track.path(), error))
        }
    }
}

/// A validated scalar: read with its checks from any ordinary deserializer, or as it is from
/// stored content through [`Stored`] (its `from_stored` constructor).
pub(crate) trait StoredScalar: Sized {
    const EXPECTING: &'static str;
    /// Reads the value and checks it by `rules`.
    fn deserialize_checked<'de, D: Deserializer<'de>>(
        deserializer: D,
        rules: Rules,
    ) -> Result<Self, D::Error>;
    /// Takes the plain stored value as it is.
    fn from_stored<'de, A: de::VariantAccess<'de>>(plain: A) -> Result<Self, A::Error>;
}

/// Deserializes a validated scalar: with its checks, unless `deserializer` is [`Stored`].
pub(crate) fn scalar<'de, T: StoredScalar, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_newtype_struct(STORED_SCALAR, ScalarVisitor(PhantomData))
}

/// The variant name by which [`Stored`] hands a scalar its plain value. A scalar takes a value
/// as stored only when handed an enum of this variant, which no ordinary deserializer produces
/// for a scalar: serde_json and `Value` answer [`scalar`]'s request with `visit_newtype_struct`,
/// and a deserializer that forwards newtype structs to `deserialize_any` hands over the plain
/// `visit_str`/`visit_u64`, both of which read the value with its checks.
const STORED_VARIANT: &str = "$lagesbild::stored_scalar::taken_as_stored";

/// The variant name by which [`Stored::rechecked`] hands a scalar its plain value, to be
/// checked by [`Rules::Stored`]. Like [`STORED_VARIANT`], no input names it.
const RECHECKED_VARIANT: &str = "$lagesbild::stored_scalar::checked_as_stored";

struct ScalarVisitor<T>(PhantomData<T>);

macro_rules! visit_checked {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<T, E> {
            T::deserialize_checked(
                de::IntoDeserializer::<E>::into_deserializer(value),
                Rules::NewInput,
            )
        }
    )*};
}

impl<'de, T: StoredScalar> Visitor<'de> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize_checked(deserializer, Rules::NewInput)
    }

    visit_checked!(visit_str: &str, visit_string: String, visit_u64: u64, visit_i64: i64, visit_f64: f64);

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<T, A::Error> {
        use de::VariantAccess as _;
        match data.variant_seed(StoredVariant)? {
            (Some(Mode::Trusted), plain) => T::from_stored(plain),
            (Some(Mode::Rechecked), plain) => {
                plain.newtype_variant_seed(CheckedSeed(Rules::Stored, PhantomData::<T>))
            }
            (None, _) => Err(de::Error::custom(format!("expected {}", T::EXPECTING))),
        }
    }
}

/// Reads a scalar with its checks by the rules given.
struct CheckedSeed<T>(Rules, PhantomData<T>);

impl<'de, T: StoredScalar> DeserializeSeed<'de> for CheckedSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize_checked(deserializer, self.0)
    }
}

/// Which of [`STORED_VARIANT`] and [`RECHECKED_VARIANT`] an enum's variant is, if either,
/// compared without copying its name.
struct StoredVariant;

impl<'de> DeserializeSeed<'de> for StoredVariant {
    type Value = Option<Mode>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Mode>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for StoredVariant {
    type Value = Option<Mode>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a variant name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<Mode>, E> {
        Ok(match name {
            STORED_VARIANT => Some(Mode::Trusted),
            RECHECKED_VARIANT => Some(Mode::Rechecked),
            _ => None,
        })
    }
}

/// The plain value of a stored scalar, as [`Stored`] read it.
enum Plain {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// What [`Stored`] gives the visitor of a scalar: the plain value read from stored content,
/// handed over as an enum of [`STORED_VARIANT`].
struct StoredMark<V>(V, Mode);

impl<'de, V: Visitor<'de>> StoredMark<V> {
    fn hand_over<E: de::Error>(self, plain: Plain) -> Result<V::Value, E> {
        self.0.visit_enum(PlainAccess(plain, self.1, PhantomData))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StoredMark<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
        self.hand_over(Plain::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<V::Value, E> {
        self.hand_over(Plain::Text(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<V::Value, E> {
        self.hand_over(Plain::Unsigned(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<V::Value, E> {
        self.hand_over(Plain::Signed(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<V::Value, E> {
        self.hand_over(Plain::Float(value))
    }
}

struct PlainAccess<E>(Plain, Mode, PhantomData<E>);

impl<'de, E: de::Error> de::EnumAccess<'de> for PlainAccess<E> {
    type Error = E;
    type Variant = PlainAccess<E>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), E> {
        let variant = match self.1 {
            Mode::Trusted => STORED_VARIANT,
            Mode::Rechecked => RECHECKED_VARIANT,
        };
        let name = seed.deserialize(de::IntoDeserializer::<E>::into_deserializer(variant))?;
        Ok((name, self))
    }
}

impl<'de, E: de::Error> de::VariantAccess<'de> for PlainAccess<E> {
    type Error = E;

    fn unit_variant(self) -> Result<(), E> {
        Err(E::custom("a stored scalar has a value"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, E> {
        use de::IntoDeserializer as _;
        match self.0 {
            Plain::Text(text) => seed.deserialize(text.into_deserializer()),
            Plain::Unsigned(n) => seed.deserialize(n.into_deserializer()),
            Plain::Signed(n) => seed.deserialize(n.into_deserializer()),
            Plain::Float(n) => seed.deserialize(n.into_deserializer()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, E> {
        Err(E::custom("a stored scalar is not a tuple"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, E> {
        Err(E::custom("a stored scalar is not a struct"))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize as _;
    use serde_json::json;

    use super::*;
    use crate::text::{Rules, Text};

    #[test]
    fn rechecked_content_is_checked_by_the_stored_rules_not_trusted() {
        let bidi = "Avtalet \u{202E}gäller";
        // New input refuses a bidirectional control; stored content checked again reads it.
        assert!(Text::deserialize(json!(bidi)).is_err());
        let text = Text::deserialize(Stored::rechecked(json!(bidi))).expect("reads");
        assert_eq!(text.as_str(), bidi);
        assert_eq!(Text::new_under(bidi, Rules::Stored), Ok(text));
        // Every check stored content was appended under still applies.
        for bad in ["", "  ", "a\u{0}b"] {
            assert!(
                Text::deserialize(Stored::rechecked(json!(bad))).is_err(),
                "{bad:?}"
            );
        }
        // Trusted, nothing is checked: only the store's reads of its own rows come here.
        assert!(Text::deserialize(Stored::new(json!(""))).is_ok());
    }

    #[test]
    fn an_event_checked_by_the_stored_rules_keeps_every_other_check_and_its_field() {
        let old = json!({"kind": "fact_reported", "occurred": "2023", "summary": "Betalt \u{202e}000 kr", "source": {"title": "Rapport"}});
        assert!(crate::event_from_value(old.clone()).is_err());
        assert!(crate::event_from_value_under(old, Rules::Stored).is_ok());
        let bad = json!({"kind": "contract_signed", "occurred": "2019-06", "summary": "Avtal.", "source": {"title": "Avtalet"}, "data": {"supplier": "Cerner", "buyer": " ", "value_msek": -5}});
        let error = crate::event_from_value_under(bad, Rules::Stored).expect_err("blank buyer");
        assert_eq!(error.field, "data.buyer", "{error}");
    }
}
