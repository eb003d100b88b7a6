//! The fields of an Observation the decoder reads, deserialized straight
//! from the record's bytes: strings borrowed where they carry no escapes,
//! numbers as `f64`, everything else skipped without being built.
//!
//! Every field is lenient in the way lookups in a `serde_json::Value` were
//! (the decoder's model, `value_model.rs` in the tests): a value of another
//! type is kept as "present but not a string / number / object" instead of
//! failing the record, a non-object read as an object has none of its
//! fields, a non-array read as an array is empty. So the decoder's rules
//! and its quarantine reasons stay those of the JSON, whatever its shape.
//! The one thing a derived struct does differently from a `Value` is a
//! repeated key (the `Value` keeps the last): `decode` then reads the record
//! through a `Value` and these same types, so it agrees there too.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize as Derive;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The top level of a record.
#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Raw<'a> {
    #[serde(rename = "resourceType", borrow)]
    pub resource_type: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(borrow)]
    pub subject: Object<Reference<'a>>,
    #[serde(borrow)]
    pub device: Object<Reference<'a>>,
    #[serde(rename = "effectiveDateTime", borrow)]
    pub effective: Text<'a>,
    #[serde(borrow)]
    pub code: Object<Concept<'a>>,
    #[serde(rename = "dataAbsentReason")]
    pub data_absent: Present,
    #[serde(rename = "valueQuantity", borrow)]
    pub quantity: Object<Quantity<'a>>,
    #[serde(rename = "valueSampledData", borrow)]
    pub sampled: Object<Sampled<'a>>,
    #[serde(rename = "valueCodeableConcept", borrow)]
    pub concept: Object<Concept<'a>>,
    #[serde(borrow)]
    pub component: Array<Object<Component<'a>>>,
}

/// `subject` and `device`: a Reference with a logical identifier.
#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Reference<'a> {
    #[serde(borrow)]
    pub identifier: Object<Identifier<'a>>,
    #[serde(borrow)]
    pub display: Text<'a>,
}

#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Identifier<'a> {
    #[serde(borrow)]
    pub value: Text<'a>,
}

/// A CodeableConcept.
#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Concept<'a> {
    #[serde(borrow)]
    pub coding: Array<Object<Coding<'a>>>,
}

#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Coding<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub code: Text<'a>,
}

/// A Quantity, and SampledData's `origin` (the same three fields read).
#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Quantity<'a> {
    pub value: Number,
    #[serde(borrow)]
    pub code: Text<'a>,
    #[serde(borrow)]
    pub unit: Text<'a>,
}

#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Sampled<'a> {
    pub period: Number,
    #[serde(borrow)]
    pub origin: Object<Quantity<'a>>,
    pub factor: Number,
    #[serde(borrow)]
    pub data: Text<'a>,
}

#[derive(Derive, Default)]
#[serde(default)]
pub(super) struct Component<'a> {
    #[serde(borrow)]
    pub code: Object<Concept<'a>>,
    #[serde(rename = "dataAbsentReason")]
    pub data_absent: Present,
    #[serde(rename = "valueQuantity", borrow)]
    pub quantity: Object<Quantity<'a>>,
    #[serde(rename = "valueSampledData", borrow)]
    pub sampled: Object<Sampled<'a>>,
}

/// A field read as a string.
#[derive(Default, Debug, PartialEq)]
pub(super) enum Text<'a> {
    #[default]
    Absent,
    /// Present with a value that is not a string (`null` included).
    Other,
    Str(Cow<'a, str>),
}

impl Text<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Text::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A field read as a number: `None` when absent or not a number.
#[derive(Default, Debug, PartialEq)]
pub(super) struct Number(pub Option<f64>);

/// A field whose presence alone counts (`dataAbsentReason`), whatever its
/// value, `null` included.
#[derive(Default, Debug, PartialEq)]
pub(super) struct Present(pub bool);

/// A field read as an object: present with a value that is not an object,
/// it is an object with none of the fields.
#[derive(Default, Debug, PartialEq)]
pub(super) enum Object<T> {
    #[default]
    Absent,
    Present(T),
}

impl<T> Object<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Object::Present(t) => Some(t),
            Object::Absent => None,
        }
    }

    pub fn into_inner(self) -> Option<T> {
        match self {
            Object::Present(t) => Some(t),
            Object::Absent => None,
        }
    }
}

/// A field read as an array: empty when absent or not an array.
#[derive(Debug, PartialEq)]
pub(super) struct Array<T>(pub Vec<T>);

impl<T> Default for Array<T> {
    fn default() -> Self {
        Array(Vec::new())
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The visitor methods for JSON's scalars, each giving `$other`.
macro_rules! scalars_are {
    ($other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(s)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_unit<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_none<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        skip_seq(seq).map(|()| Text::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        skip_map(map).map(|()| Text::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_i64<E>(self, x: i64) -> Result<Number, E> {
        Ok(Number(Some(x as f64)))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Number, E> {
        Ok(Number(Some(x as f64)))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Number, E> {
        Ok(Number(Some(x)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_unit<E>(self) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_none<E>(self) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Number, A::Error> {
        skip_seq(seq).map(|()| Number(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Number, A::Error> {
        skip_map(map).map(|()| Number(None))
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object::Present)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Object<T>, A::Error> {
        skip_seq(seq).map(|()| Object::Present(T::default()))
    }
    scalars_are!(Object::Present(T::default()));
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ArrayVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ArrayVisitor<T> {
    type Value = Array<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Array<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(t) = seq.next_element()? {
            out.push(t);
        }
        Ok(Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Array<T>, A::Error> {
        skip_map(map).map(|()| Array(Vec::new()))
    }
    scalars_are!(Array(Vec::new()));
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ArrayVisitor(PhantomData))
    }
}
