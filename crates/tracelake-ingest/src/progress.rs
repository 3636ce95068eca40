//! Progress reporting hooks: sources call them; the binary draws bars, tests count.

/// Receives progress of a long import.
pub trait ImportProgress: Send + Sync {
    /// The import found `files` files with `bytes` bytes to read.
    fn start(&self, files: u64, bytes: u64);
    /// `bytes` more bytes were read.
    fn advance(&self, bytes: u64);
    /// One more file is done.
    fn file_done(&self);
    /// The import is done.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ImportProgress for NoProgress {
    fn start(&self, _: u64, _: u64) {}
    fn advance(&self, _: u64) {}
    fn file_done(&self) {}
    fn finish(&self) {}
}
