//! Reading an events file back at start: a torn last line cut off, the
//! keys of its recent events remembered for the repeat check.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use tim_follow::receiver::Remembered;

use super::{REMEMBERED, REMEMBER_FOR};
use crate::Failure;

/// Cuts a torn last line (left by a crash) off the file, remembers the
/// keys of the events in it, and says on stderr what it skipped; returns
/// the length of its whole lines.
pub(super) fn read_back(
    file: &mut File,
    path: &Path,
    remembered: &Remembered,
) -> Result<u64, Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::Other(format!("{what} {}: {e}", path.display()));
    let whole = whole_length(file).map_err(|e| fail("cannot read", e))?;
    let len = file.metadata().map_err(|e| fail("cannot read", e))?.len();
    if whole < len {
        eprintln!(
            "{}: cut off a torn last line ({} bytes) left by a crash",
            path.display(),
            len - whole
        );
        file.set_len(whole).map_err(|e| fail("cannot cut", e))?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| fail("cannot read", e))?;
    let loaded = reload(file, remembered).map_err(|e| fail("cannot read", e))?;
    if loaded.damaged > 0 {
        eprintln!(
            "{}: skipped {} damaged line(s) (not JSON, not UTF-8 or longer than {} KiB; \
             the first is line {})",
            path.display(),
            loaded.damaged,
            MAX_LINE / 1024,
            loaded.first_damaged
        );
    }
    if loaded.recent > REMEMBERED {
        eprintln!(
            "{}: {} events of the last 24 h; the repeat check remembers the latest {REMEMBERED}",
            path.display(),
            loaded.recent
        );
    }
    Ok(whole)
}

/// The longest line read back from an events file.
const MAX_LINE: usize = 256 * 1024;

/// What [`reload`] found.
#[derive(Debug, Default)]
struct Reloaded {
    /// Events within the repeat window, remembered.
    recent: usize,
    /// Lines skipped, and the number of the first.
    damaged: usize,
    first_damaged: usize,
}

/// Remembers the key of every event of the file whose `EventTime` (or,
/// for other commands, whose arrival) is within the repeat window, as
/// handled that long ago. The key is computed again from the event's
/// parts. A damaged line (not UTF-8, not JSON, too long) is skipped and
/// counted; reading goes on.
fn reload(file: &mut File, remembered: &Remembered) -> std::io::Result<Reloaded> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut found = Reloaded::default();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        number += 1;
        let mut damaged = false;
        if line.last() != Some(&b'\n') && n > MAX_LINE {
            // Too long: skip the rest of it, in bounded steps.
            damaged = true;
            skip_line(&mut reader)?;
        }
        let event = (!damaged)
            .then(|| serde_json::from_slice::<Stored>(&line).ok())
            .flatten()
            .and_then(|v| v.key());
        match event {
            Some((key, at_ms)) => {
                let age = Duration::from_millis(now_ms.saturating_sub(at_ms));
                if age <= REMEMBER_FOR {
                    found.recent += 1;
                    remembered.insert_aged(&key, age);
                }
            }
            None => {
                found.damaged += 1;
                if found.first_damaged == 0 {
                    found.first_damaged = number;
                }
            }
        }
    }
    Ok(found)
}

/// The fields of a stored event that its key and time come from.
#[derive(serde::Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    command: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    from: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(default)]
    event_time: Option<u64>,
    #[serde(borrow, default)]
    key: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    received_at: Option<u64>,
}

impl Stored<'_> {
    /// The key of a stored event and when it happened (ms): computed again
    /// from a follow event's parts, as stored for other commands.
    fn key(&self) -> Option<(String, u64)> {
        if let (Some(from), Some(to), Some(at)) = (&self.from, &self.to, self.event_time) {
            let key = tim_follow::receiver::follow_key(&self.command, from, to, at);
            return Some((key, at));
        }
        Some((self.key.as_deref()?.to_string(), self.received_at?))
    }
}

/// The length of a file's whole lines (up to its last newline).
fn whole_length(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut at = len;
    let mut buf = [0u8; 4096];
    while at > 0 {
        let n = (at as usize).min(buf.len());
        file.seek(SeekFrom::Start(at - n as u64))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(at - n as u64 + i as u64 + 1);
        }
        at -= n as u64;
    }
    Ok(0)
}

/// Skips the rest of a line, up to and with its newline, in bounded steps.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = buf.len();
                reader.consume(len);
            }
        }
    }
}
