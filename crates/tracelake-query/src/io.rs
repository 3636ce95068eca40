//! An object store that counts the reads going through it (requests and bytes), so a query
//! can say what it cost on S3: `tracelake search --explain` prints it next to what the text
//! index did.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Ranges closer than this are read in one request.
const COALESCE_GAP: u64 = 64 * 1024;

/// Reads counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IoStats {
    /// GET requests (each range of a multi-range read after coalescing is one).
    pub get_requests: u64,
    /// Bytes those requests returned (or will: a streamed body is counted by its range).
    pub get_bytes: u64,
    /// HEAD requests.
    pub head_requests: u64,
}

/// Wraps a store and counts its reads.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    get_requests: AtomicU64,
    get_bytes: AtomicU64,
    head_requests: AtomicU64,
}

impl CountingStore {
    /// Counts the reads of `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            get_requests: AtomicU64::new(0),
            get_bytes: AtomicU64::new(0),
            head_requests: AtomicU64::new(0),
        }
    }

    /// The counts since the last call, resetting them.
    pub fn take(&self) -> IoStats {
        IoStats {
            get_requests: self.get_requests.swap(0, Ordering::Relaxed),
            get_bytes: self.get_bytes.swap(0, Ordering::Relaxed),
            head_requests: self.head_requests.swap(0, Ordering::Relaxed),
        }
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let result = self.inner.get_opts(location, options).await?;
        if head {
            self.head_requests.fetch_add(1, Ordering::Relaxed);
        } else {
            tracing::trace!(%location, start = result.range.start, end = result.range.end, "GET");
            self.get_requests.fetch_add(1, Ordering::Relaxed);
            self.get_bytes.fetch_add(
                result.range.end.saturating_sub(result.range.start),
                Ordering::Relaxed,
            );
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        // Coalesce ranges less than `COALESCE_GAP` apart, then one counted `get_opts` per
        // merged range. object_store's default gap (1 MiB) turns the few pages a selective
        // search needs, spread over a row group's columns, into one read of nearly the whole
        // file; a small gap reads pages, at the price of more (concurrent) requests.
        object_store::coalesce_ranges(
            ranges,
            |range| async move {
                let options = GetOptions {
                    range: Some(range.into()),
                    ..Default::default()
                };
                self.get_opts(location, options).await?.bytes().await
            },
            COALESCE_GAP,
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
