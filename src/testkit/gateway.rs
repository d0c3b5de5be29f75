//! The emulator's gateway: the REST checks every request passes before an
//! endpoint sees it (the URL's parameters, the UserSig, the admin
//! identifier) and the per-API rate limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;
use crate::usersig::{self, VerifyError};

/// A refusal: the `ErrorCode` and the `ErrorInfo` answered.
pub(crate) type Refusal = (i64, String);

fn err<T>(code: i64, info: impl Into<String>) -> Result<T, Refusal> {
    Err((code, info.into()))
}

/// The credentials the gateway accepts.
pub(crate) struct Credentials<'a> {
    pub sdkappid: u64,
    pub admin: &'a str,
    pub secret_key: &'a str,
}

/// `servicename/command` and the query of a request target.
pub(crate) fn split_target(target: &str) -> (String, &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.trim_start_matches('/');
    (path.strip_prefix("v4/").unwrap_or(path).to_string(), query)
}

/// The code a valid UserSig of another identifier than the App admin gets
/// on `path`: 30004 on the follow service (spec §9, from the error-code
/// FAQ), 70403 on the account-import service (spec §8), and 60010, the
/// public REST code for "needs App admin permission" (spec §2.1), anywhere
/// else.
pub(crate) fn not_admin_code(path: &str) -> i64 {
    if path.starts_with("follow/") {
        30004
    } else if path.starts_with("im_open_login_svc/") {
        70403
    } else {
        60010
    }
}

/// The REST checks, in the order the gateway applies them.
pub(crate) fn authenticate(
    creds: &Credentials<'_>,
    path: &str,
    query: &[(String, String)],
) -> Result<(), Refusal> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(sdkappid) = get("sdkappid") else {
        return err(60012, "sdkappid is missing from the URL");
    };
    let Ok(sdkappid) = sdkappid.parse::<u64>() else {
        return err(60002, "sdkappid is not a number");
    };
    if sdkappid != creds.sdkappid {
        return err(
            70020,
            "SDKAppID not found (check the SDKAppID and the data center)",
        );
    }
    let Some(identifier) = get("identifier").filter(|s| !s.is_empty()) else {
        return err(60004, "identifier is missing from the URL");
    };
    let Some(sig) = get("usersig") else {
        return err(60004, "usersig is missing from the URL");
    };
    if sig.is_empty() {
        return err(70002, "usersig is empty");
    }
    match get("random").map(str::parse::<u32>) {
        Some(Ok(_)) => {}
        Some(Err(_)) => return err(60002, "random must be an integer from 0 to 4294967295"),
        None => return err(60002, "random is missing from the URL"),
    }
    if get("contenttype") != Some("json") {
        return err(60002, "contenttype must be json");
    }
    usersig::verify(sig, sdkappid, creds.secret_key, identifier).map_err(refusal)?;
    if identifier != creds.admin {
        return err(
            not_admin_code(path),
            "the request needs App admin permission",
        );
    }
    Ok(())
}

/// The code and text for a UserSig that does not verify.
fn refusal(e: VerifyError) -> Refusal {
    match e {
        VerifyError::Malformed(why) => (70003, format!("usersig is malformed: {why}")),
        VerifyError::BadSignature => (70009, "usersig verification failed (wrong key?)".into()),
        VerifyError::Expired { .. } => (70001, "usersig expired".into()),
        VerifyError::IdentifierMismatch { .. } => (
            70013,
            "identifier in the URL differs from the one in usersig".into(),
        ),
        VerifyError::SdkAppIdMismatch { .. } => (
            70014,
            "sdkappid in the URL differs from the one in usersig".into(),
        ),
        // Which code the service gives a PrivateMapKey is not documented.
        e @ (VerifyError::UnexpectedUserBuf | VerifyError::UserBufMismatch) => {
            (70003, format!("usersig is malformed: {e}"))
        }
    }
}

/// Calls per second per API, over a sliding one-second window.
pub(crate) struct RateLimit {
    setting: Mutex<(Option<u32>, i64)>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimit {
    pub(crate) fn new(per_second: Option<u32>, code: i64) -> RateLimit {
        RateLimit {
            setting: Mutex::new((per_second, code)),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn set(&self, per_second: Option<u32>, code: i64) {
        *lock(&self.setting) = (per_second, code);
    }

    /// Counts a call to `path` that arrived at `now`, or refuses it when
    /// the window before it is full.
    pub(crate) fn admit(&self, path: &str, now: Instant) -> Result<(), Refusal> {
        let (limit, code) = *lock(&self.setting);
        let Some(limit) = limit else {
            return Ok(());
        };
        let mut windows = lock(&self.windows);
        let window = windows.entry(path.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return err(code, format!("{path}: over {limit} calls per second"));
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_admin_gets_the_code_documented_for_its_service() {
        assert_eq!(not_admin_code("follow/follow_add"), 30004);
        assert_eq!(not_admin_code("im_open_login_svc/account_import"), 70403);
        assert_eq!(not_admin_code("group_open_http_svc/get_group_list"), 60010);
    }

    #[test]
    fn the_rate_limit_refuses_past_the_window_and_per_api() {
        let limit = RateLimit::new(Some(2), 60007);
        let t = Instant::now();
        assert!(limit.admit("a", t).is_ok());
        assert!(limit.admit("a", t).is_ok());
        assert_eq!(limit.admit("a", t).map_err(|e| e.0), Err(60007));
        assert!(limit.admit("b", t).is_ok());
        let later = t + Duration::from_secs(1);
        assert!(limit.admit("a", later).is_ok(), "a second after");
        limit.set(None, 60007);
        assert!(limit.admit("a", later).is_ok());
    }
}
