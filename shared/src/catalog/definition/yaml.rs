//! A definition file's YAML as JSON, remembering where each node was written: its line and
//! column (for problems) and, for numbers and booleans, the text as written (so a scalar the
//! EMR model wants as a string becomes exactly what the author typed: `60000`, `0.50`, `yes`).
//!
//! Parsed with serde-saphyr (YAML 1.2); its [`Spanned`] wrapper gives every node's location.
//!
//! `build.rs` includes this file too: it parses the catalog's files when the crate is built and
//! embeds each [`Source`] as JSON ([`Source::to_json`]), so the functions read the catalog with
//! [`Source::from_json`] and do not carry a YAML parser.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

/// A YAML document as JSON plus where its nodes are.
#[derive(Debug, Default)]
pub(crate) struct Source {
    pub value: Value,
    /// JSON Pointer (RFC 6901) of a node → (line, column), both 1-based.
    places: HashMap<String, (u64, u64)>,
    /// JSON Pointer of a number or boolean → its text as written.
    raw: HashMap<String, String>,
}

/// A YAML syntax error: what and where (1-based line and column, when known).
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub at: Option<(u64, u64)>,
}

impl Source {
    /// Parses `yaml` (YAML 1.2: only `true`/`false` are booleans, so `on: x` and `yes` stay
    /// text; a repeated key is an error). Errors: the first syntax error, with its place.
    pub fn parse(yaml: &str) -> Result<Self, SyntaxError> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let root: Spanned<Node> =
            serde_saphyr::from_str_with_options(yaml, options).map_err(|e| SyntaxError {
                message: e.without_snippet().to_string(),
                at: e.location().map(|l| (l.line(), l.column())),
            })?;
        let mut source = Source::default();
        source.value = source.convert(yaml, String::new(), root);
        Ok(source)
    }

    /// This source as one JSON document: `{"value": …, "places": {pointer: [line, column]},
    /// "raw": {pointer: text}}`, read back by [`Source::from_json`].
    #[allow(dead_code)] // build.rs writes the embedded catalog with it; the library only reads
    pub fn to_json(&self) -> String {
        serde_json::json!({ "value": self.value, "places": self.places, "raw": self.raw }).to_string()
    }

    /// A source written by [`Source::to_json`]; `None` for any other document.
    #[allow(dead_code)] // build.rs includes this file and only writes
    pub fn from_json(text: &str) -> Option<Self> {
        let Value::Object(mut document) = serde_json::from_str(text).ok()? else {
            return None;
        };
        let places = match document.remove("places")? {
            Value::Object(places) => places
                .into_iter()
                .map(|(pointer, place)| {
                    let place: (u64, u64) = serde_json::from_value(place).ok()?;
                    Some((pointer, place))
                })
                .collect::<Option<_>>()?,
            _ => return None,
        };
        let raw = match document.remove("raw")? {
            Value::Object(raw) => raw
                .into_iter()
                .map(|(pointer, text)| Some((pointer, text.as_str()?.to_owned())))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(Self {
            value: document.remove("value")?,
            places,
            raw,
        })
    }

    /// Where the node at `pointer` (or its nearest written ancestor) was written.
    #[allow(dead_code)] // build.rs includes this file and only writes
    pub fn place(&self, pointer: &str) -> Option<(u64, u64)> {
        let mut pointer = pointer;
        loop {
            if let Some(place) = self.places.get(pointer) {
                return Some(*place);
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }

    /// The text a number or boolean at `pointer` was written as.
    #[allow(dead_code)] // build.rs includes this file and only writes
    pub fn raw(&self, pointer: &str) -> Option<&str> {
        self.raw.get(pointer).map(String::as_str)
    }

    fn convert(&mut self, yaml: &str, pointer: String, node: Spanned<Node>) -> Value {
        let at = node.referenced;
        if at.line() > 0 {
            self.places.insert(pointer.clone(), (at.line(), at.column()));
        }
        let span = node.defined.span();
        let text = match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => usize::try_from(offset)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| yaml.get(o..o.checked_add(l)?)),
            _ => None,
        };
        let keep_raw = |this: &mut Self| {
            if let Some(text) = text {
                this.raw.insert(pointer.clone(), text.trim().to_owned());
            }
        };
        match node.value {
            Node::Null => Value::Null,
            Node::Bool(b) => {
                keep_raw(self);
                Value::Bool(b)
            }
            Node::Number(n) => {
                keep_raw(self);
                Value::Number(n)
            }
            Node::String(s) => Value::String(s),
            Node::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| self.convert(yaml, format!("{pointer}/{i}"), item))
                    .collect(),
            ),
            Node::Map(members) => {
                let mut map = Map::new();
                for (key, member) in members {
                    let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let value = self.convert(yaml, child, member);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        }
    }
}

/// One YAML node, before it becomes JSON.
enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => Ok(Node::Number(v.into())),
            (_, Ok(v)) => Ok(Node::Number(v.into())),
            _ => Err(E::custom(format!(
                "{v} is beyond 64-bit integers; quote it to keep it as text"
            ))),
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        match u64::try_from(v) {
            Ok(v) => Ok(Node::Number(v.into())),
            _ => Err(E::custom(format!(
                "{v} is beyond 64-bit integers; quote it to keep it as text"
            ))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(v)
            .map(Node::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a JSON number; quote it to keep it as text")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Node::Map(members))
    }
}

/// A mapping key: any scalar, as text (JSON keys are strings).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key("null".into()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_source_read_back_from_its_json_is_the_same_source() {
        // GIVEN a parsed file with numbers written in more than one way, nested places
        let yaml = "a:\n  HADOOP_HEAPSIZE: 60000\n  ratio: 0.50\n  on: true\n  list: [1, \"x~/\"]\n";
        let source = Source::parse(yaml).unwrap();
        // WHEN it goes through the JSON build.rs embeds
        let back = Source::from_json(&source.to_json()).expect("its own JSON reads back");
        // THEN value, places and written texts are all unchanged
        assert_eq!(back.value, source.value);
        assert_eq!(back.places, source.places);
        assert_eq!(back.raw, source.raw);
        assert_eq!(back.raw("/a/ratio"), Some("0.50"));
        assert_eq!(back.place("/a/list/1"), source.place("/a/list/1"));
        // AND anything else is not a source
        assert!(Source::from_json(r#"{"value": 1}"#).is_none());
        assert!(Source::from_json("[]").is_none());
    }

    #[test]
    fn numbers_and_booleans_keep_their_written_text_and_every_node_its_place() {
        let yaml = "a:\n  HADOOP_HEAPSIZE: 60000\n  ratio: 0.50\n  on: true\n  list: [1, \"x\"]\n";
        let source = Source::parse(yaml).unwrap();
        assert_eq!(
            source.value,
            json!({"a": {"HADOOP_HEAPSIZE": 60000, "ratio": 0.5, "on": true, "list": [1, "x"]}})
        );
        assert_eq!(source.raw("/a/HADOOP_HEAPSIZE"), Some("60000"));
        assert_eq!(source.raw("/a/ratio"), Some("0.50"));
        assert_eq!(source.raw("/a/on"), Some("true"));
        assert_eq!(source.raw("/a/list/0"), Some("1"));
        assert_eq!(source.place("/a/ratio"), Some((3, 10)));
        assert_eq!(source.place("/a/list/1"), Some((5, 13)));
        assert_eq!(source.place("/a/missing/deeper"), source.place("/a"));
    }

    #[test]
    fn a_repeated_key_is_an_error() {
        let err = Source::parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.at.map(|(line, _)| line), Some(2), "{err:?}");
    }

    #[test]
    fn a_syntax_error_has_its_line_and_column() {
        let err = Source::parse("name: x\njob_flow: {Name: [unclosed\n").unwrap_err();
        let (line, _) = err.at.expect("a location");
        assert!(line >= 2, "{err:?}");
        assert!(!err.message.contains("Error"), "{err:?}");
    }
}
