//! Direct I/O for files written once and read once (WAL segments) or written once and
//! seldom read back soon (data files): bytes go between our memory and the disk without a
//! copy into the page cache, whose every new page this machine's flood profiles showed as a
//! large share of the collector's CPU.
//!
//! Direct I/O moves whole blocks from block-aligned memory at block-aligned offsets, so
//! writes are buffered here in aligned memory ([`BlockBuf`]) and reads go through an aligned
//! buffer ([`BlockReader`]). Where the filesystem has no direct I/O (tmpfs, other systems
//! than Linux) the same code runs on ordinary buffered files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Disk blocks: what direct I/O aligns buffers, lengths and offsets to.
pub const BLOCK: usize = 4096;
/// Whole blocks are written once this much is waiting (as a buffered writer would).
pub const WRITE_AT: usize = 1 << 20;

/// Opens `options` for `path` with direct I/O, or without where the filesystem refuses it.
fn open_with(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut direct = options.clone();
        match direct.custom_flags(libc::O_DIRECT).open(path) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => return other,
        }
    }
    options.open(path)
}

/// Creates a new file (it must not exist) for writing.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    open_with(OpenOptions::new().create_new(true).write(true), path)
}

/// Creates or truncates a file for writing.
pub fn create(path: &Path) -> std::io::Result<File> {
    open_with(
        OpenOptions::new().create(true).truncate(true).write(true),
        path,
    )
}

/// Opens a file for reading.
pub fn open(path: &Path) -> std::io::Result<File> {
    open_with(OpenOptions::new().read(true), path)
}

/// Zeroed memory holding `len` bytes from a block-aligned offset: the memory and the offset.
fn aligned(len: usize) -> (Vec<u8>, usize) {
    let mem = vec![0u8; len + BLOCK];
    let start = (BLOCK - mem.as_ptr() as usize % BLOCK) % BLOCK;
    (mem, start)
}

/// Reads a file front to back, a megabyte at a time, in whole blocks into block-aligned
/// memory.
pub struct BlockReader {
    file: File,
    mem: Vec<u8>,
    start: usize,
    pos: usize,
    filled: usize,
    at: u64,
    eof: bool,
}

impl BlockReader {
    /// Reads `file` from its start.
    pub fn new(file: File) -> Self {
        let (mem, start) = aligned(WRITE_AT);
        Self {
            file,
            mem,
            start,
            pos: 0,
            filled: 0,
            at: 0,
            eof: false,
        }
    }
}

impl Read for BlockReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.filled {
            if self.eof {
                return Ok(0);
            }
            let n = self
                .file
                .read_at(&mut self.mem[self.start..self.start + WRITE_AT], self.at)?;
            // Short of whole blocks only at the end of the file.
            self.eof = n == 0 || n % BLOCK != 0;
            self.at += n as u64;
            self.pos = 0;
            self.filled = n;
        }
        let k = out.len().min(self.filled - self.pos);
        out[..k].copy_from_slice(&self.mem[self.start + self.pos..self.start + self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// Where a [`BlockBuf`]'s content ended at a [`BlockBuf::mark`], and its last partial block.
pub struct BlockMark {
    at: u64,
    tail: Vec<u8>,
}

impl BlockMark {
    /// Where the content ended.
    pub fn end(&self) -> u64 {
        self.at + self.tail.len() as u64
    }
}

/// Bytes appended to a file and not written yet, from file offset `at` (a whole number of
/// blocks), in memory aligned to a block. A write covers whole blocks: the last one is
/// padded with zeros and kept here, to be written again, completed, by the next write.
pub struct BlockBuf {
    mem: Vec<u8>,
    start: usize,
    len: usize,
    at: u64,
}

impl Default for BlockBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockBuf {
    /// An empty buffer for a new file.
    pub fn new() -> Self {
        let (mem, start) = aligned(WRITE_AT + BLOCK);
        Self {
            mem,
            start,
            len: 0,
            at: 0,
        }
    }

    /// Bytes waiting (including those of the last block already written padded).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes appended in all: where the file's content ends.
    pub fn end(&self) -> u64 {
        self.at + self.len as u64
    }

    /// Room for `more` bytes, and for the padding of the block they end in.
    fn reserve(&mut self, more: usize) {
        let want = (self.len + more).next_multiple_of(BLOCK);
        if self.start + want <= self.mem.len() {
            return;
        }
        let (mut mem, start) = aligned(want.max(2 * self.len));
        mem[start..start + self.len].copy_from_slice(&self.mem[self.start..self.start + self.len]);
        self.mem = mem;
        self.start = start;
    }

    /// Appends bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let end = self.start + self.len;
        self.mem[end..end + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Marks the content as it is now, for [`BlockBuf::restore`]. Cheap right after a write
    /// of everything: only the last, partial block is still held.
    pub fn mark(&self) -> BlockMark {
        BlockMark {
            at: self.at,
            tail: self.mem[self.start..self.start + self.len].to_vec(),
        }
    }

    /// Goes back to `mark`: every byte appended after it is dropped, written or not. The
    /// caller cuts the file to [`BlockMark::end`], past which a write may have left bytes.
    pub fn restore(&mut self, mark: &BlockMark) {
        self.len = 0;
        self.at = mark.at;
        self.extend(&mark.tail);
    }

    /// Writes the whole blocks to `file`, and with `all` the last partial one too (padded
    /// with zeros, and kept).
    pub fn write(&mut self, file: &File, all: bool) -> std::io::Result<()> {
        let whole = self.len / BLOCK * BLOCK;
        let n = if all {
            self.len.next_multiple_of(BLOCK)
        } else {
            whole
        };
        if n == 0 {
            return Ok(());
        }
        let (start, end) = (self.start, self.start + self.len);
        if start + n > end {
            self.mem[end..start + n].fill(0);
        }
        file.write_all_at(&self.mem[start..start + n], self.at)?;
        self.mem.copy_within(start + whole..end, start);
        self.len -= whole;
        self.at += whole as u64;
        Ok(())
    }
}

/// A file written front to back through a [`BlockBuf`]; [`BlockWriter::finish`] writes the
/// rest and cuts the file to its content (no padding).
pub struct BlockWriter {
    file: File,
    out: BlockBuf,
}

impl BlockWriter {
    /// Writes `file` from its start.
    pub fn new(file: File) -> Self {
        Self {
            file,
            out: BlockBuf::new(),
        }
    }

    /// Writes what is left, cuts the file to its length, and makes it durable.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.out.write(&self.file, true)?;
        self.file.set_len(self.out.end())?;
        self.file.sync_all()
    }
}

impl Write for BlockWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.out.extend(bytes);
        if self.out.len() >= WRITE_AT {
            self.out.write(&self.file, false)?;
        }
        Ok(bytes.len())
    }

    /// Writes the whole blocks (a partial last block waits for [`BlockWriter::finish`]).
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write(&self.file, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_writer_writes_exactly_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for size in [
            0,
            1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            WRITE_AT + 5,
            3 * WRITE_AT + 4097,
        ] {
            let path = dir.path().join(format!("{size}.bin"));
            let want: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
            let mut w = BlockWriter::new(create(&path).unwrap());
            // In uneven pieces, with flushes between some.
            for (i, piece) in want.chunks(1000 + size / 7).enumerate() {
                w.write_all(piece).unwrap();
                if i % 3 == 0 {
                    w.flush().unwrap();
                }
            }
            w.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), want, "{size} bytes");
            let mut back = Vec::new();
            BlockReader::new(open(&path).unwrap())
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, want, "{size} bytes read back");
        }
    }
}
