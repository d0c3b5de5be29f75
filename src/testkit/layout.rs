//! The emulator's replies written in a fixed field order: the service's
//! documented one by default, or another one chosen to reach the client's
//! other readers.
//!
//! serde_json's `Map` keeps its keys sorted, so replies are built here as
//! lists of fields and written by hand.

use std::fmt::Write as _;

/// How the emulator lays out the JSON of its replies
/// ([`EmulatorBuilder::reply_layout`](super::EmulatorBuilder::reply_layout)).
/// Every layout is the same JSON value; only the bytes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplyLayout {
    /// The order of the service's documented samples (the default): the
    /// reply's list first, then `ActionStatus`, `ErrorCode`, `ErrorInfo`,
    /// `ErrorDisplay`; in an item `To_Account`, `ResultCode`, `ResultInfo`,
    /// then the endpoint's fields (`FollowType`, or `FollowerCount`,
    /// `FollowingCount`, `MutualFollowingCount`). Compact, without escapes,
    /// as the samples are: the client reads each item in its fixed-order pass.
    #[default]
    Documented,
    /// Every object's fields in alphabetical order (as serde_json writes a
    /// `Map`): the client's one-pass reader reads each field by its name.
    Sorted,
    /// The documented order, with every character of every string value
    /// written as a `\uXXXX` escape: valid JSON that the one-pass reader
    /// leaves to the serde reader.
    Escaped,
}

/// A JSON value whose objects keep the order their fields were given in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Int(i64),
    Str(String),
    List(Vec<Node>),
    Obj(Vec<(&'static str, Node)>),
}

impl From<i64> for Node {
    fn from(v: i64) -> Node {
        Node::Int(v)
    }
}

impl From<u64> for Node {
    fn from(v: u64) -> Node {
        Node::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Node {
        Node::Str(s.to_string())
    }
}

impl From<String> for Node {
    fn from(s: String) -> Node {
        Node::Str(s)
    }
}

impl Node {
    /// The JSON text of this value in `layout`.
    pub(crate) fn to_bytes(&self, layout: ReplyLayout) -> Vec<u8> {
        let mut out = String::new();
        self.write(layout, &mut out);
        out.into_bytes()
    }

    fn write(&self, layout: ReplyLayout, out: &mut String) {
        match self {
            Node::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Node::Str(s) if layout == ReplyLayout::Escaped => escaped(s, out),
            Node::Str(s) => plain(s, out),
            Node::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(layout, out);
                }
                out.push(']');
            }
            Node::Obj(fields) => {
                let mut order: Vec<&(&'static str, Node)> = fields.iter().collect();
                if layout == ReplyLayout::Sorted {
                    order.sort_by_key(|(k, _)| *k);
                }
                out.push('{');
                for (i, (key, value)) in order.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    plain(key, out);
                    out.push(':');
                    value.write(layout, out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string with only the escapes JSON requires.
fn plain(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string with every UTF-16 unit escaped.
fn escaped(s: &str, out: &mut String) {
    out.push('"');
    for unit in s.encode_utf16() {
        let _ = write!(out, "\\u{unit:04x}");
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::Obj(vec![
            (
                "ResultItem",
                Node::List(vec![Node::Obj(vec![
                    ("To_Account", "é\"\n😀".into()),
                    ("ResultCode", 0i64.into()),
                ])]),
            ),
            ("ActionStatus", "OK".into()),
        ])
    }

    #[test]
    fn every_layout_is_the_same_json_value() {
        let want = serde_json::json!({
            "ResultItem": [{"To_Account": "é\"\n😀", "ResultCode": 0}],
            "ActionStatus": "OK",
        });
        for layout in [
            ReplyLayout::Documented,
            ReplyLayout::Sorted,
            ReplyLayout::Escaped,
        ] {
            let got: serde_json::Value = serde_json::from_slice(&sample().to_bytes(layout))
                .unwrap_or_else(|e| panic!("{layout:?}: {e}"));
            assert_eq!(got, want, "{layout:?}");
        }
    }

    #[test]
    fn each_layout_orders_and_escapes_as_it_says() {
        let text = |l| String::from_utf8(sample().to_bytes(l)).unwrap();
        assert_eq!(
            text(ReplyLayout::Documented),
            "{\"ResultItem\":[{\"To_Account\":\"é\\\"\\u000a😀\",\"ResultCode\":0}],\"ActionStatus\":\"OK\"}"
        );
        assert_eq!(
            text(ReplyLayout::Sorted),
            "{\"ActionStatus\":\"OK\",\"ResultItem\":[{\"ResultCode\":0,\"To_Account\":\"é\\\"\\u000a😀\"}]}"
        );
        assert!(text(ReplyLayout::Escaped)
            .contains(r#""To_Account":"\u00e9\u0022\u000a\ud83d\ude00","ResultCode":0"#));
    }
}
