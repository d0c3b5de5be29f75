//! The account-id checks every request makes before it is sent.

use super::MAX_ACCOUNT_BYTES;
use crate::error::{Error, Field};

#[cfg(test)]
thread_local! {
    static VALIDATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many account ids this thread has validated (tests of "validate once").
#[cfg(test)]
pub(crate) fn validations() -> usize {
    VALIDATIONS.with(|v| v.get())
}

/// Checks one account id: non-empty and at most 32 bytes.
pub fn validate_account(field: Field, id: &str) -> Result<(), Error> {
    #[cfg(test)]
    VALIDATIONS.with(|v| v.set(v.get() + 1));
    // Fast path: 1–32 bytes of printable ASCII, the usual UserID.
    if !id.is_empty()
        && id.len() <= MAX_ACCOUNT_BYTES
        && id.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Ok(());
    }
    if id.is_empty() {
        return Err(Error::invalid(field, "account id is empty"));
    }
    if id.len() > MAX_ACCOUNT_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "account id is {} bytes; at most {MAX_ACCOUNT_BYTES} are allowed",
                id.len()
            ),
        ));
    }
    let bytes = id.as_bytes();
    // Control characters: C0 and DEL (one byte), C1 (0xC2 0x80..=0x9F in UTF-8).
    let control = bytes.iter().any(|&b| b < 0x20 || b == 0x7f)
        || bytes
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    if control {
        return Err(Error::invalid(
            field,
            "account id contains a control character",
        ));
    }
    Ok(())
}

/// Checks a target list: non-empty, at most `max` ids, each valid.
pub(crate) fn validate_targets<S: AsRef<str>>(
    field: &'static str,
    ids: &[S],
    max: usize,
) -> Result<(), Error> {
    if ids.is_empty() {
        return Err(Error::invalid(Field::Other(field), "the list is empty"));
    }
    if ids.len() > max {
        return Err(Error::invalid(
            Field::Other(field),
            format!(
                "{} accounts in one request; at most {max} are allowed (Client splits longer lists)",
                ids.len()
            ),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        validate_account_at(field, i, id.as_ref())?;
    }
    Ok(())
}

/// Checks the id at `index` of the list `field`, naming it `field[index]`.
pub(crate) fn validate_account_at(list: &'static str, index: usize, id: &str) -> Result<(), Error> {
    // Naming the item only on failure keeps the happy path allocation-free.
    validate_account(Field::Other(list), id).map_err(|e| match e {
        Error::InvalidInput(mut inv) => {
            inv.field = Field::ListItem {
                list,
                index,
                id: id.to_string(),
            };
            Error::InvalidInput(inv)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_validation() {
        assert!(validate_account(Field::FromAccount, "UserID_001").is_ok());
        assert!(validate_account(Field::FromAccount, &"a".repeat(32)).is_ok());
        let e = validate_account(Field::FromAccount, &"a".repeat(33)).unwrap_err();
        assert!(e.to_string().contains("33 bytes"), "{e}");
        assert!(validate_account(Field::Other("x"), "").is_err());
        assert!(validate_account(Field::Other("x"), "a\nb").is_err());
        // 11 three-byte characters are 33 bytes.
        assert!(validate_account(Field::Other("x"), &"好".repeat(11)).is_err());
        let e = validate_targets("To_Account", &["a", "", "c"], 20).unwrap_err();
        assert!(e.to_string().contains("To_Account[1]"), "{e}");
        let e = validate_targets::<&str>("To_Account", &[], 20).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
