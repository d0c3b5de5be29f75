//! Where the admin UserSig comes from: a fixed one, or one generated from the
//! SecretKey, cached and renewed before it expires.

#[cfg(feature = "usersig")]
use std::fmt;
#[cfg(feature = "usersig")]
use std::sync::RwLock;
#[cfg(feature = "usersig")]
use std::time::Duration;

#[cfg(feature = "usersig")]
use crate::clock::unix_now;
use crate::secret::Secret;

/// The admin UserSig source of a client.
#[derive(Debug)]
pub(crate) enum Signer {
    /// A pre-generated UserSig, used as is.
    Fixed(Secret),
    /// Generated from the SecretKey and renewed.
    #[cfg(feature = "usersig")]
    Key(KeySigner),
}

impl Signer {
    /// The UserSig to send now.
    #[inline(never)] // a stage of its own in profiles (benches/stages.py)
    pub(crate) fn current(&self) -> Secret {
        match self {
            Signer::Fixed(s) => s.clone(),
            #[cfg(feature = "usersig")]
            Signer::Key(k) => k.current_at(unix_now()),
        }
    }

    /// Drops `used` if it is still the cached UserSig, so that the next call
    /// makes a new one. Returns whether a new one can be made (a SecretKey is set).
    pub(crate) fn invalidate(&self, used: &Secret) -> bool {
        match self {
            Signer::Fixed(_) => {
                let _ = used;
                false
            }
            #[cfg(feature = "usersig")]
            Signer::Key(k) => {
                k.invalidate(used);
                true
            }
        }
    }

    /// Every secret this signer knows, for redaction.
    pub(crate) fn secrets(&self) -> Vec<Secret> {
        match self {
            Signer::Fixed(s) => vec![s.clone()],
            #[cfg(feature = "usersig")]
            Signer::Key(k) => {
                let mut v = vec![k.key.clone()];
                if let Some(c) = crate::sync::read(&k.cache).as_ref() {
                    v.push(c.sig.clone());
                }
                v
            }
        }
    }
}

#[cfg(feature = "usersig")]
pub(crate) struct KeySigner {
    sdkappid: u64,
    identifier: String,
    key: Secret,
    validity: Duration,
    cache: RwLock<Option<Cached>>,
    /// How many UserSigs were made (for the tests of the renewal rule).
    #[cfg(test)]
    generated: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "usersig")]
struct Cached {
    sig: Secret,
    renew_at: u64,
}

#[cfg(feature = "usersig")]
impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("identifier", &self.identifier)
            .field("key", &self.key)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "usersig")]
impl KeySigner {
    pub(crate) fn new(sdkappid: u64, identifier: &str, key: Secret, validity: Duration) -> Self {
        KeySigner {
            sdkappid,
            identifier: identifier.to_string(),
            key,
            validity,
            cache: RwLock::new(None),
            #[cfg(test)]
            generated: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How long before expiry a UserSig is renewed: a tenth of its validity,
    /// at least 5 minutes, but never more than half of it.
    pub(crate) fn margin(validity: Duration) -> u64 {
        let v = validity.as_secs();
        (v / 10).max(300).min(v / 2)
    }

    pub(crate) fn current_at(&self, now: u64) -> Secret {
        // Fast path: a shared read lock, no allocation but an Arc clone.
        if let Some(c) = crate::sync::read(&self.cache).as_ref() {
            if now < c.renew_at {
                return c.sig.clone();
            }
        }
        // Slow path: one thread regenerates; the others wait and reuse its result.
        let mut guard = crate::sync::write(&self.cache);
        if let Some(c) = guard.as_ref() {
            if now < c.renew_at {
                return c.sig.clone();
            }
        }
        log::debug!(
            "tim-follow: generating the admin UserSig of {} (valid {} s)",
            self.identifier,
            self.validity.as_secs()
        );
        let sig = Secret::new(crate::usersig::generate_at(
            self.sdkappid,
            self.key.expose(),
            &self.identifier,
            self.validity,
            now,
        ));
        #[cfg(test)]
        self.generated
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let renew_at = now.saturating_add(self.validity.as_secs() - Self::margin(self.validity));
        *guard = Some(Cached {
            sig: sig.clone(),
            renew_at,
        });
        sig
    }

    fn invalidate(&self, used: &Secret) {
        let mut guard = crate::sync::write(&self.cache);
        if guard.as_ref().is_some_and(|c| &c.sig == used) {
            *guard = None;
        }
    }

    #[cfg(test)]
    fn generations(&self) -> u64 {
        self.generated.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(all(test, feature = "usersig"))]
mod tests {
    use super::*;
    use crate::usersig;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    fn signer(validity_secs: u64) -> KeySigner {
        KeySigner::new(
            1400000000,
            "administrator",
            Secret::new(KEY),
            Duration::from_secs(validity_secs),
        )
    }

    #[test]
    fn margin_is_a_tenth_at_least_five_minutes_at_most_half() {
        assert_eq!(KeySigner::margin(Duration::from_secs(86400)), 8640);
        assert_eq!(KeySigner::margin(Duration::from_secs(3600)), 360);
        assert_eq!(KeySigner::margin(Duration::from_secs(1200)), 300);
        assert_eq!(KeySigner::margin(Duration::from_secs(400)), 200);
    }

    #[test]
    fn cached_until_the_margin_then_renewed_and_never_expired_when_sent() {
        let s = signer(3600);
        let t0 = 1_700_000_000;
        let first = s.current_at(t0);
        // Every second of a simulated 10 hours: the sig in use is always valid
        // for at least the margin, and is regenerated only when needed.
        for t in (t0..t0 + 36_000).step_by(7) {
            let sig = s.current_at(t);
            let c = usersig::verify_at(sig.expose(), 1400000000, KEY, "administrator", t)
                .expect("never an expired or wrong sig");
            assert!(
                c.expires_at() >= t + 360,
                "at {t} it expires at {}",
                c.expires_at()
            );
        }
        assert_eq!(s.current_at(t0), s.current_at(t0 + 1));
        assert_ne!(first.expose(), s.current_at(t0 + 36_000).expose());
        // 10 hours with 3240 s per sig: about 11 generations, not thousands.
        let g = s.generations();
        assert!((11..=13).contains(&g), "{g} generations");
    }

    #[test]
    fn eight_threads_share_one_renewal() {
        let s = std::sync::Arc::new(signer(3600));
        let t0 = 1_700_000_000u64;
        s.current_at(t0);
        let before = s.generations();
        // All threads cross the renewal point at once.
        let renew = t0 + 3600 - 360;
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..200 {
                        let t = renew + i;
                        let sig = s.current_at(t);
                        assert!(usersig::verify_at(
                            sig.expose(),
                            1400000000,
                            KEY,
                            "administrator",
                            t
                        )
                        .is_ok());
                    }
                });
            }
        });
        assert_eq!(s.generations() - before, 1, "exactly one renewal");
    }

    #[test]
    fn invalidate_forces_a_new_sig_only_for_the_one_used() {
        let s = signer(3600);
        let a = s.current_at(100);
        s.invalidate(&Secret::new("something else"));
        assert_eq!(s.current_at(101), a);
        s.invalidate(&a);
        let b = s.current_at(102);
        assert_ne!(a, b);
        assert_eq!(s.generations(), 2);
    }

    #[test]
    fn debug_never_shows_the_key_or_sig() {
        let s = Signer::Key(signer(3600));
        let sig = s.current();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(KEY) && !dbg.contains(sig.expose()), "{dbg}");
    }
}
