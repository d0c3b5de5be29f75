//! The fast path for batch replies: one pass over the bytes of a reply in
//! its usual shape, with no serde machinery in between.
//!
//! It reads only what it can read exactly: an object whose values are
//! strings without escapes, integers, or the item list; items whose values
//! are strings without escapes or integers. On anything else (an escape,
//! a fraction, `null`, a nested value, a repeated field, malformed JSON) it
//! gives up and the caller reads the reply with serde, which decides and
//! words any error. So a reply read here gives the same items and envelope
//! as serde would give, and what it cannot read costs one aborted pass.
//! Items are checked by the same [`RawItem::finish`] as on the serde path.

use super::envelope::Envelope;
use super::{BatchReply, Loose, Payload, RawItem, ReplyItem};
use crate::request::first_to_escape;

/// The items and the envelope of a reply in the usual shape, or `None` to
/// read it the general way.
pub(crate) fn scan<P: Payload>(text: &str) -> Option<(BatchReply<P>, Envelope)> {
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut envelope = Envelope::default();
    let mut items = Vec::new();
    // Which of the list and the four envelope fields were seen.
    let mut seen = 0u8;
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if !s.eat_if(b'}') {
        loop {
            let key = s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            let bit = match key {
                k if k == P::LIST_FIELD => {
                    items = s.items::<P>()?;
                    1
                }
                "ErrorCode" => {
                    envelope.error_code = Some(s.int()?);
                    2
                }
                "ActionStatus" => {
                    envelope.action_status = Some(s.string()?.to_owned());
                    4
                }
                "ErrorInfo" => {
                    envelope.error_info = Some(s.string()?.to_owned());
                    8
                }
                "ErrorDisplay" => {
                    envelope.error_display = Some(s.string()?.to_owned());
                    16
                }
                _ => {
                    s.scalar()?;
                    0
                }
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if !s.next_member(b'}')? {
                break;
            }
        }
    }
    s.ws();
    (s.i == s.b.len()).then_some((BatchReply { items }, envelope))
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    fn eat_if(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    /// After a member: `,` and more to come (`true`), or the `close` (`false`).
    fn next_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        if self.eat_if(b',') {
            self.ws();
            Some(true)
        } else {
            self.eat(close)?;
            Some(false)
        }
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = first_to_escape(&self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Both ends are ASCII quotes: character boundaries of the text.
        self.text.get(start..start + len)
    }

    /// An integer that fits an `i64`: no fraction, exponent, leading zero or `-0`.
    fn int(&mut self) -> Option<i64> {
        let negative = self.eat_if(b'-');
        let start = self.i;
        let mut value: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i) {
            return None;
        }
        if negative {
            if value == 0 {
                return None;
            }
            0i64.checked_sub_unsigned(value)
        } else {
            i64::try_from(value).ok()
        }
    }

    /// A string or an integer, as an item's field holds it.
    fn scalar(&mut self) -> Option<Loose> {
        match self.b.get(self.i)? {
            b'"' => Some(Loose::Str(self.string()?.to_owned())),
            b'-' | b'0'..=b'9' => Some(Loose::Int(self.int()?)),
            _ => None,
        }
    }

    /// The item list.
    fn items<P: Payload>(&mut self) -> Option<Vec<ReplyItem<P>>> {
        self.eat(b'[')?;
        self.ws();
        let mut items = Vec::new();
        if self.eat_if(b']') {
            return Some(items);
        }
        loop {
            let item = match self.usual_item::<P>() {
                Some(item) => {
                    super::counted(super::FIXED_ORDER);
                    item
                }
                None => {
                    let item = self.item::<P>()?.finish();
                    super::counted(super::KEYED);
                    item
                }
            };
            items.push(item);
            if !self.next_member(b']')? {
                return Some(items);
            }
        }
    }

    /// An item exactly as the service writes it, read without a look-up per
    /// key: `{"To_Account":"…","ResultCode":N,"ResultInfo":"…"` then the
    /// payload's fields in their order, `,"Name":N` each, and `}`. Anything
    /// else leaves the position where it was, for [`item`](Self::item).
    fn usual_item<P: Payload>(&mut self) -> Option<ReplyItem<P>> {
        let at = self.i;
        let item = self.usual_item_here::<P>();
        if item.is_none() {
            self.i = at;
        }
        item
    }

    fn usual_item_here<P: Payload>(&mut self) -> Option<ReplyItem<P>> {
        const MOST: usize = 4;
        self.lit(b"{\"To_Account\":")?;
        let to_account = self.string()?;
        self.lit(b",\"ResultCode\":")?;
        let result_code = self.int()?;
        self.lit(b",\"ResultInfo\":")?;
        let result_info = self.string()?;
        let mut values = [0i64; MOST];
        let fields = P::FIELDS;
        if fields.len() > MOST {
            return None;
        }
        for (value, name) in values.iter_mut().zip(fields) {
            self.lit(b",\"")?;
            self.lit(name.as_bytes())?;
            self.lit(b"\":")?;
            *value = self.int()?;
        }
        self.lit(b"}")?;
        // As RawItem::finish decides: a payload only for an applied item.
        let (payload, problem) = match result_code {
            0 => match P::from_fields(&values[..fields.len()]) {
                Ok(p) => (Some(p), None),
                Err(why) => (None, Some(why)),
            },
            _ => (None, None),
        };
        Some(ReplyItem {
            to_account: to_account.to_owned(),
            result_code,
            result_info: result_info.to_owned(),
            payload,
            problem,
        })
    }

    /// The bytes `lit`, exactly.
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i + lit.len();
        (self.b.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// One item object, its fields not yet checked.
    fn item<P: Payload>(&mut self) -> Option<RawItem> {
        self.eat(b'{')?;
        self.ws();
        let mut raw = RawItem {
            to_account: None,
            result_code: None,
            result_info: None,
            payload: (0..P::FIELDS.len()).map(|_| None).collect(),
        };
        if self.eat_if(b'}') {
            return Some(raw);
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.scalar()?;
            let slot = match key {
                "To_Account" => &mut raw.to_account,
                "ResultCode" => &mut raw.result_code,
                "ResultInfo" => &mut raw.result_info,
                k => match P::FIELDS.iter().position(|f| *f == k) {
                    Some(i) => &mut raw.payload[i],
                    None => &mut None,
                },
            };
            if slot.replace(value).is_some() {
                return None; // a repeated field: serde decides
            }
            if !self.next_member(b'}')? {
                return Some(raw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_response;
    use crate::{FollowCounts, FollowType};

    /// The fast path, when it reads `text`, agrees with serde.
    fn agrees<P: Payload>(text: &str) -> bool {
        let Some((reply, envelope)) = scan::<P>(text) else {
            return false;
        };
        let fast = envelope.check("REST API", text.as_bytes()).map(|()| reply);
        let slow = parse_response::<BatchReply<P>>(200, text.as_bytes());
        assert_eq!(fast, slow, "{text}");
        true
    }

    #[test]
    fn the_usual_replies_are_read_here_and_as_serde_reads_them() {
        let usual = r#"{"ResultItem":[{"To_Account":"a","ResultCode":0,"ResultInfo":""},{"To_Account":"b","ResultCode":30003,"ResultInfo":"no such user"}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
        assert!(agrees::<()>(usual));
        assert!(agrees::<()>(
            " {\n \"ErrorCode\" : 0 ,\t\"ResultItem\" : [ ] , \"X\": -5, \"Y\": \"z\" }\r\n"
        ));
        assert!(agrees::<()>(r#"{}"#));
        assert!(agrees::<()>(
            r#"{"ErrorCode":70001,"ErrorInfo":"sig expired","ActionStatus":"FAIL"}"#
        ));
        assert!(agrees::<FollowType>(
            r#"{"ErrorCode":0,"ResultItem":[{"To_Account":"a","ResultCode":0,"FollowType":3},{"To_Account":"b","ResultCode":0},{}]}"#
        ));
        assert!(agrees::<FollowCounts>(
            r#"{"ErrorCode":0,"FollowInfo":[{"To_Account":"a","ResultCode":0,"FollowerCount":1,"FollowingCount":2,"MutualFollowingCount":-1}]}"#
        ));
        // The documented sample (spec §3.5), read by the fixed-order pass.
        let sample = r#"{"FollowInfo":[{"To_Account":"UserID_001","ResultCode":0,"ResultInfo":"","FollowerCount":0,"FollowingCount":2,"MutualFollowingCount":0}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
        assert!(agrees::<FollowCounts>(sample));
        let mut s = Scanner {
            text: sample,
            b: sample.as_bytes(),
            i: sample.find('[').unwrap_or(0) + 1,
        };
        let item = s.usual_item::<FollowCounts>().expect("fixed-order item");
        assert_eq!(
            item.payload.map(|c| (c.followers, c.following, c.mutual)),
            Some((0, 2, 0))
        );
        // Mistyped item fields are the items' problems, as on the serde path.
        assert!(agrees::<()>(
            r#"{"ErrorCode":0,"ResultItem":[{"To_Account":7,"ResultCode":"0"}]}"#
        ));
        assert!(agrees::<()>(
            r#"{"ErrorCode":0,"ResultItem":[{"To_Account":"é","ResultCode":-9223372036854775808}]}"#
        ));
    }

    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [b'"', b'\\', 0, 0x1f, b'\n'] {
                    let mut b: Vec<u8> = (0..len).map(|i| b"az_\x7f\xc3\xa9 !"[i % 8]).collect();
                    if at < len {
                        b[at] = c;
                    }
                    let want = b.iter().position(|&x| x == b'"' || x == b'\\' || x < 0x20);
                    assert_eq!(first_to_escape(&b), want, "{b:?}");
                    // A second one later never hides the first.
                    if at + 1 < len {
                        b[len - 1] = b'"';
                        let want = b.iter().position(|&x| x == b'"' || x == b'\\' || x < 0x20);
                        assert_eq!(first_to_escape(&b), want, "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for text in [
            r#"{"ErrorCode":0,"ResultItem":[{"To_Account":"a\"b","ResultCode":0}]}"#,
            r#"{"ErrorCode":0.0}"#,
            r#"{"ErrorCode":1e3}"#,
            r#"{"ErrorCode":-0}"#,
            r#"{"ErrorCode":01}"#,
            r#"{"ErrorCode":9223372036854775808}"#,
            r#"{"ErrorCode":null}"#,
            r#"{"ErrorCode":0,"ErrorCode":1}"#,
            r#"{"ErrorCode":0,"ResultItem":[{"To_Account":"a","To_Account":"b"}]}"#,
            r#"{"ErrorCode":0,"ResultItem":[],"ResultItem":[]}"#,
            r#"{"ErrorCode":0,"ResultItem":[{"ResultCode":null}]}"#,
            r#"{"ErrorCode":0,"X":{"a":1}}"#,
            r#"{"ErrorCode":0,"X":true}"#,
            r#"{"ErrorCode":0,}"#,
            r#"{"ErrorCode":0,"ResultItem":[{},]}"#,
            r#"{"ErrorCode":0} x"#,
            r#"{"ErrorCode":0"#,
            "{\"ErrorCode\":0,\"ErrorInfo\":\"a\tb\"}",
            r#"["ErrorCode",0]"#,
            "",
            "\u{feff}{}",
        ] {
            assert!(scan::<()>(text).is_none(), "{text}");
        }
    }
}
