//! The crate's one way of taking a lock.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, carrying on after a panic in another holder: every value kept
/// behind the crate's mutexes (counters, caches, schedules) stays valid
/// whatever step a panicking thread stopped at.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes `l` for writing, on the same terms as [`lock`].
#[cfg_attr(not(feature = "usersig"), allow(dead_code))]
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Takes `l` for reading, on the same terms as [`lock`].
#[cfg_attr(not(feature = "usersig"), allow(dead_code))]
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
