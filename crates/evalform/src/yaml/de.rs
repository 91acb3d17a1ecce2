//! Typed values read from a positioned tree, so that a text is parsed once for both.
//!
//! [`from_tree`] reads a [`Node`] the way serde_yaml reads the same text (the YAML 1.2 core schema: which plain
//! scalars are null, booleans, integers and floats; an empty plain value as an empty list or mapping), for the
//! subset of YAML a manifest uses. Anything outside it (tags, aliases, a nesting deeper than serde_yaml allows,
//! a value of a kind the type does not take) is refused with [`Unsupported`], and the caller reads the text with
//! serde_yaml instead ([`super::from_str`]), which then gives the value or the error it always gave. So this path
//! may refuse more than serde_yaml, never accept a text differently.
//!
//! Scalar values are moved out of the tree into the typed value (keys stay): the tree is kept for positions only.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use super::{Node, NodeKind, ScalarStyle};

/// The tree holds something this reader leaves to serde_yaml. Never shown to users.
#[derive(Debug)]
pub struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl de::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

/// serde_yaml refuses documents nested deeper than 128; stop well before.
const MAX_DEPTH: usize = 100;

/// Read `T` from `node`, moving its scalar values out (keys stay, positions stay).
pub fn from_tree<T: DeserializeOwned>(node: &mut Node) -> Result<T, Unsupported> {
    T::deserialize(NodeDe { node, depth: 0 })
}

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(what.to_string()))
}

struct NodeDe<'n> {
    node: &'n mut Node,
    depth: usize,
}

fn is_null(v: &str) -> bool {
    matches!(v, "" | "null" | "Null" | "NULL" | "~")
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Leading zeros followed by digits: a string under YAML 1.2 (as serde_yaml reads it).
fn digits_but_not_number(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.len() > 1 && v.starts_with('0') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

/// As serde_yaml's `parse_unsigned_int`: `+`, `0x`, `0o`, `0b` prefixes; no leading zeros.
fn parse_unsigned<T>(v: &str, radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>) -> Option<T> {
    let unpositive = v.strip_prefix('+').unwrap_or(v);
    for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = radix(rest, base) {
                return Some(n);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(v) {
        return None;
    }
    radix(unpositive, 10).ok()
}

/// As serde_yaml's `parse_negative_int`.
fn parse_negative<T>(v: &str, radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>) -> Option<T> {
    for (prefix, base) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = v.strip_prefix(prefix) {
            if let Ok(n) = radix(&format!("-{rest}"), base) {
                return Some(n);
            }
        }
    }
    if digits_but_not_number(v) {
        return None;
    }
    radix(v, 10).ok()
}

/// As serde_yaml's `parse_f64`.
fn parse_f64(v: &str) -> Option<f64> {
    let unpositive = match v.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => v,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = v {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = v {
        return Some(f64::NAN.copysign(1.0));
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl<'n> NodeDe<'n> {
    /// The value of a plain scalar.
    fn plain(&self) -> Option<&str> {
        match &self.node.kind {
            NodeKind::Scalar { value, style: ScalarStyle::Plain, .. } => Some(value),
            _ => None,
        }
    }

    fn empty_plain(&self) -> bool {
        self.plain().is_some_and(str::is_empty)
    }

    fn take_string(&mut self) -> Option<String> {
        match &mut self.node.kind {
            NodeKind::Scalar { value, .. } => Some(std::mem::take(value)),
            _ => None,
        }
    }

    fn unsigned<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.plain().and_then(|v| parse_unsigned(v, u64::from_str_radix)) {
            Some(n) => visitor.visit_u64(n),
            None => unsupported("not an unsigned integer"),
        }
    }
}

macro_rules! refuse {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Unsupported> {
            unsupported(stringify!($method))
        })*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Unsupported;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        if let Some(v) = self.plain() {
            if is_null(v) {
                return visitor.visit_unit();
            }
            if let Some(b) = parse_bool(v) {
                return visitor.visit_bool(b);
            }
            if let Some(n) = parse_unsigned(v, u64::from_str_radix) {
                return visitor.visit_u64(n);
            }
            if let Some(n) = parse_negative(v, i64::from_str_radix) {
                return visitor.visit_i64(n);
            }
            if let Some(n) = parse_unsigned(v, u128::from_str_radix) {
                return visitor.visit_u128(n);
            }
            if let Some(n) = parse_negative(v, i128::from_str_radix) {
                return visitor.visit_i128(n);
            }
            if !digits_but_not_number(v) {
                if let Some(f) = parse_f64(v) {
                    return visitor.visit_f64(f);
                }
            }
        }
        let depth = self.depth;
        match &mut self.node.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_string(std::mem::take(value)),
            NodeKind::Seq(items) => visit_seq(items, depth, visitor),
            NodeKind::Map(entries) => visit_map(entries, depth, visitor),
            NodeKind::Alias => unsupported("an alias"),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.plain().and_then(parse_bool) {
            Some(b) => visitor.visit_bool(b),
            None => unsupported("not a boolean"),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.unsigned(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.unsigned(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.unsigned(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.unsigned(visitor)
    }

    refuse! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf deserialize_unit
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Unsupported> {
        match self.take_string() {
            Some(s) => visitor.visit_string(s),
            None => unsupported("not a scalar"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match &self.node.kind {
            NodeKind::Alias => unsupported("an alias"),
            _ if self.plain().is_some_and(is_null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, Unsupported> {
        unsupported("a unit struct")
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, Unsupported> {
        unsupported("a newtype struct")
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        let empty = self.empty_plain();
        let depth = self.depth;
        match &mut self.node.kind {
            NodeKind::Seq(items) => visit_seq(items, depth, visitor),
            _ if empty => visit_seq(&mut [], depth, visitor),
            _ => unsupported("not a list"),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Unsupported> {
        unsupported("a tuple")
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Unsupported> {
        unsupported("a tuple struct")
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        let empty = self.empty_plain();
        let depth = self.depth;
        match &mut self.node.kind {
            NodeKind::Map(entries) => visit_map(entries, depth, visitor),
            _ if empty => visit_map(&mut [], depth, visitor),
            _ => unsupported("not a mapping"),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        self.deserialize_map(visitor)
    }

    /// Only unit variants written as a plain or quoted scalar (`type: conversational`).
    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        match self.take_string() {
            Some(variant) => visitor.visit_enum(UnitVariant(variant)),
            None => unsupported("an enum that is not a scalar"),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match &self.node.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_str(value),
            _ => unsupported("a key that is not a scalar"),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_unit()
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: &mut [Node], depth: usize, visitor: V) -> Result<V::Value, Unsupported> {
    if depth >= MAX_DEPTH {
        return unsupported("nested too deep");
    }
    let mut access = Seq { items: items.iter_mut(), depth: depth + 1 };
    let value = visitor.visit_seq(&mut access)?;
    match access.items.len() {
        0 => Ok(value),
        _ => unsupported("items left over"),
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: &mut [(Node, Node)],
    depth: usize,
    visitor: V,
) -> Result<V::Value, Unsupported> {
    if depth >= MAX_DEPTH {
        return unsupported("nested too deep");
    }
    let mut access = Map { entries: entries.iter_mut(), value: None, depth: depth + 1 };
    let value = visitor.visit_map(&mut access)?;
    match (access.entries.len(), access.value) {
        (0, None) => Ok(value),
        _ => unsupported("entries left over"),
    }
}

struct Seq<'a> {
    items: std::slice::IterMut<'a, Node>,
    depth: usize,
}

impl<'de> de::SeqAccess<'de> for Seq<'_> {
    type Error = Unsupported;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Unsupported> {
        match self.items.next() {
            Some(node) => seed.deserialize(NodeDe { node, depth: self.depth }).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::slice::IterMut<'a, (Node, Node)>,
    value: Option<&'a mut Node>,
    depth: usize,
}

impl<'de> de::MapAccess<'de> for Map<'_> {
    type Error = Unsupported;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Unsupported> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        // Keys are read without being moved out: the tree keeps them to find paths.
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Unsupported> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDe { node, depth: self.depth }),
            None => unsupported("a value without a key"),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key: a scalar read as text (manifest keys are names), never moved out of the tree.
struct Key<'n>(&'n Node);

impl<'de> de::Deserializer<'de> for Key<'_> {
    type Error = Unsupported;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match &self.0.kind {
            // A key that resolves to anything but text is left to serde_yaml.
            NodeKind::Scalar { value, .. } if self.0.scalar_kind() == Some(super::ScalarKind::String) => {
                visitor.visit_str(value)
            }
            _ => unsupported("a key that is not text"),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match &self.0.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_str(value),
            _ => unsupported("a key that is not a scalar"),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_str(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit unit_struct
        newtype_struct seq tuple tuple_struct map struct enum ignored_any
    }
}

/// A unit variant named by a scalar.
struct UnitVariant(String);

impl<'de> de::EnumAccess<'de> for UnitVariant {
    type Error = Unsupported;
    type Variant = UnitOnly;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, UnitOnly), Unsupported> {
        let variant = seed.deserialize(de::value::StringDeserializer::<Unsupported>::new(self.0))?;
        Ok((variant, UnitOnly))
    }
}

struct UnitOnly;

impl<'de> de::VariantAccess<'de> for UnitOnly {
    type Error = Unsupported;

    fn unit_variant(self) -> Result<(), Unsupported> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Unsupported> {
        unsupported("a newtype variant")
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Unsupported> {
        unsupported("a tuple variant")
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, Unsupported> {
        unsupported("a struct variant")
    }
}
