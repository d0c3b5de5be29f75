//! An input file read as the first pass read it: hashed in blocks on the
//! first pass ([`Tee`]), each block checked before its lines are served
//! again ([`Checked`]), and indexed by request for an undo's cross-check
//! ([`IndexedInput`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::format::InputFile;
use super::plan::{entry, Cutter, Entry, InputLines, Request};
use super::JobError;

/// The size of the blocks an input file is hashed in on the first pass and
/// checked in as it is read again for sending: 32 bytes of memory a MiB.
pub(crate) const INPUT_BLOCK: usize = 1 << 20;

/// A file read through a hash: what passed through it is the file as the
/// job saw it, whole and block by block.
pub(super) struct Tee {
    inner: File,
    hash: hmac_sha256::Hash,
    size: u64,
    block: usize,
    /// The hash of the block being read, and its bytes so far.
    open: hmac_sha256::Hash,
    in_open: usize,
    hashes: Vec<[u8; 32]>,
}

impl Tee {
    pub(super) fn open(path: &Path, block: usize) -> Result<Tee, JobError> {
        let inner = File::open(path).map_err(|e| JobError::io(path, "cannot open", e))?;
        Ok(Tee {
            inner,
            hash: hmac_sha256::Hash::new(),
            size: 0,
            block: block.max(1),
            open: hmac_sha256::Hash::new(),
            in_open: 0,
            hashes: Vec::new(),
        })
    }

    /// The file as read so far: its absolute path, size and SHA-256, and
    /// the SHA-256 of each block.
    pub(super) fn input(mut self, path: &Path) -> Result<InputFile, JobError> {
        let abs = std::fs::canonicalize(path).map_err(|e| JobError::io(path, "cannot open", e))?;
        if self.in_open > 0 {
            self.hashes.push(self.open.finalize());
        }
        let sha256 = self
            .hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(InputFile {
            path: abs,
            size: self.size,
            sha256,
            blocks: Blocks {
                size: self.block,
                hashes: std::sync::Arc::new(self.hashes),
            },
        })
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let take = rest.len().min(self.block - self.in_open);
            self.open.update(&rest[..take]);
            self.in_open += take;
            rest = &rest[take..];
            if self.in_open == self.block {
                let done = std::mem::replace(&mut self.open, hmac_sha256::Hash::new());
                self.hashes.push(done.finalize());
                self.in_open = 0;
            }
        }
        Ok(n)
    }
}

/// The blocks of an input file as its first pass hashed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// Bytes a block (the last one may be shorter).
    pub size: usize,
    /// The SHA-256 of each block, in order.
    pub hashes: std::sync::Arc<Vec<[u8; 32]>>,
}

/// A block of the input that is not what the first pass read: carried
/// inside an I/O error from [`Checked`] to [`InputLines`].
#[derive(Debug)]
pub(super) struct Changed {
    pub(super) offset: u64,
    pub(super) block: u64,
    pub(super) size: u64,
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block {} (from byte {}) changed",
            self.block, self.offset
        )
    }
}

impl std::error::Error for Changed {}

/// An input file read again for sending, a whole block at a time: a block
/// is served only once its SHA-256 is the one the first pass found, so no
/// line of a changed block ever leaves.
pub(crate) struct Checked {
    file: File,
    blocks: Blocks,
    /// The size of the file on the first pass.
    size: u64,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl Checked {
    /// The file at `path`, to be read as `input` was on the first pass.
    pub(crate) fn open(input: &InputFile, path: &Path) -> Result<Checked, JobError> {
        let file = File::open(path).map_err(|e| JobError::io(path, "cannot open", e))?;
        Ok(Checked {
            file,
            blocks: input.blocks.clone(),
            size: input.size,
            next: 0,
            buf: Vec::new(),
            pos: 0,
        })
    }

    fn load(&mut self) -> std::io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        let size = self.blocks.size as u64;
        (&mut self.file).take(size).read_to_end(&mut self.buf)?;
        let i = self.next;
        let changed = match self.blocks.hashes.get(i) {
            None => !self.buf.is_empty(),
            Some(want) => hmac_sha256::Hash::hash(&self.buf) != *want,
        };
        if changed {
            self.buf.clear();
            return Err(std::io::Error::other(Changed {
                offset: i as u64 * size,
                block: i as u64,
                size: self.size,
            }));
        }
        if !self.buf.is_empty() {
            self.next += 1;
        }
        Ok(())
    }
}

impl Read for Checked {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Checked {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.load()?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

/// Where each request of an input file starts: 8 bytes a request, so that
/// one request can be read again alone ([`IndexedInput::request`]).
pub(crate) struct IndexedInput {
    file: File,
    path: std::path::PathBuf,
    from: Option<String>,
    /// A snapshot (of a restore), not lines of ids or pairs.
    snapshot: bool,
    starts: Vec<u64>,
}

impl IndexedInput {
    /// Reads a file of ids (of `from`) or pairs whole: where each request
    /// starts, its size and SHA-256.
    pub(crate) fn open(
        path: &Path,
        from: Option<&str>,
    ) -> Result<(IndexedInput, InputFile), JobError> {
        IndexedInput::index(path, from, false)
    }

    /// [`open`](Self::open) for the snapshot of a restore: its relations
    /// as the pairs that re-create them.
    pub(crate) fn open_snapshot(path: &Path) -> Result<(IndexedInput, InputFile), JobError> {
        IndexedInput::index(path, None, true)
    }

    /// The entry of a line: a target or a pair; `None` for a line that
    /// makes none (blank, comment, a snapshot's header and end line).
    fn parse(snapshot: bool, pairs: bool, line: &str) -> Result<Option<Entry>, String> {
        if !snapshot {
            return entry(line, pairs);
        }
        Ok(super::snapshot::relation_pair(line)?.map(|(from, to)| Entry::Pair(from, to)))
    }

    fn index(
        path: &Path,
        from: Option<&str>,
        snapshot: bool,
    ) -> Result<(IndexedInput, InputFile), JobError> {
        let file = File::open(path).map_err(|e| JobError::io(path, "cannot open", e))?;
        let mut indexed = IndexedInput {
            file,
            path: path.to_path_buf(),
            from: from.map(str::to_string),
            snapshot,
            starts: Vec::new(),
        };
        let mut tee = Tee::open(path, INPUT_BLOCK)?;
        let mut lines = InputLines::new(BufReader::new(&mut tee), path);
        let mut cutter = Cutter::new(from);
        while let Some(line) = lines.next() {
            let line = line?;
            let parsed =
                IndexedInput::parse(snapshot, from.is_none(), &line).map_err(|reason| {
                    JobError::InvalidInput {
                        line: lines.number(),
                        reason,
                    }
                })?;
            if let Some(e) = parsed {
                let before = cutter.next_r;
                cutter.push(e);
                if cutter.next_r != before {
                    indexed.starts.push(lines.start());
                }
            }
        }
        drop(lines);
        let input = tee.input(path)?;
        Ok((indexed, input))
    }

    /// The requests of a sorted pairs job, as its sort cut them from
    /// `pairs` (the input's pairs in the sort's order): written to a
    /// temporary file of `FROM TO` lines, indexed, and unlinked at once (the
    /// open file stays readable), so that each request can be read again
    /// alone. Errors name `input`.
    pub(crate) fn of_sorted(
        pairs: impl Iterator<Item = Result<(String, String), JobError>>,
        input: &Path,
    ) -> Result<IndexedInput, JobError> {
        use std::io::Write;
        let temp = std::env::temp_dir().join(format!(
            ".tim-follow-undo-{}-{:08x}.pairs",
            std::process::id(),
            fastrand::u32(..)
        ));
        let written = (|| -> Result<(), JobError> {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| JobError::io(&temp, "cannot create", e))?;
            let mut out = std::io::BufWriter::new(file);
            for pair in pairs {
                let (from, to) = pair?;
                writeln!(out, "{from} {to}").map_err(|e| JobError::io(&temp, "cannot write", e))?;
            }
            out.flush()
                .map_err(|e| JobError::io(&temp, "cannot write", e))
        })();
        let indexed = written.and_then(|()| IndexedInput::index(&temp, None, false));
        let _ = std::fs::remove_file(&temp);
        let (mut indexed, _) = indexed?;
        indexed.path = input.to_path_buf();
        Ok(indexed)
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Request `r` as the job cut it, read again from the file; `None`
    /// past the last.
    pub(crate) fn request(&mut self, r: u64) -> Result<Option<Request>, JobError> {
        use std::io::{Seek, SeekFrom};
        let Some(&start) = usize::try_from(r).ok().and_then(|i| self.starts.get(i)) else {
            return Ok(None);
        };
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(|e| JobError::io(&self.path, "cannot read", e))?;
        let mut cutter = Cutter::new(self.from.as_deref());
        cutter.next_r = r;
        let (snapshot, pairs) = (self.snapshot, self.from.is_none());
        let reader = BufReader::with_capacity(1024, &mut self.file);
        let mut lines = InputLines::new(reader, &self.path);
        while let Some(line) = lines.next().transpose()? {
            let e = IndexedInput::parse(snapshot, pairs, &line).map_err(|reason| {
                JobError::InvalidInput {
                    line: lines.number(),
                    reason,
                }
            })?;
            if let Some(closed) = e.and_then(|e| cutter.push(e)) {
                return Ok(Some(closed));
            }
        }
        Ok(cutter.finish())
    }
}
