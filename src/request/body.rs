//! The JSON bodies of the batch requests, written without serde: the bytes
//! serde_json writes for the request structs.

/// Appends `s` to `out` as a JSON string, escaped byte for byte as
/// serde_json escapes it (`"`, `\\`, and control characters; nothing else).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = first_to_escape(rest) {
        out.extend_from_slice(&rest[..at]);
        let b = rest[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The index of the first byte of `b` a JSON string must escape (`"`, `\\`
/// or a control character), eight bytes at a time.
pub(crate) fn first_to_escape(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Each byte's high bit set where the byte is zero (exact for the lowest
    // such byte, which is all that is used).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20: subtracting 0x20 borrows into the high bit.
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

/// The body of a batch request, `{"From_Account":from,"<field>":[...]}`, the
/// targets as strings or, `wrapped`, as `{"To_Account":target}` objects:
/// the bytes serde_json writes for the request structs, without serde.
#[inline(never)] // a stage of its own in profiles (benches/stages.py)
pub(crate) fn batch_body<S: AsRef<str>>(
    from: &str,
    field: &str,
    to: &[S],
    wrapped: bool,
) -> Vec<u8> {
    let per = if wrapped { 18 } else { 3 };
    let size =
        24 + from.len() + field.len() + to.iter().map(|t| t.as_ref().len() + per).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"From_Account\":");
    push_json_str(&mut out, from);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, t) in to.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if wrapped {
            out.extend_from_slice(b"{\"To_Account\":");
            push_json_str(&mut out, t.as_ref());
            out.push(b'}');
        } else {
            push_json_str(&mut out, t.as_ref());
        }
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let every: String = (0u8..=0x7f)
            .map(char::from)
            .chain("é\u{2028}😀".chars())
            .collect();
        for s in [every.as_str(), "", "plain", "a\"b\\c"] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
