//! The wall clock, read in one place. The sans-IO layers take the time as an
//! argument; only the `*_now` conveniences read it here.

/// The current Unix time in seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
