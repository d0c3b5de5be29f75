//! Secrets that never show themselves, and the constant-time comparison used
//! to check signatures. Shared by the signer, `usersig` and `callback`.

use std::fmt;
use std::sync::Arc;

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Arc<str>);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Secret {
        Secret(Arc::from(s.into()))
    }

    /// Without surrounding whitespace (a trailing newline from a file, a
    /// space from a copy): a SecretKey or UserSig never holds any.
    pub(crate) fn trimmed(s: impl Into<String>) -> Secret {
        let s = s.into();
        match s.trim() {
            t if t.len() == s.len() => Secret::new(s),
            t => Secret::new(t),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Compares two byte strings in time that depends only on their lengths.
#[cfg_attr(not(feature = "usersig"), allow(dead_code))]
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_compare_is_exact() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
