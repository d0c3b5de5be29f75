//! What the client does, on stderr: `-v` (info), `-vv` (debug), or
//! `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, optionally as
//! `tim_follow=debug`); warnings are shown by default. The library never
//! logs a UserSig or a SecretKey.

use log::{LevelFilter, Log, Metadata, Record};

struct Stderr {
    level: LevelFilter,
}

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level && metadata.target().starts_with("tim_follow")
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            eprintln!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// The level from `-v` flags, else from `RUST_LOG`, else warnings.
fn level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => {}
        1 => return LevelFilter::Info,
        2 => return LevelFilter::Debug,
        _ => return LevelFilter::Trace,
    }
    let from_env = std::env::var("RUST_LOG").ok().and_then(|v| {
        v.split(',')
            .rev()
            .filter_map(|part| match part.split_once('=') {
                Some((target, level)) if target.trim() == "tim_follow" => Some(level.to_string()),
                Some(_) => None,
                None => Some(part.to_string()),
            })
            .next()
            .and_then(|level| level.trim().parse::<LevelFilter>().ok())
    });
    from_env.unwrap_or(LevelFilter::Warn)
}

/// Installs the logger once.
pub(crate) fn init(verbose: u8) {
    let level = level(verbose);
    let logger: &'static Stderr = Box::leak(Box::new(Stderr { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
