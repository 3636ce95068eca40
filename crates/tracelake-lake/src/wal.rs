//! The collector's write-ahead log: a request is acknowledged only once its bytes are in a
//! segment file on disk and fsynced; the WAL is committed to the lake in batches and a segment
//! is deleted only after the catalog transaction that committed it (and recorded its name in
//! the ledger) succeeded. After a crash, sealed segments are replayed unless the ledger says
//! they were committed, so acknowledged data lands exactly once.
//!
//! Segments are `NNNNNNNNNN-<uuid>.wal`, a sequence of records:
//! `magic u32 | len u32 | crc32 u32 | kind u8 | 0 u8 | 0 u16 | received_at i64 | payload`.
//! A torn tail (a crash mid-write, never acknowledged) is detected by length and checksum and
//! cut off on open. Appends are group-committed: one writer thread writes every queued record
//! and fsyncs once for all of them, so many concurrent requests share one disk flush.
//!
//! Segments are written and read with direct I/O where the filesystem has it: whole 4 KiB
//! blocks from block-aligned memory, the last block padded with zeros (which read as the end
//! of the segment) and written again, completed, by the next flush. Its acknowledged bytes are
//! rewritten unchanged, so a write torn anywhere leaves them intact. A segment is written once
//! and read once; through the page cache each byte was copied twice more and each page
//! allocated, which under a flood was most of the WAL writer's CPU.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::oneshot;
use tracelake_model::{Error, Result};

use crate::direct::{self, BlockBuf, BlockMark, BlockReader};

const MAGIC: u32 = 0x544c_5741; // "TLWA"
const HEADER: usize = 24;
/// Largest payload a record may hold.
pub const MAX_RECORD_BYTES: usize = 1 << 30;

/// One record read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// What the payload is (the caller's code, e.g. traces/logs/metrics).
    pub kind: u8,
    /// When it was received (µs since the epoch).
    pub received_at: i64,
    /// Position of the record in its segment (0-based).
    pub index: u64,
    /// The payload (a slice of the segment read into memory once).
    pub payload: Bytes,
}

/// A segment no longer appended to: ready to be committed, then removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegment {
    /// File name (unique; the ledger key once committed).
    pub name: String,
    /// Path on disk.
    pub path: PathBuf,
    /// Bytes in the file.
    pub bytes: u64,
    /// The record kinds it holds; `None` for a segment found on disk at startup, whose
    /// kinds were not tracked.
    pub kinds: Option<KindSet>,
}

impl SealedSegment {
    /// Whether the segment may hold records of `kind` (false only when it is known not to).
    pub fn may_hold(&self, kind: u8) -> bool {
        self.kinds.is_none_or(|k| k.contains(kind))
    }
}

/// A set of record kinds (one bit per `u8`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet([u64; 4]);

impl KindSet {
    /// Adds `kind`.
    pub fn insert(&mut self, kind: u8) {
        self.0[usize::from(kind / 64)] |= 1 << (kind % 64);
    }

    /// Whether `kind` is in the set.
    pub fn contains(&self, kind: u8) -> bool {
        self.0[usize::from(kind / 64)] & (1 << (kind % 64)) != 0
    }
}

enum Msg {
    Append {
        kind: u8,
        received_at: i64,
        payload: bytes::Bytes,
        done: oneshot::Sender<Result<()>>,
    },
    Seal(oneshot::Sender<Result<Option<SealedSegment>>>),
}

struct Active {
    name: String,
    path: PathBuf,
    file: File,
    /// What is appended but not written yet.
    out: BlockBuf,
    bytes: u64,
    /// `out` and `bytes` when everything appended was last durable: a failed write or sync
    /// goes back there, so the records it refused never reach the segment (a client's
    /// retry would otherwise store them twice).
    durable: (BlockMark, u64),
    /// [`SealedSegment::kinds`].
    kinds: KindSet,
}

/// The write-ahead log of one collector.
pub struct Wal {
    dir: PathBuf,
    tx: std::sync::Mutex<Option<Sender<Msg>>>,
    handle: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Bytes in the active segment.
    active_bytes: Arc<AtomicU64>,
    /// Bytes on disk not yet committed (active + sealed).
    pending_bytes: Arc<AtomicU64>,
    /// Makes every write fail while set (tests: a failing disk).
    #[cfg_attr(not(test), allow(dead_code))]
    faults: Arc<AtomicBool>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_error(what: String, e: std::io::Error) -> Error {
    Error::unavailable(what).with_source(e)
}

fn segment_seq(name: &str) -> u64 {
    name.split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(format!("syncing {}", dir.display()), e))
}

fn new_segment(dir: &Path, seq: u64) -> Result<Active> {
    let name = format!("{seq:010}-{}.wal", uuid::Uuid::new_v4());
    let path = dir.join(&name);
    // The record goes from our buffer to the disk without a copy into the page cache,
    // which in a flood cost the WAL writer most of its CPU.
    let file = direct::create_new(&path)
        .map_err(|e| io_error(format!("creating WAL segment {}", path.display()), e))?;
    sync_dir(dir)?;
    let out = BlockBuf::new();
    Ok(Active {
        name,
        path,
        file,
        durable: (out.mark(), 0),
        out,
        bytes: 0,
        kinds: KindSet::default(),
    })
}

/// Reads the intact records of a segment one at a time, so committing a segment holds one
/// request in memory, not the whole file; a torn or corrupt tail ends the read.
pub struct SegmentReader {
    file: BlockReader,
    path: PathBuf,
    pos: u64,
    index: u64,
    done: bool,
}

impl SegmentReader {
    /// Opens a segment.
    pub fn open(path: &Path) -> Result<Self> {
        // Direct reads too: a segment is read once, so caching its pages only costs.
        let file = direct::open(path)
            .map_err(|e| io_error(format!("reading WAL segment {}", path.display()), e))?;
        Ok(Self {
            file: BlockReader::new(file),
            path: path.to_path_buf(),
            pos: 0,
            index: 0,
            done: false,
        })
    }

    /// Length of the intact prefix read so far.
    pub fn intact_bytes(&self) -> u64 {
        self.pos
    }

    fn read_record(&mut self) -> std::io::Result<Option<WalRecord>> {
        let mut h = [0u8; HEADER];
        if let Err(e) = self.file.read_exact(&mut h) {
            return if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if word(0) != MAGIC {
            return Ok(None);
        }
        let len = word(4) as usize;
        if len > MAX_RECORD_BYTES {
            return Ok(None);
        }
        // Read into spare capacity: zeroing a buffer of hundreds of KB first cost as much as
        // the copy itself. A record cut short (a torn tail) ends the segment, as above.
        let mut payload = Vec::with_capacity(len);
        if (&mut self.file)
            .take(len as u64)
            .read_to_end(&mut payload)?
            < len
        {
            return Ok(None);
        }
        if crc32fast::hash(&payload) != word(8) {
            return Ok(None);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&h[16..24]);
        let record = WalRecord {
            kind: h[12],
            received_at: i64::from_le_bytes(ts),
            index: self.index,
            payload: Bytes::from(payload),
        };
        self.index += 1;
        self.pos += (HEADER + len) as u64;
        Ok(Some(record))
    }
}

impl Iterator for SegmentReader {
    type Item = Result<WalRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(io_error(
                    format!("reading WAL segment {}", self.path.display()),
                    e,
                )))
            }
        }
    }
}

/// Whether bytes `from..to` of the file at `path` are all zero.
fn is_zeros(path: &Path, from: u64, to: u64) -> Result<bool> {
    let read = || -> std::io::Result<bool> {
        let file = File::open(path)?;
        let mut buf = vec![0u8; direct::BLOCK];
        let mut at = from;
        while at < to {
            let n = file.read_at(&mut buf, at)?;
            if n == 0 {
                break;
            }
            let n = n.min((to - at) as usize);
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    };
    read().map_err(|e| io_error(format!("reading {}", path.display()), e))
}

/// Reads every intact record of a segment; a torn or corrupt tail ends the read. Returns the
/// records and the length of the intact prefix.
pub fn read_segment(path: &Path) -> Result<(Vec<WalRecord>, u64)> {
    let mut reader = SegmentReader::open(path)?;
    let records = reader.by_ref().collect::<Result<Vec<_>>>()?;
    Ok((records, reader.intact_bytes()))
}

impl Wal {
    /// Opens the WAL in `dir`. Returns it and the segments left by an earlier run (their torn
    /// tails cut off), oldest first: the caller commits (or, if the ledger says they were
    /// committed, removes) them.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<SealedSegment>)> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(format!("creating WAL folder {}", dir.display()), e))?;
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| io_error(format!("listing {}", dir.display()), e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".wal"))
            .collect();
        names.sort();
        let mut sealed = Vec::new();
        let mut pending = 0u64;
        for name in &names {
            let path = dir.join(name);
            let mut reader = SegmentReader::open(&path)?;
            let mut count = 0u64;
            for r in reader.by_ref() {
                r?;
                count += 1;
            }
            let good = reader.intact_bytes();
            let len = std::fs::metadata(&path)
                .map_err(|e| io_error(format!("reading {}", path.display()), e))?
                .len();
            if good < len {
                // Zeros after the last record are the padding of its block, not a tail.
                if !is_zeros(&path, good, len)? {
                    tracing::warn!(segment = %path.display(), kept = good, dropped = len - good, "cutting a torn tail off a WAL segment (never acknowledged)");
                }
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_error(format!("repairing {}", path.display()), e))?;
                f.set_len(good)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io_error(format!("repairing {}", path.display()), e))?;
            }
            if count == 0 {
                std::fs::remove_file(&path)
                    .map_err(|e| io_error(format!("removing {}", path.display()), e))?;
                continue;
            }
            pending += good;
            sealed.push(SealedSegment {
                name: name.clone(),
                path,
                bytes: good,
                kinds: None,
            });
        }
        let next_seq = names.last().map_or(1, |n| segment_seq(n) + 1);
        let active = new_segment(dir, next_seq)?;
        let (tx, rx) = channel();
        let active_bytes = Arc::new(AtomicU64::new(0));
        let pending_bytes = Arc::new(AtomicU64::new(pending));
        let thread_dir = dir.to_path_buf();
        let faults = Arc::new(AtomicBool::new(false));
        let (a, p, f) = (active_bytes.clone(), pending_bytes.clone(), faults.clone());
        let handle = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer_loop(&thread_dir, active, next_seq, rx, &a, &p, &f))
            .map_err(|e| io_error("starting the WAL writer".into(), e))?;
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                tx: std::sync::Mutex::new(Some(tx)),
                handle: std::sync::Mutex::new(Some(handle)),
                active_bytes,
                pending_bytes,
                faults,
            },
            sealed,
        ))
    }

    /// Makes every write of the WAL fail (`on`) or succeed again, as a failing disk would.
    #[cfg(test)]
    fn fail_writes(&self, on: bool) {
        self.faults.store(on, Ordering::Relaxed);
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let guard = self
            .tx
            .lock()
            .map_err(|_| Error::internal("WAL lock poisoned"))?;
        match guard.as_ref() {
            Some(tx) => tx
                .send(msg)
                .map_err(|_| Error::unavailable("the WAL writer stopped (see the log)")),
            None => Err(Error::unavailable("the WAL is shut down")),
        }
    }

    /// Appends a record; returns once it is on disk (fsynced).
    pub async fn append(&self, kind: u8, received_at: i64, payload: bytes::Bytes) -> Result<()> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(Error::invalid_input(format!(
                "a {}-byte record exceeds the WAL's {MAX_RECORD_BYTES}-byte limit",
                payload.len()
            )));
        }
        let (done, wait) = oneshot::channel();
        self.send(Msg::Append {
            kind,
            received_at,
            payload,
            done,
        })?;
        wait.await.map_err(|_| {
            Error::unavailable("the WAL writer stopped before the record was durable")
        })?
    }

    /// Closes the active segment (if it holds anything) and starts a new one.
    pub async fn seal(&self) -> Result<Option<SealedSegment>> {
        let (done, wait) = oneshot::channel();
        self.send(Msg::Seal(done))?;
        wait.await
            .map_err(|_| Error::unavailable("the WAL writer stopped"))?
    }

    /// Deletes a segment whose records were committed.
    pub fn remove(&self, segment: &SealedSegment) -> Result<()> {
        match std::fs::remove_file(&segment.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(format!("removing {}", segment.path.display()), e)),
        }
        self.pending_bytes.fetch_sub(
            segment
                .bytes
                .min(self.pending_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Bytes in the segment being appended to.
    pub fn active_bytes(&self) -> u64 {
        self.active_bytes.load(Ordering::Relaxed)
    }

    /// Bytes on disk not committed yet.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// The WAL's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the writer after everything queued is durable.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut h) = self.handle.lock()
            && let Some(h) = h.take()
        {
            let _ = h.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn writer_loop(
    dir: &Path,
    mut active: Active,
    mut seq: u64,
    rx: Receiver<Msg>,
    active_bytes: &AtomicU64,
    pending_bytes: &AtomicU64,
    faults: &AtomicBool,
) {
    let counters = Counters {
        active_bytes,
        pending_bytes,
        faults,
    };
    let mut waiting: Vec<oneshot::Sender<Result<()>>> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut failed: Option<String> = None;
        for msg in batch {
            match msg {
                Msg::Append {
                    kind,
                    received_at,
                    payload,
                    done,
                } => {
                    if failed.is_none() {
                        let mut header = [0u8; HEADER];
                        header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
                        header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
                        header[8..12].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
                        header[12] = kind;
                        header[16..24].copy_from_slice(&received_at.to_le_bytes());
                        active.out.extend(&header);
                        active.out.extend(&payload);
                        if active.out.len() >= direct::WRITE_AT
                            && let Err(e) = write_out(&mut active, false, counters.faults)
                        {
                            failed = Some(format!("writing {}: {e}", active.path.display()));
                        } else {
                            let n = (HEADER + payload.len()) as u64;
                            active.bytes += n;
                            active.kinds.insert(kind);
                            active_bytes.store(active.bytes, Ordering::Relaxed);
                            pending_bytes.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                    waiting.push(done);
                }
                Msg::Seal(reply) => {
                    // Everything before the seal must be durable first.
                    let flushed = flush(&mut active, &mut waiting, &mut failed, &counters);
                    if !flushed {
                        let _ =
                            reply.send(Err(Error::unavailable(failed.clone().unwrap_or_default())));
                        continue;
                    }
                    if active.bytes == 0 {
                        let _ = reply.send(Ok(None));
                        continue;
                    }
                    seq += 1;
                    match new_segment(dir, seq) {
                        Ok(next) => {
                            let old = std::mem::replace(&mut active, next);
                            active_bytes.store(0, Ordering::Relaxed);
                            let _ = reply.send(Ok(Some(SealedSegment {
                                name: old.name,
                                path: old.path,
                                bytes: old.bytes,
                                kinds: Some(old.kinds),
                            })));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        }
        flush(&mut active, &mut waiting, &mut failed, &counters);
    }
    flush(&mut active, &mut waiting, &mut None, &counters);
}

/// What the writer thread updates besides its segment.
struct Counters<'a> {
    active_bytes: &'a AtomicU64,
    pending_bytes: &'a AtomicU64,
    faults: &'a AtomicBool,
}

/// Writes the buffered blocks (all of them with `all`); fails while `faults` is set.
fn write_out(active: &mut Active, all: bool, faults: &AtomicBool) -> std::io::Result<()> {
    if faults.load(Ordering::Relaxed) {
        return Err(std::io::Error::other("write refused (injected fault)"));
    }
    active.out.write(&active.file, all)
}

/// After a failed write or sync, whose records were all refused: the segment goes back to
/// where everything in it was durable, in memory and on disk, so the next records follow
/// the last acknowledged one and the refused ones are never committed.
fn roll_back(active: &mut Active, counters: &Counters<'_>) {
    let (mark, durable_bytes) = &active.durable;
    active.out.restore(mark);
    counters
        .pending_bytes
        .fetch_sub(active.bytes - durable_bytes, Ordering::Relaxed);
    active.bytes = *durable_bytes;
    counters.active_bytes.store(active.bytes, Ordering::Relaxed);
    if let Err(e) = active
        .file
        .set_len(mark.end())
        .and_then(|()| active.file.sync_data())
    {
        tracing::error!(
            segment = %active.path.display(),
            error = %e,
            "cannot cut refused records off a WAL segment: they were not acknowledged, but a \
             restart would commit them"
        );
    }
}

/// Makes everything written durable and answers the waiting appends; after a failure, goes
/// back to the last durable state first ([`roll_back`]). Returns success.
fn flush(
    active: &mut Active,
    waiting: &mut Vec<oneshot::Sender<Result<()>>>,
    failed: &mut Option<String>,
    counters: &Counters<'_>,
) -> bool {
    if failed.is_none() && !waiting.is_empty() {
        match write_out(active, true, counters.faults).and_then(|()| active.file.sync_data()) {
            Ok(()) => active.durable = (active.out.mark(), active.bytes),
            Err(e) => *failed = Some(format!("syncing {}: {e}", active.path.display())),
        }
    }
    if failed.is_some() {
        roll_back(active, counters);
    }
    for w in waiting.drain(..) {
        let _ = w.send(match failed {
            None => Ok(()),
            Some(why) => Err(Error::unavailable(format!(
                "the write-ahead log could not store the request ({why})"
            ))),
        });
    }
    failed.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn appends_seal_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, left) = Wal::open(dir.path()).unwrap();
        assert!(left.is_empty());
        rt().block_on(async {
            wal.append(1, 10, bytes::Bytes::from_static(b"alpha"))
                .await
                .unwrap();
            wal.append(2, 11, bytes::Bytes::from_static(b"beta"))
                .await
                .unwrap();
            assert_eq!(wal.active_bytes(), (2 * HEADER + 9) as u64);
            let seg = wal.seal().await.unwrap().unwrap();
            assert_eq!(wal.active_bytes(), 0);
            assert!(wal.seal().await.unwrap().is_none(), "nothing to seal");
            let (records, good) = read_segment(&seg.path).unwrap();
            assert_eq!(good, seg.bytes);
            assert_eq!(records.len(), 2);
            assert_eq!(&records[1].payload[..], b"beta");
            assert_eq!(records[1].kind, 2);
            assert_eq!(records[1].received_at, 11);
            // The kinds it holds are known, so a reader can skip a pass for absent ones.
            assert!(seg.may_hold(1) && seg.may_hold(2));
            assert!(!seg.may_hold(3) && !seg.may_hold(0x82));
            wal.append(0x82, 12, bytes::Bytes::from_static(b"carried"))
                .await
                .unwrap();
            let carried = wal.seal().await.unwrap().unwrap();
            assert!(carried.may_hold(0x82) && !carried.may_hold(2));
            wal.remove(&carried).unwrap();
            wal.remove(&seg).unwrap();
            assert!(!seg.path.exists());
        });
    }

    #[test]
    fn records_refused_by_a_failing_disk_never_reach_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let payloads = |path: &Path| -> Vec<Vec<u8>> {
            let (records, _) = read_segment(path).unwrap();
            records.into_iter().map(|r| r.payload.to_vec()).collect()
        };
        let seg = rt().block_on(async {
            wal.append(1, 1, Bytes::from_static(b"alpha"))
                .await
                .unwrap();
            wal.fail_writes(true);
            // Refused at the sync, and (a record over the write size) in the middle of
            // the batch.
            let small = wal.append(1, 2, Bytes::from_static(b"refused"));
            let large = wal.append(1, 3, Bytes::from(vec![7u8; 3 * direct::WRITE_AT]));
            let (small, large) = tokio::join!(small, large);
            assert!(small.is_err() && large.is_err());
            assert_eq!(wal.pending_bytes(), (HEADER + 5) as u64);
            wal.fail_writes(false);
            wal.append(1, 4, Bytes::from_static(b"gamma"))
                .await
                .unwrap();
            assert_eq!(wal.active_bytes(), (2 * HEADER + 10) as u64);
            wal.seal().await.unwrap().unwrap()
        });
        assert_eq!(payloads(&seg.path), [b"alpha".to_vec(), b"gamma".to_vec()]);
        assert_eq!(seg.bytes, (2 * HEADER + 10) as u64);
        // And after a restart, nothing refused comes back.
        drop(wal);
        let (_, left) = Wal::open(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(
            payloads(&left[0].path),
            [b"alpha".to_vec(), b"gamma".to_vec()]
        );
    }

    #[test]
    fn reopening_recovers_segments_and_cuts_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (wal, _) = Wal::open(dir.path()).unwrap();
            rt().block_on(async {
                for i in 0..3u8 {
                    wal.append(1, i64::from(i), bytes::Bytes::from(vec![i; 100]))
                        .await
                        .unwrap();
                }
            });
        }
        // A crash mid-write leaves half a record at the end of the newest segment.
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::metadata(p).unwrap().len() > 0)
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&MAGIC.to_le_bytes()).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (wal, left) = Wal::open(dir.path()).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        let (records, _) = read_segment(&left[0].path).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(
            std::fs::metadata(&left[0].path).unwrap().len(),
            left[0].bytes
        );
        assert_eq!(wal.pending_bytes(), left[0].bytes);
        // What a segment from an earlier run holds is not known: it may hold anything.
        assert!(left[0].may_hold(1) && left[0].may_hold(2));
        // New segments sort after the recovered one.
        rt().block_on(async {
            wal.append(1, 0, bytes::Bytes::from_static(b"x"))
                .await
                .unwrap();
            let s = wal.seal().await.unwrap().unwrap();
            assert!(s.name > left[0].name);
        });
    }

    #[test]
    fn records_of_every_size_round_trip_across_writes_and_blocks() {
        // Sizes around the block and write thresholds, appended by 8 concurrent writers
        // and sealed in the middle, so whole-block writes, padded writes and the block
        // kept and written again all occur.
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let sizes = [
            0,
            1,
            direct::BLOCK - HEADER,
            direct::BLOCK,
            direct::BLOCK + 1,
            direct::WRITE_AT - HEADER,
            direct::WRITE_AT + 7,
            3 * direct::WRITE_AT + 1,
            777,
        ];
        let payload = |i: usize| -> bytes::Bytes {
            (0..sizes[i % sizes.len()])
                .map(|j| (i * 31 + j * 7) as u8)
                .collect::<Vec<u8>>()
                .into()
        };
        let wal = Arc::new(wal);
        let segments = rt().block_on(async {
            let mut segments = Vec::new();
            for round in 0..2 {
                let tasks: Vec<_> = (0..8)
                    .map(|w| {
                        let wal = wal.clone();
                        async move {
                            for k in 0..9 {
                                let i = round * 100 + w * 10 + k;
                                wal.append(1, i as i64, payload(i)).await.unwrap();
                            }
                        }
                    })
                    .collect();
                futures::future::join_all(tasks).await;
                segments.push(wal.seal().await.unwrap().unwrap());
            }
            segments
        });
        for (round, seg) in segments.iter().enumerate() {
            assert_eq!(
                std::fs::metadata(&seg.path).unwrap().len() % direct::BLOCK as u64,
                0
            );
            let (records, good) = read_segment(&seg.path).unwrap();
            assert_eq!(good, seg.bytes);
            assert_eq!(records.len(), 72);
            let mut seen: Vec<i64> = records.iter().map(|r| r.received_at).collect();
            for r in &records {
                assert_eq!(
                    r.payload,
                    payload(r.received_at as usize),
                    "record {}",
                    r.received_at
                );
            }
            seen.sort();
            let want: Vec<i64> = (0..8)
                .flat_map(|w| (0..9).map(move |k| (round * 100 + w * 10 + k) as i64))
                .collect();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn a_corrupt_record_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let seg = rt().block_on(async {
            wal.append(1, 0, bytes::Bytes::from_static(b"good"))
                .await
                .unwrap();
            wal.append(1, 0, bytes::Bytes::from_static(b"flip"))
                .await
                .unwrap();
            wal.seal().await.unwrap().unwrap()
        });
        let mut data = std::fs::read(&seg.path).unwrap();
        // The last block is padded with zeros after the last record.
        assert_eq!(data.len() % direct::BLOCK, 0);
        assert!(data[seg.bytes as usize..].iter().all(|&b| b == 0));
        let last = seg.bytes as usize - 1;
        data[last] ^= 0xff;
        std::fs::write(&seg.path, &data).unwrap();
        let (records, good) = read_segment(&seg.path).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(good as usize, HEADER + 4);
    }

    #[test]
    fn a_record_cut_short_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let seg = rt().block_on(async {
            wal.append(1, 0, bytes::Bytes::from(vec![7u8; 300]))
                .await
                .unwrap();
            wal.append(1, 0, bytes::Bytes::from(vec![9u8; 300]))
                .await
                .unwrap();
            wal.seal().await.unwrap().unwrap()
        });
        // The second record's header is whole; its payload stops 100 bytes early.
        let data = std::fs::read(&seg.path).unwrap();
        std::fs::write(&seg.path, &data[..seg.bytes as usize - 100]).unwrap();
        let (records, good) = read_segment(&seg.path).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload.as_ref(), &[7u8; 300][..]);
        assert_eq!(good as usize, HEADER + 300);
    }
}
