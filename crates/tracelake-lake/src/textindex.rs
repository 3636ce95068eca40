//! The text index: one sidecar file per `spans` data file (`<data file>.tlidx`), written
//! beside it when the data file is written (commit, compaction, `tracelake index`).
//!
//! It maps every byte trigram of the *folded* text of the searchable columns to the blocks of
//! rows whose text contains it. A block is a run of consecutive rows of the data file that
//! ends after `BLOCK_TEXT_BYTES` of text or `BLOCK_MAX_ROWS` rows, so text-heavy rows get
//! small blocks (a selective pattern reads little) and the index stays a fraction of the data.
//! Folding lowercases ASCII letters and maps the only two non-ASCII characters whose Unicode
//! simple case folding is ASCII (`ſ` → `s`, KELVIN SIGN → `k`); every other byte is kept.
//! Folding is a per-character map, so a text that contains a string (exactly, or equal under
//! case folding where the pattern's characters fold to one folded form) contains that
//! string's folded trigrams: a search asks the index for the trigrams every match must
//! contain, reads only the candidate blocks, and verifies them. The index never decides a
//! hit; it only says where hits cannot be (ADR 0006).
//!
//! Layout, little-endian, built for range reads on object storage:
//!
//! ```text
//! "TLIX0003"
//! postings     per key, in key order: a tag byte, then either (tag 0) the key's block ids
//!              as LEB128 deltas or (tag 1) a bitmap of all blocks, bit b of byte b / 8 set
//!              when the key occurs in block b; whichever is shorter (common trigrams occur
//!              in most blocks, where a bit per block is 8× smaller than a byte per block)
//! key table    per key: u32 key, u32 offset of its postings
//! directory    every `stride`-th key table entry: u32 key, u32 entry index
//! block starts per block: u32 first row
//! footer       JSON: IndexFooter
//! u32 directory bytes, u32 block-start bytes, u32 footer bytes, "TLIX"
//! ```
//!
//! A lookup reads the tail (footer and directory), the key-table pages of the wanted keys,
//! then their postings: three rounds of range requests, whatever the file's size.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tracelake_model::{Error, Result};

/// The columns of `spans` the index covers (what `tracelake search` searches).
pub const INDEXED_COLUMNS: &[&str] = &[
    "input_text",
    "output_text",
    "tool_input",
    "tool_output",
    "error_message",
    "command",
];

/// A block ends once its indexed text reaches this many bytes...
pub const BLOCK_TEXT_BYTES: usize = 32 * 1024;
/// ...or it has this many rows.
pub const BLOCK_MAX_ROWS: u32 = 1024;

const HEAD_MAGIC: &[u8; 8] = b"TLIX0003";
/// The format version in the footer; an index of another version is stale (rebuilt by
/// `tracelake index`, scanned around until then).
pub const FORMAT_VERSION: u32 = 3;
const POSTINGS_DELTAS: u8 = 0;
const POSTINGS_BITMAP: u8 = 1;
const TAIL_LEN: usize = 16;
const TAIL_MAGIC: &[u8; 4] = b"TLIX";
const TRIGRAMS: usize = 1 << 24;

/// Where the index of a data file is.
pub fn index_location(data_location: &str) -> String {
    format!("{data_location}.tlidx")
}

/// The folded form of `text`: ASCII letters lowercased, `ſ` → `s`, KELVIN SIGN → `k`, every
/// other byte unchanged.
pub fn fold(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    fold_into(text.as_bytes(), &mut out);
    out
}

fn fold_into(bytes: &[u8], out: &mut Vec<u8>) {
    fold_each(bytes, |b| out.push(b));
}

/// Hands each byte of `bytes`' folded form to `each`, in order.
#[inline(always)]
fn fold_each(bytes: &[u8], mut each: impl FnMut(u8)) {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Each branch steps `i` by a constant: the common one stays a short loop.
        if b < 0x80 {
            each(b.to_ascii_lowercase());
            i += 1;
        } else if b == 0xC5 && bytes.get(i + 1) == Some(&0xBF) {
            each(b's');
            i += 2;
        } else if b == 0xE2 && bytes.get(i + 1) == Some(&0x84) && bytes.get(i + 2) == Some(&0xAA) {
            each(b'k');
            i += 3;
        } else {
            each(b);
            i += 1;
        }
    }
}

/// The trigram keys of folded bytes.
pub fn trigrams(folded: &[u8]) -> impl Iterator<Item = u32> + '_ {
    folded
        .windows(3)
        .map(|w| (u32::from(w[0]) << 16) | (u32::from(w[1]) << 8) | u32::from(w[2]))
}

/// The distinct trigram keys met in a block, in order of first sight, with a bitmap of all
/// 2^24 keys saying which were met. Adding a key has no branch on whether it is new (that
/// outcome is as unpredictable as text, and mispredicting it was most of the index's cost):
/// the key is always stored after the last new one, and the count moves past it only if
/// it is new.
struct SeenKeys {
    bits: Box<[u64]>,
    keys: Vec<u32>,
    len: usize,
}

impl SeenKeys {
    fn new() -> Self {
        Self {
            bits: vec![0; TRIGRAMS / 64].into_boxed_slice(),
            keys: Vec::new(),
            len: 0,
        }
    }

    /// Adds the trigram keys of `text`'s folded form ([`fold`]), folding on the way.
    fn add_text(&mut self, text: &[u8]) {
        // Locals, so the loop keeps them in registers.
        let (bits, keys, mut len) = (&mut self.bits[..], &mut self.keys, self.len);
        let (mut key, mut folded_len) = (0u32, 0usize);
        fold_each(text, |folded| {
            key = ((key << 8) | u32::from(folded)) & 0xFF_FFFF;
            folded_len += 1;
            if folded_len >= 3 {
                let word = &mut bits[(key >> 6) as usize];
                let bit = 1u64 << (key & 63);
                let new = *word & bit == 0;
                *word |= bit;
                if len == keys.len() {
                    // Distinct keys, so at most 2^24.
                    keys.resize(2 * len + 4096, 0);
                }
                keys[len] = key;
                len += usize::from(new);
            }
        });
        self.len = len;
    }

    /// Hands every key to `each` in order of first sight, and forgets them all.
    fn drain(&mut self, mut each: impl FnMut(u32)) {
        for &key in &self.keys[..self.len] {
            each(key);
            self.bits[(key >> 6) as usize] &= !(1u64 << (key & 63));
        }
        self.len = 0;
    }
}

/// What the index file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexFooter {
    /// Format version.
    pub version: u32,
    /// File name of the data file the index describes (data files are immutable and
    /// uniquely named, so name, size and rows identify it).
    pub data_file: String,
    /// Size of that data file in bytes.
    pub data_size: u64,
    /// Rows in the data file.
    pub rows: u64,
    /// Blocks.
    pub blocks: u32,
    /// Rows of each row group of the data file, in order.
    pub row_groups: Vec<u64>,
    /// Indexed columns.
    pub columns: Vec<String>,
    /// Distinct keys.
    pub keys: u64,
    /// Where the key table starts.
    pub key_table_offset: u64,
    /// Key-table entries per directory entry.
    pub stride: u32,
}

/// Builds the index of one data file from the batches written to it, in order.
pub struct IndexBuilder {
    max_rows: u32,
    max_bytes: usize,
    rows: u64,
    block: u32,
    block_rows: u32,
    block_bytes: usize,
    starts: Vec<u32>,
    /// The keys met in the current block.
    seen: SeenKeys,
    /// Every key's blocks so far, already in the file's delta encoding: about one byte per
    /// (key, block) where a list of pairs took eight, and nothing to sort at the end.
    postings: FxHashMap<u32, Postings>,
}

/// The blocks of one key: LEB128 deltas (the first one from block 0), and the last block.
#[derive(Debug, Default)]
struct Postings {
    last: u32,
    deltas: Vec<u8>,
}

impl std::fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBuilder")
            .field("rows", &self.rows)
            .field("keys", &self.postings.len())
            .finish()
    }
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    /// A builder with the default block bounds.
    pub fn new() -> Self {
        Self::with_blocks(BLOCK_TEXT_BYTES, BLOCK_MAX_ROWS)
    }

    /// A builder whose blocks end after `max_bytes` of text or `max_rows` rows.
    pub fn with_blocks(max_bytes: usize, max_rows: u32) -> Self {
        Self {
            max_rows: max_rows.max(1),
            max_bytes: max_bytes.max(1),
            rows: 0,
            block: 0,
            block_rows: 0,
            block_bytes: 0,
            starts: vec![0],
            seen: SeenKeys::new(),
            postings: FxHashMap::default(),
        }
    }

    /// Adds the next rows of the file.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut columns = Vec::new();
        for name in INDEXED_COLUMNS {
            if let Some(c) = batch.column_by_name(name) {
                match c.data_type() {
                    DataType::Utf8 => columns.push(c.as_string::<i32>().clone()),
                    other => {
                        return Err(Error::internal(format!(
                            "indexing {name}: expected text, found {other}"
                        )));
                    }
                }
            }
        }
        for row in 0..batch.num_rows() {
            if self.block_rows >= self.max_rows || self.block_bytes >= self.max_bytes {
                self.flush_block();
                self.block += 1;
                self.block_rows = 0;
                self.block_bytes = 0;
                self.starts.push(self.rows as u32);
            }
            for c in &columns {
                if c.is_valid(row) {
                    let text = c.value(row).as_bytes();
                    self.block_bytes += text.len();
                    self.seen.add_text(text);
                }
            }
            self.rows += 1;
            self.block_rows += 1;
        }
        Ok(())
    }

    fn flush_block(&mut self) {
        let block = self.block;
        self.seen.drain(|key| {
            let postings = self.postings.entry(key).or_default();
            // Blocks are flushed in increasing order, so every delta is positive (the first
            // is the block itself).
            put_varint(&mut postings.deltas, block - postings.last);
            postings.last = block;
        });
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The index file, given the data file's location, size and row groups.
    pub fn finish(mut self, data_location: &str, data_size: u64, row_groups: Vec<u64>) -> Vec<u8> {
        self.flush_block();
        let mut keys: Vec<u32> = self.postings.keys().copied().collect();
        keys.sort_unstable();
        let total: usize = self.postings.values().map(|p| p.deltas.len()).sum();
        let mut out = Vec::with_capacity(total + keys.len() * 9 + 1024);
        out.extend_from_slice(HEAD_MAGIC);
        let blocks = self.starts.len();
        let bitmap_len = blocks.div_ceil(8);
        let mut table: Vec<(u32, u32)> = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(postings) = self.postings.remove(&key) else {
                continue;
            };
            table.push((key, out.len() as u32));
            if postings.deltas.len() <= bitmap_len {
                out.push(POSTINGS_DELTAS);
                out.extend_from_slice(&postings.deltas);
            } else {
                out.push(POSTINGS_BITMAP);
                let at = out.len();
                out.resize(at + bitmap_len, 0);
                let (mut pos, mut block) = (0usize, 0u32);
                while let Some(delta) = get_varint(&postings.deltas, &mut pos) {
                    block += delta;
                    out[at + block as usize / 8] |= 1 << (block % 8);
                }
            }
        }
        let key_table_offset = out.len() as u64;
        for (k, off) in &table {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
        }
        let stride = (table.len() / 4096).max(256) as u32;
        let dir_start = out.len();
        for (i, (k, _)) in table.iter().enumerate().step_by(stride as usize) {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&(i as u32).to_le_bytes());
        }
        let dir_len = (out.len() - dir_start) as u32;
        if self.rows == 0 {
            self.starts.clear();
        }
        for s in &self.starts {
            out.extend_from_slice(&s.to_le_bytes());
        }
        let starts_len = (self.starts.len() * 4) as u32;
        let footer = IndexFooter {
            version: FORMAT_VERSION,
            data_file: file_name(data_location).to_string(),
            data_size,
            rows: self.rows,
            blocks: self.starts.len() as u32,
            row_groups,
            columns: INDEXED_COLUMNS.iter().map(|s| s.to_string()).collect(),
            keys: table.len() as u64,
            key_table_offset,
            stride,
        };
        let json = serde_json::to_vec(&footer).unwrap_or_default();
        out.extend_from_slice(&json);
        out.extend_from_slice(&dir_len.to_le_bytes());
        out.extend_from_slice(&starts_len.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(TAIL_MAGIC);
        out
    }
}

fn file_name(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

impl IndexFooter {
    /// Whether this index describes the data file at `location` (any URL or path form) of
    /// `size` bytes and `rows` rows.
    pub fn describes(&self, location: &str, size: u64, rows: u64) -> bool {
        self.version == FORMAT_VERSION
            && self.data_file == file_name(location)
            && self.data_size == size
            && self.rows == rows
            && self.row_groups.iter().sum::<u64>() == rows
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u32::from(b & 0x7F).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// An index file opened for lookups: its footer and directory, read with one or two range
/// requests.
#[derive(Debug, Clone)]
pub struct IndexReader {
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    /// What the file says about itself.
    pub footer: IndexFooter,
    dir: Vec<(u32, u32)>,
    starts: Vec<u32>,
    /// Bytes read so far (footer, directory, pages, postings).
    pub bytes_read: u64,
    /// Range requests made so far.
    pub requests: u64,
}

fn corrupt(path: &StorePath, what: &str) -> Error {
    Error::invalid_input(format!("text index {path}: {what}"))
}

impl IndexReader {
    /// Opens the index at `path`; `Ok(None)` when there is none.
    pub async fn open(store: Arc<dyn ObjectStore>, path: StorePath) -> Result<Option<Self>> {
        // One request for the tail and the file's size: a suffix range (no HEAD first).
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Suffix(64 * 1024)),
            ..Default::default()
        };
        let result = match store.get_opts(&path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(crate::storage::store_error(path.as_ref(), e)),
        };
        let size = result.meta.size;
        let mut tail = result
            .bytes()
            .await
            .map_err(|e| crate::storage::store_error(path.as_ref(), e))?;
        if size < (HEAD_MAGIC.len() + TAIL_LEN) as u64 || tail.len() < TAIL_LEN {
            return Err(corrupt(&path, "too short"));
        }
        let mut requests = 1;
        let mut bytes_read = tail.len() as u64;
        let n = tail.len();
        if tail.get(n - 4..) != Some(TAIL_MAGIC.as_slice()) {
            return Err(corrupt(&path, "bad magic"));
        }
        let len_at = |at: usize| u32_at(&tail, n - at).map(u64::from);
        let (Some(dir_len), Some(starts_len), Some(json_len)) = (len_at(16), len_at(12), len_at(8))
        else {
            return Err(corrupt(&path, "no tail"));
        };
        let need = dir_len + starts_len + json_len + TAIL_LEN as u64;
        if need > size {
            return Err(corrupt(&path, "tail longer than the file"));
        }
        if need > tail.len() as u64 {
            tail = get_range(&store, &path, size - need..size).await?;
            requests += 1;
            bytes_read += tail.len() as u64;
        }
        // Slicing below relies on the tail holding everything the lengths claim: a short
        // read is a corrupt index, not a panic.
        if (tail.len() as u64) < need {
            return Err(corrupt(&path, "short read of the tail"));
        }
        let n = tail.len();
        let json_start = n - TAIL_LEN - json_len as usize;
        let starts_start = json_start - starts_len as usize;
        let dir_start = starts_start - dir_len as usize;
        let footer: IndexFooter = serde_json::from_slice(&tail[json_start..n - TAIL_LEN])
            .map_err(|e| corrupt(&path, "unreadable footer").with_source(e))?;
        let pairs = |bytes: &[u8]| -> Vec<(u32, u32)> {
            bytes
                .chunks_exact(8)
                .filter_map(|c| Some((u32_at(c, 0)?, u32_at(c, 4)?)))
                .collect()
        };
        let dir = pairs(&tail[dir_start..starts_start]);
        let starts: Vec<u32> = tail[starts_start..json_start]
            .chunks_exact(4)
            .filter_map(|c| u32_at(c, 0))
            .collect();
        if starts.len() != footer.blocks as usize
            || starts.windows(2).any(|w| w[0] >= w[1])
            || starts.last().is_some_and(|&l| u64::from(l) >= footer.rows)
        {
            return Err(corrupt(&path, "bad block table"));
        }
        Ok(Some(Self {
            store,
            path,
            footer,
            dir,
            starts,
            bytes_read,
            requests,
        }))
    }

    /// The rows of block `b`.
    pub fn block_rows(&self, b: u32) -> Option<Range<u64>> {
        let start = u64::from(*self.starts.get(b as usize)?);
        let end = self
            .starts
            .get(b as usize + 1)
            .map_or(self.footer.rows, |&e| u64::from(e));
        Some(start..end)
    }

    /// Where the postings of each of `keys` are (absent keys are not in the answer); the
    /// length of a range says how long the key's posting list is.
    pub async fn entries(&mut self, keys: &BTreeSet<u32>) -> Result<HashMap<u32, Range<u64>>> {
        let total = self.footer.keys as u32;
        let table = self.footer.key_table_offset;
        // Key-table entry ranges (one directory page each, plus the entry after it, whose
        // offset ends the last posting list).
        let mut pages: Vec<Range<u32>> = Vec::new();
        for &k in keys {
            let i = self.dir.partition_point(|(dk, _)| *dk <= k);
            if i == 0 {
                continue;
            }
            let start = self.dir[i - 1].1;
            let end = self.dir.get(i).map_or(total, |d| d.1);
            let r = start..(end + 1).min(total);
            if pages.last() != Some(&r) {
                pages.push(r);
            }
        }
        pages.dedup();
        let ranges: Vec<Range<u64>> = pages
            .iter()
            .map(|r| table + u64::from(r.start) * 8..table + u64::from(r.end) * 8)
            .collect();
        let fetched = self.get_ranges(&ranges).await?;
        let mut out = HashMap::new();
        for (r, bytes) in pages.iter().zip(&fetched) {
            let entries: Vec<(u32, u32)> = bytes
                .chunks_exact(8)
                .filter_map(|c| Some((u32_at(c, 0)?, u32_at(c, 4)?)))
                .collect();
            for &k in keys {
                if let Ok(j) = entries.binary_search_by_key(&k, |e| e.0) {
                    let start = u64::from(entries[j].1);
                    let end = match entries.get(j + 1) {
                        Some(e) => u64::from(e.1),
                        None if r.start + j as u32 + 1 >= total => table,
                        None => continue,
                    };
                    if end < start || end > table {
                        return Err(corrupt(&self.path, "bad key table"));
                    }
                    out.insert(k, start..end);
                }
            }
        }
        Ok(out)
    }

    /// The posting lists (sorted block ids) at `entries`.
    pub async fn postings(
        &mut self,
        entries: &[(u32, Range<u64>)],
    ) -> Result<HashMap<u32, Vec<u32>>> {
        let ranges: Vec<Range<u64>> = entries.iter().map(|e| e.1.clone()).collect();
        let fetched = self.get_ranges(&ranges).await?;
        let mut out = HashMap::new();
        let bad = || corrupt(&self.path, "bad posting list");
        for ((k, _), bytes) in entries.iter().zip(fetched) {
            let mut blocks = Vec::new();
            match bytes.split_first() {
                Some((&POSTINGS_DELTAS, deltas)) => {
                    let mut pos = 0;
                    let mut last = 0u32;
                    while pos < deltas.len() {
                        let v = get_varint(deltas, &mut pos).ok_or_else(bad)?;
                        last = if blocks.is_empty() {
                            v
                        } else {
                            last.checked_add(v).ok_or_else(bad)?
                        };
                        blocks.push(last);
                    }
                }
                Some((&POSTINGS_BITMAP, bits)) => {
                    if bits.len() != (self.footer.blocks as usize).div_ceil(8) {
                        return Err(bad());
                    }
                    for (i, &byte) in bits.iter().enumerate() {
                        let mut byte = byte;
                        while byte != 0 {
                            blocks.push(i as u32 * 8 + byte.trailing_zeros());
                            byte &= byte - 1;
                        }
                    }
                }
                _ => return Err(bad()),
            }
            out.insert(*k, blocks);
        }
        Ok(out)
    }

    /// The blocks each of `keys` occurs in (absent keys map to no blocks).
    pub async fn lookup(&mut self, keys: &BTreeSet<u32>) -> Result<HashMap<u32, Vec<u32>>> {
        let entries: Vec<(u32, Range<u64>)> = self.entries(keys).await?.into_iter().collect();
        self.postings(&entries).await
    }

    /// Fetches `ranges`, merging those less than `GAP` bytes apart into one request.
    async fn get_ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        const GAP: u64 = 64 * 1024;
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let mut order: Vec<usize> = (0..ranges.len()).collect();
        order.sort_by_key(|&i| ranges[i].start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for &i in &order {
            let r = &ranges[i];
            match merged.last_mut() {
                Some(m) if r.start <= m.end + GAP => m.end = m.end.max(r.end),
                _ => merged.push(r.clone()),
            }
        }
        self.requests += merged.len() as u64;
        self.bytes_read += merged.iter().map(|r| r.end - r.start).sum::<u64>();
        let fetched = self
            .store
            .get_ranges(&self.path, &merged)
            .await
            .map_err(|e| crate::storage::store_error(self.path.as_ref(), e))?;
        ranges
            .iter()
            .map(|r| {
                let j = merged.partition_point(|m| m.end < r.end.max(r.start + 1));
                let (m, bytes) = merged
                    .get(j)
                    .zip(fetched.get(j))
                    .ok_or_else(|| corrupt(&self.path, "range outside the fetched ones"))?;
                let (a, b) = ((r.start - m.start) as usize, (r.end - m.start) as usize);
                if b > bytes.len() {
                    return Err(corrupt(&self.path, "short read"));
                }
                Ok(bytes.slice(a..b))
            })
            .collect()
    }
}

async fn get_range(store: &Arc<dyn ObjectStore>, path: &StorePath, r: Range<u64>) -> Result<Bytes> {
    store
        .get_range(path, r)
        .await
        .map_err(|e| crate::storage::store_error(path.as_ref(), e))
}

/// What `build_indexes` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// Live `spans` data files.
    pub files: u64,
    /// Indexes written.
    pub built: u64,
    /// Files whose index was already current.
    pub current: u64,
    /// Bytes of data files read to build indexes.
    pub data_bytes: u64,
    /// Bytes of indexes written.
    pub index_bytes: u64,
}

/// Whether the data file at `location` has an index that describes it.
pub async fn is_current(
    warehouse: &crate::Warehouse,
    location: &str,
    size: u64,
    rows: u64,
) -> bool {
    let Ok(path) = warehouse.path(&index_location(location)) else {
        return false;
    };
    match IndexReader::open(warehouse.store().clone(), path).await {
        Ok(Some(r)) => r.footer.describes(location, size, rows),
        _ => false,
    }
}

/// Writes the text index of every live `spans` data file that has no current one (every
/// file when `rebuild`); `progress` is told each file's size once it is done.
pub async fn build_indexes(
    lake: &crate::Lake,
    rebuild: bool,
    mut progress: impl FnMut(&crate::FileInfo),
) -> Result<IndexReport> {
    use futures::TryStreamExt;
    use parquet::arrow::ParquetRecordBatchStreamBuilder;
    use parquet::arrow::async_reader::ParquetObjectReader;

    let warehouse = lake.warehouse();
    let mut report = IndexReport::default();
    for file in lake.files(tracelake_model::TableKind::Spans).await? {
        report.files += 1;
        if !rebuild && is_current(warehouse, &file.location, file.size, file.rows).await {
            report.current += 1;
            progress(&file);
            continue;
        }
        let path = warehouse.path(&file.location)?;
        let read_error = |e: parquet::errors::ParquetError| {
            Error::unavailable(format!("reading {}", file.location)).with_source(e)
        };
        let reader =
            ParquetObjectReader::new(warehouse.store().clone(), path).with_file_size(file.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(read_error)?;
        let row_groups: Vec<u64> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as u64)
            .collect();
        let mask = parquet::arrow::ProjectionMask::columns(
            builder.parquet_schema(),
            INDEXED_COLUMNS.iter().copied(),
        );
        let mut stream = builder
            .with_projection(mask)
            .with_batch_size(8192)
            .build()
            .map_err(read_error)?;
        let mut index = IndexBuilder::new();
        while let Some(batch) = stream.try_next().await.map_err(read_error)? {
            index.add_batch(&batch)?;
        }
        if index.rows() != file.rows {
            return Err(Error::invalid_input(format!(
                "{}: read {} rows, the table says {}",
                file.location,
                index.rows(),
                file.rows
            )));
        }
        let bytes = index.finish(&file.location, file.size, row_groups);
        report.index_bytes += bytes.len() as u64;
        report.data_bytes += file.size;
        warehouse
            .write(&index_location(&file.location), bytes.into())
            .await?;
        report.built += 1;
        progress(&file);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};

    fn batch(texts: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "output_text",
            DataType::Utf8,
            true,
        )]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(texts.to_vec()))]).unwrap()
    }

    /// Writes `bytes` as `x.tlidx` in `dir` and opens it.
    async fn open_index(dir: &std::path::Path, bytes: &[u8]) -> IndexReader {
        std::fs::write(dir.join("x.tlidx"), bytes).unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap());
        IndexReader::open(store, StorePath::from("x.tlidx"))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_damaged_index_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = IndexBuilder::with_blocks(1 << 20, 2);
        b.add_batch(&batch(&[Some("hello world"), Some("again")]))
            .unwrap();
        let good = b.finish("data/x.parquet", 10, vec![2]);
        let store: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let mut lying = good.clone();
        let n = lying.len();
        lying[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes()); // footer "length"
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("lying lengths", lying),
            ("garbage", vec![0xAB; 100]),
        ];
        for (name, bytes) in cases {
            std::fs::write(dir.path().join("x.tlidx"), &bytes).unwrap();
            let r = IndexReader::open(store.clone(), StorePath::from("x.tlidx")).await;
            assert!(r.is_err(), "{name}: {r:?}");
        }
    }

    #[test]
    fn folding_matches_unicode_simple_case_folding_into_ascii() {
        // Every non-ASCII character a case-insensitive ASCII letter matches is folded onto it.
        for letter in b'a'..=b'z' {
            let re = regex::Regex::new(&format!("(?i)^{}$", letter as char)).unwrap();
            for c in (0x80u32..=0x10FFFF).filter_map(char::from_u32) {
                if re.is_match(c.encode_utf8(&mut [0; 4])) {
                    assert_eq!(fold(&c.to_string()), vec![letter], "{c:?}");
                }
            }
        }
        assert_eq!(fold("ſecret KEY"), b"secret key".to_vec());
    }

    #[tokio::test]
    async fn lookups_return_the_blocks_of_each_trigram() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = IndexBuilder::with_blocks(1 << 20, 2);
        let rows: Vec<Option<&str>> = vec![
            Some("hello world"),
            None,
            Some("错误 happened"),
            Some("HELLO again"),
            Some("nothing"),
        ];
        b.add_batch(&batch(&rows)).unwrap();
        let bytes = b.finish("data/x.parquet", 10, vec![5]);
        let mut r = open_index(dir.path(), &bytes).await;
        assert_eq!(r.footer.blocks, 3);
        assert_eq!(r.block_rows(1), Some(2..4));
        assert_eq!(r.block_rows(2), Some(4..5));
        let key = |s: &str| trigrams(&fold(s)).next().unwrap();
        let keys: BTreeSet<u32> = ["hel", "错".get(0..3).unwrap(), "not", "zzz"]
            .iter()
            .map(|s| key(s))
            .collect();
        let got = r.lookup(&keys).await.unwrap();
        assert_eq!(got[&key("hel")], vec![0, 1]);
        assert_eq!(got[&key("错")], vec![1]);
        assert_eq!(got[&key("not")], vec![2]);
        assert!(!got.contains_key(&key("zzz")));
    }

    #[tokio::test]
    async fn the_builder_indexes_exactly_the_folded_trigrams_of_each_block() {
        // Text the builder's one-pass folding must agree with `fold` on: ASCII of both
        // cases, `ſ` and KELVIN SIGN (folded), other non-ASCII, bytes that look like the
        // start of those sequences but are not, and values too short for a trigram; blocks
        // of 3 rows, so keys repeat within a block and across blocks.
        let texts: Vec<String> = (0..200)
            .map(|i| match i % 9 {
                0 => format!("Row {i}: ſecret \u{212A}ey"),
                1 => "ab".to_string(),
                2 => String::new(),
                3 => format!("Ŀ€ ſ→ \u{2122} {i} café ÅNGSTRÖM Šſ"),
                4 => "\u{212A}".repeat(i % 5),
                5 => format!("{i}{i}{i} common COMMON Common"),
                6 => "ſſſ".to_string(),
                7 => format!("错误 {i} happened — again"),
                _ => "x".to_string(),
            })
            .collect();
        let rows: Vec<Option<&str>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (i % 11 != 10).then_some(t.as_str()))
            .collect();
        let mut b = IndexBuilder::with_blocks(1 << 20, 3);
        b.add_batch(&batch(&rows)).unwrap();
        let bytes = b.finish("data/x.parquet", 10, vec![rows.len() as u64]);
        let mut want: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            for key in row
                .map(|t| trigrams(&fold(t)).collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let blocks = want.entry(key).or_default();
                if blocks.last() != Some(&(i as u32 / 3)) {
                    blocks.push(i as u32 / 3);
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut r = open_index(dir.path(), &bytes).await;
        assert_eq!(r.footer.keys, want.len() as u64);
        let got = r.lookup(&want.keys().copied().collect()).await.unwrap();
        assert_eq!(got.into_iter().collect::<BTreeMap<_, _>>(), want);
    }

    #[tokio::test]
    async fn dense_postings_are_bitmaps_sparse_ones_deltas_both_exact() {
        // 300 one-row blocks: "com" in every third block (dense: a bitmap is shorter than
        // 100 deltas), "rar" in blocks 7 and 250 (sparse: two deltas).
        let texts: Vec<String> = (0..300)
            .map(|i| {
                let mut t = format!("row{i} ");
                if i % 3 == 0 {
                    t.push_str("common ");
                }
                if i == 7 || i == 250 {
                    t.push_str("rare");
                }
                t
            })
            .collect();
        let rows: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
        let mut b = IndexBuilder::with_blocks(1 << 20, 1);
        b.add_batch(&batch(&rows)).unwrap();
        let bytes = b.finish("data/x.parquet", 10, vec![300]);
        let dir = tempfile::tempdir().unwrap();
        let mut r = open_index(dir.path(), &bytes).await;
        assert_eq!(r.footer.blocks, 300);
        let key = |s: &str| trigrams(&fold(s)).next().unwrap();
        let keys: BTreeSet<u32> = [key("com"), key("rar")].into();
        let entries = r.entries(&keys).await.unwrap();
        // The encodings chosen: a tag byte plus 38 bitmap bytes; a tag byte plus the deltas
        // 7 (one LEB128 byte) and 243 (two).
        assert_eq!(
            entries[&key("com")].end - entries[&key("com")].start,
            1 + 38
        );
        assert_eq!(entries[&key("rar")].end - entries[&key("rar")].start, 1 + 3);
        let got = r.lookup(&keys).await.unwrap();
        assert_eq!(got[&key("com")], (0..300).step_by(3).collect::<Vec<u32>>());
        assert_eq!(got[&key("rar")], vec![7, 250]);
    }
}
