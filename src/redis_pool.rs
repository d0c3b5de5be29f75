//! Connections to one Redis (feature `redis`), reused and timed out: what
//! the shared rate budget and the receivers' shared repeat check both need.

use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;
use crate::redact;
use crate::sync::lock;

/// A Redis URL's client and its idle connections. A connection that fails
/// is dropped; the next call connects again.
pub(crate) struct Pool {
    client: ::redis::Client,
    /// What the URL carries that no error or log line may show.
    secrets: Vec<String>,
    idle: Mutex<Vec<::redis::Connection>>,
    /// The longest a connect, a read or a write may take.
    timeout: Duration,
}

impl Pool {
    /// A pool for `url`; nothing is connected yet, so an unreachable
    /// server is not an error here, a bad URL is.
    ///
    /// The error shows the URL without its userinfo or password.
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<Pool, Error> {
        let secrets = redact::secrets(url);
        let client = ::redis::Client::open(url).map_err(|e| {
            let why = redact::scrub(&e.to_string(), &secrets);
            Error::invalid(
                crate::error::Field::RedisUrl,
                format!("{:?}: {why}", redact::url(url)),
            )
        })?;
        Ok(Pool {
            client,
            secrets,
            idle: Mutex::new(Vec::new()),
            timeout,
        })
    }

    /// A Redis error as a log line may show it: without the URL's secrets.
    pub(crate) fn describe(&self, e: &::redis::RedisError) -> String {
        redact::scrub(&e.to_string(), &self.secrets)
    }

    /// Runs `f` on an idle connection, or a new one; keeps it for the next
    /// call only if `f` succeeded.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut ::redis::Connection) -> ::redis::RedisResult<T>,
    ) -> ::redis::RedisResult<T> {
        let mut con = match lock(&self.idle).pop() {
            Some(con) => con,
            None => {
                let con = self.client.get_connection_with_timeout(self.timeout)?;
                con.set_read_timeout(Some(self.timeout))?;
                con.set_write_timeout(Some(self.timeout))?;
                con
            }
        };
        let out = f(&mut con)?;
        lock(&self.idle).push(con);
        Ok(out)
    }

    /// Drops the idle connections (Redis went away).
    pub(crate) fn clear(&self) {
        lock(&self.idle).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        for url in [
            "rediss://user:PASSWORD@cache.example:notaport",
            "redis+bogus://user:PASSWORD@h",
            "redis://h:6379/notadb?password=PASSWORD",
        ] {
            let Err(e) = Pool::open(url, Duration::from_millis(10)) else {
                panic!("{url} was accepted");
            };
            let text = format!("{e} {e:?}");
            assert!(!text.contains("PASSWORD"), "{text}");
            assert!(text.contains("redis_url"), "{text}");
        }
    }
}
