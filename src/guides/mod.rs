//! Guides for the crate's three kinds of users. Documentation only: these
//! modules hold no items.

#[doc = include_str!("service.md")]
pub mod service {}

#[doc = include_str!("build_script.md")]
#[allow(clippy::needless_doctest_main)] // a build script is a `main`
pub mod build_script {}

#[doc = include_str!("embedded.md")]
pub mod embedded {}
