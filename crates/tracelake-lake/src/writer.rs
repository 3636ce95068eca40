//! Writing rows into a table's data files: split by day partition, sort by session and time,
//! encode as Parquet (zstd, page statistics, field ids), and describe each finished file as an
//! Iceberg `DataFile` with the column metrics readers prune with.
//!
//! Files stream to their final location in a local warehouse (fsynced on close) or to a
//! staging folder and then up to object storage, so memory stays bounded by the row groups in
//! progress, not by the size of an import.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{
    LexicographicalComparator, SortColumn, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::TimestampMicrosecondType;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, Literal, PrimitiveType,
    Schema as IcebergSchema, Struct,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use tracelake_model::{Error, Result, TableKind};

use crate::direct::BlockWriter;
use crate::storage::Warehouse;
use crate::table::partition_field_name;
use crate::textindex::{IndexBuilder, index_location};

/// Page size of the searchable text columns of `spans`.
const TEXT_PAGE_BYTES: usize = 64 * 1024;

/// Rows handed to a column writer at a time in `spans`. Page limits are checked only between
/// such batches, so with Parquet's default (1,024) a text page held 1,024 values whatever
/// their size (~800 KiB of tool output, ~300 KiB compressed); 32 keeps text pages near
/// [`TEXT_PAGE_BYTES`], so the pages of a few candidate blocks are what a search reads.
const SPANS_WRITE_BATCH_ROWS: usize = 32;

/// Rows handed to a column writer at a time in `raw`, for the same reason: a collector's
/// record is a whole request (~250 KiB of OTLP JSON for 100 spans), so with the default a
/// page held the whole batch the sink sent (megabytes), which the writer grew by doubling
/// into fresh memory and a reader had to decompress whole to read one record. With 4, pages
/// stay near 1 MiB.
const RAW_WRITE_BATCH_ROWS: usize = 4;

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// How data files are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteOptions {
    /// A data file is closed once it reaches this many bytes.
    pub target_file_bytes: u64,
    /// A row group is closed once its encoded size reaches this many bytes.
    pub row_group_bytes: u64,
    /// Encoded bytes all open files may hold in memory before the largest is flushed.
    pub memory_budget_bytes: u64,
    /// zstd level for Parquet pages.
    pub zstd_level: i32,
    /// Write a text index beside each `spans` data file (`textindex`); searches scan files
    /// without one.
    pub text_index: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            target_file_bytes: 256 * 1024 * 1024,
            row_group_bytes: 32 * 1024 * 1024,
            memory_budget_bytes: 192 * 1024 * 1024,
            zstd_level: 3,
            text_index: true,
        }
    }
}

struct OpenFile {
    location: String,
    local_path: PathBuf,
    staged: bool,
    writer: ArrowWriter<BlockWriter>,
    rows: u64,
    index: Option<IndexBuilder>,
}

/// A closed data file: where it is staged or written, its location, its description, and
/// its text index when it has one and is staged for upload.
struct FinishedFile {
    local_path: PathBuf,
    staged: bool,
    location: String,
    data_file: DataFile,
    staged_index: Option<Vec<u8>>,
}

/// Writes rows of one table into day-partitioned, sorted Parquet data files.
pub struct DataFileWriter {
    kind: TableKind,
    warehouse: Warehouse,
    table_location: String,
    schema: Arc<IcebergSchema>,
    staging_dir: PathBuf,
    options: WriteOptions,
    props: WriterProperties,
    open: HashMap<i32, OpenFile>,
    finished: Vec<FinishedFile>,
    file_counter: u32,
}

impl DataFileWriter {
    /// A writer for `kind` at `table_location`; non-local files are staged in `staging_dir`.
    pub fn new(
        kind: TableKind,
        warehouse: Warehouse,
        table_location: String,
        schema: Arc<IcebergSchema>,
        staging_dir: PathBuf,
        options: WriteOptions,
    ) -> Result<Self> {
        let level = ZstdLevel::try_new(options.zstd_level).map_err(|e| {
            Error::invalid_input(format!("zstd level {}", options.zstd_level)).with_source(e)
        })?;
        let mut props = WriterProperties::builder();
        if kind == TableKind::Spans {
            // Text pages about as large as an index block, so a search that selects a few
            // blocks decodes little more than those rows (other columns keep 1 MiB pages).
            for column in crate::textindex::INDEXED_COLUMNS {
                let path = parquet::schema::types::ColumnPath::from(*column);
                // No dictionary: a reader must decode a column chunk's whole dictionary page
                // (up to 1 MiB) before any of its pages, which is most of what reading a few
                // rows of long, mostly distinct text would cost.
                props = props
                    .set_column_data_page_size_limit(path.clone(), TEXT_PAGE_BYTES)
                    .set_column_dictionary_enabled(path, false);
            }
            props = props.set_write_batch_size(SPANS_WRITE_BATCH_ROWS);
        }
        if kind == TableKind::Raw {
            props = props.set_write_batch_size(RAW_WRITE_BATCH_ROWS);
        }
        let props = props
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_statistics_truncate_length(Some(64))
            .set_max_row_group_bytes(Some(options.row_group_bytes as usize))
            .set_max_row_group_row_count(Some(1 << 20))
            .set_created_by(format!("tracelake {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            kind,
            warehouse,
            table_location,
            schema,
            staging_dir,
            options,
            props,
            open: HashMap::new(),
            finished: Vec::new(),
            file_counter: 0,
        })
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.finished.is_empty()
    }

    /// Writes a batch of the table's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (day, part) in split_by_day(self.kind, batch)? {
            let sorted = sort_batch(self.kind, &part)?;
            self.write_day(day, &sorted)?;
        }
        self.enforce_memory_budget()
    }

    /// Writes a batch already sorted by the table's sort columns, all of one `day`.
    pub fn write_sorted(&mut self, day: i32, batch: &RecordBatch) -> Result<()> {
        for offset in (0..batch.num_rows()).step_by(8192) {
            let len = 8192.min(batch.num_rows() - offset);
            self.write_day(day, &batch.slice(offset, len))?;
        }
        self.enforce_memory_budget()
    }

    /// Closes the open file of `day`, if any, so later rows start a new file.
    pub fn close_day(&mut self, day: i32) -> Result<()> {
        match self.open.remove(&day) {
            Some(file) => self.close_file(day, file),
            None => Ok(()),
        }
    }

    fn write_day(&mut self, day: i32, batch: &RecordBatch) -> Result<()> {
        if !self.open.contains_key(&day) {
            let file = self.open_file(day, batch.schema())?;
            self.open.insert(day, file);
        }
        let Some(file) = self.open.get_mut(&day) else {
            return Err(Error::internal("data file vanished while writing"));
        };
        file.writer
            .write(batch)
            .map_err(|e| parquet_error(&file.location, e))?;
        if let Some(index) = &mut file.index {
            index.add_batch(batch)?;
        }
        file.rows += batch.num_rows() as u64;
        if file.writer.bytes_written() as u64 + file.writer.in_progress_size() as u64
            >= self.options.target_file_bytes
            && let Some(file) = self.open.remove(&day)
        {
            self.close_file(day, file)?;
        }
        Ok(())
    }

    fn enforce_memory_budget(&mut self) -> Result<()> {
        loop {
            let total: usize = self
                .open
                .values()
                .map(|f| f.writer.in_progress_size())
                .sum();
            if total as u64 <= self.options.memory_budget_bytes {
                return Ok(());
            }
            let Some(largest) = self
                .open
                .values_mut()
                .max_by_key(|f| f.writer.in_progress_size())
            else {
                return Ok(());
            };
            largest
                .writer
                .flush()
                .map_err(|e| parquet_error(&largest.location, e))?;
        }
    }

    fn open_file(&mut self, day: i32, schema: arrow::datatypes::SchemaRef) -> Result<OpenFile> {
        self.file_counter += 1;
        let date = day_to_date(day);
        let name = format!("{:05}-{}.parquet", self.file_counter, uuid::Uuid::now_v7());
        let location = format!(
            "{}/data/{}={date}/{name}",
            self.table_location.trim_end_matches('/'),
            partition_field_name(self.kind)
        );
        let (local_path, staged) = match self.warehouse.local_path(&location) {
            Some(p) => (p, false),
            None => (self.staging_dir.join(&name), true),
        };
        if let Some(parent) = local_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::unavailable(format!("creating {}", parent.display())).with_source(e)
            })?;
        }
        // Direct I/O: a data file's pages are not kept in the page cache as they are written
        // (copying them there cost the writer threads more than Parquet's own encoding).
        let file = crate::direct::create(&local_path).map_err(|e| {
            Error::unavailable(format!("creating {}", local_path.display())).with_source(e)
        })?;
        let writer = ArrowWriter::try_new(BlockWriter::new(file), schema, Some(self.props.clone()))
            .map_err(|e| parquet_error(&location, e))?;
        Ok(OpenFile {
            location,
            local_path,
            staged,
            writer,
            rows: 0,
            index: (self.kind == TableKind::Spans && self.options.text_index)
                .then(IndexBuilder::new),
        })
    }

    fn close_file(&mut self, day: i32, mut file: OpenFile) -> Result<()> {
        let metadata = file
            .writer
            .finish()
            .map_err(|e| parquet_error(&file.location, e))?;
        let size = file.writer.bytes_written() as u64;
        file.writer.inner_mut().finish().map_err(|e| {
            Error::unavailable(format!("writing {}", file.local_path.display())).with_source(e)
        })?;
        let data_file = describe_data_file(
            &self.schema,
            &file.location,
            day,
            size,
            file.rows,
            &metadata,
        )?;
        let mut staged_index = None;
        if let Some(index) = file.index.take() {
            let row_groups = metadata
                .row_groups()
                .iter()
                .map(|g| g.num_rows() as u64)
                .collect();
            let bytes = index.finish(&file.location, size, row_groups);
            if file.staged {
                staged_index = Some(bytes);
            } else {
                // Not fsynced: an index lost in a crash only makes searches of this file a
                // scan (a missing or stale index is detected and never trusted).
                let path = PathBuf::from(index_location(&file.local_path.to_string_lossy()));
                std::fs::write(&path, bytes).map_err(|e| {
                    Error::unavailable(format!("writing {}", path.display())).with_source(e)
                })?;
            }
        }
        self.finished.push(FinishedFile {
            local_path: file.local_path,
            staged: file.staged,
            location: file.location,
            data_file,
            staged_index,
        });
        Ok(())
    }

    /// Closes every open file (later rows start new ones): their last row group, footer,
    /// fsync and text index. [`DataFileWriter::finish`] does it too; calling this first lets
    /// a thread of its own do that work.
    pub fn close_open(&mut self) -> Result<()> {
        let open: Vec<(i32, OpenFile)> = self.open.drain().collect();
        for (day, file) in open {
            self.close_file(day, file)?;
        }
        Ok(())
    }

    /// Closes every open file, uploads staged ones, and returns the finished data files.
    pub async fn finish(mut self) -> Result<Vec<DataFile>> {
        self.close_open()?;
        let mut out = Vec::with_capacity(self.finished.len());
        for f in self.finished {
            if f.staged {
                self.warehouse
                    .upload_file(&f.local_path, &f.location)
                    .await?;
                let _ = std::fs::remove_file(&f.local_path);
                if let Some(index) = f.staged_index {
                    self.warehouse
                        .write(&index_location(&f.location), index.into())
                        .await?;
                }
            }
            out.push(f.data_file);
        }
        Ok(out)
    }

    /// Removes whatever this writer wrote (used when a write is abandoned).
    pub fn abandon(mut self) {
        for (_, file) in self.open.drain() {
            let _ = std::fs::remove_file(&file.local_path);
        }
        for f in self.finished {
            if !f.staged {
                let _ = std::fs::remove_file(index_location(&f.local_path.to_string_lossy()));
            }
            let _ = std::fs::remove_file(f.local_path);
        }
    }
}

fn parquet_error(location: &str, e: parquet::errors::ParquetError) -> Error {
    Error::unavailable(format!("writing Parquet file {location}")).with_source(e)
}

/// `2026-11-22` for day 20414.
pub fn day_to_date(day: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

fn time_column(
    kind: TableKind,
    batch: &RecordBatch,
) -> Result<arrow::array::TimestampMicrosecondArray> {
    let col = batch.column_by_name(kind.time_column()).ok_or_else(|| {
        Error::internal(format!(
            "batch for {} lacks {}",
            kind.name(),
            kind.time_column()
        ))
    })?;
    col.as_primitive_opt::<TimestampMicrosecondType>()
        .cloned()
        .ok_or_else(|| Error::internal(format!("{} is not a timestamp", kind.time_column())))
}

/// Splits a batch into one batch per day of the table's time column.
pub fn split_by_day(kind: TableKind, batch: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>> {
    let times = time_column(kind, batch)?;
    let day_of = |i: usize| times.value(i).div_euclid(MICROS_PER_DAY) as i32;
    let first = day_of(0);
    if (0..times.len()).all(|i| day_of(i) == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut groups: std::collections::BTreeMap<i32, Vec<u32>> = Default::default();
    for i in 0..times.len() {
        groups.entry(day_of(i)).or_default().push(i as u32);
    }
    groups
        .into_iter()
        .map(|(day, idx)| {
            take_record_batch(batch, &UInt32Array::from(idx))
                .map(|b| (day, b))
                .map_err(|e| Error::internal("splitting a batch by day").with_source(e))
        })
        .collect()
}

/// Sorts a batch by the table's sort columns.
pub fn sort_batch(kind: TableKind, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = kind
        .sort_columns()
        .iter()
        .map(|name| {
            batch
                .column_by_name(name)
                .map(|values| SortColumn {
                    values: values.clone(),
                    options: None,
                })
                .ok_or_else(|| Error::internal(format!("batch lacks sort column {name}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // Rows often arrive in order already (the collector's `raw` rows, by arrival): then the
    // batch is kept as it is instead of being copied row by row.
    let order = LexicographicalComparator::try_new(&columns)
        .map_err(|e| Error::internal("sorting a batch").with_source(e))?;
    if (1..batch.num_rows()).all(|i| order.compare(i - 1, i) != std::cmp::Ordering::Greater) {
        return Ok(batch.clone());
    }
    let indices = lexsort_to_indices(&columns, None)
        .map_err(|e| Error::internal("sorting a batch").with_source(e))?;
    take_record_batch(batch, &indices)
        .map_err(|e| Error::internal("sorting a batch").with_source(e))
}

#[derive(Default)]
struct ColumnMetrics {
    size: u64,
    values: u64,
    nulls: Option<u64>,
    lower: Option<Datum>,
    upper: Option<Datum>,
    bounds_valid: bool,
    seen: bool,
}

/// Longest string bound kept in metrics; longer values get no bounds (they prune nothing).
const MAX_STRING_BOUND: usize = 64;

fn bounds(ty: &PrimitiveType, stats: &Statistics) -> Option<(Datum, Datum)> {
    if !stats.min_is_exact() || !stats.max_is_exact() {
        return None;
    }
    match (ty, stats) {
        (PrimitiveType::String, Statistics::ByteArray(s)) => {
            let (min, max) = (s.min_opt()?, s.max_opt()?);
            if min.len() > MAX_STRING_BOUND || max.len() > MAX_STRING_BOUND {
                return None;
            }
            Some((
                Datum::string(min.as_utf8().ok()?),
                Datum::string(max.as_utf8().ok()?),
            ))
        }
        (PrimitiveType::Long, Statistics::Int64(s)) => {
            Some((Datum::long(*s.min_opt()?), Datum::long(*s.max_opt()?)))
        }
        (PrimitiveType::Timestamptz, Statistics::Int64(s)) => Some((
            Datum::timestamptz_micros(*s.min_opt()?),
            Datum::timestamptz_micros(*s.max_opt()?),
        )),
        (PrimitiveType::Int, Statistics::Int32(s)) => {
            Some((Datum::int(*s.min_opt()?), Datum::int(*s.max_opt()?)))
        }
        (PrimitiveType::Double, Statistics::Double(s)) => {
            let (min, max) = (*s.min_opt()?, *s.max_opt()?);
            if min.is_nan() || max.is_nan() {
                return None;
            }
            Some((Datum::double(min), Datum::double(max)))
        }
        (PrimitiveType::Boolean, Statistics::Boolean(s)) => {
            Some((Datum::bool(*s.min_opt()?), Datum::bool(*s.max_opt()?)))
        }
        _ => None,
    }
}

/// Describes a finished Parquet file as an Iceberg data file with column metrics.
pub fn describe_data_file(
    schema: &IcebergSchema,
    location: &str,
    day: i32,
    size: u64,
    rows: u64,
    metadata: &ParquetMetaData,
) -> Result<DataFile> {
    let mut metrics: HashMap<i32, ColumnMetrics> = HashMap::new();
    let mut split_offsets = Vec::new();
    for rg in metadata.row_groups() {
        if let Some(offset) = rg.file_offset() {
            split_offsets.push(offset);
        } else if let Some(first) = rg.columns().first() {
            split_offsets.push(
                first
                    .dictionary_page_offset()
                    .unwrap_or_else(|| first.data_page_offset()),
            );
        }
        for chunk in rg.columns() {
            let info = chunk.column_descr().self_type().get_basic_info();
            if !info.has_id() {
                continue;
            }
            let id = info.id();
            let m = metrics.entry(id).or_insert_with(|| ColumnMetrics {
                nulls: Some(0),
                bounds_valid: true,
                ..ColumnMetrics::default()
            });
            m.size += chunk.compressed_size().max(0) as u64;
            m.values += chunk.num_values().max(0) as u64;
            let Some(stats) = chunk.statistics() else {
                m.nulls = None;
                m.bounds_valid = false;
                continue;
            };
            m.nulls = match (m.nulls, stats.null_count_opt()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let non_null = chunk.num_values().max(0) as u64 > stats.null_count_opt().unwrap_or(0);
            if !non_null {
                continue;
            }
            let ty = schema
                .field_by_id(id)
                .and_then(|f| f.field_type.as_primitive_type().cloned());
            match ty.as_ref().and_then(|ty| bounds(ty, stats)) {
                Some((lo, hi)) => {
                    m.seen = true;
                    if m.lower.as_ref().is_none_or(|cur| lo < *cur) {
                        m.lower = Some(lo);
                    }
                    if m.upper.as_ref().is_none_or(|cur| hi > *cur) {
                        m.upper = Some(hi);
                    }
                }
                None => m.bounds_valid = false,
            }
        }
    }
    let mut column_sizes = HashMap::new();
    let mut value_counts = HashMap::new();
    let mut null_counts = HashMap::new();
    let mut lower_bounds = HashMap::new();
    let mut upper_bounds = HashMap::new();
    for (id, m) in metrics {
        column_sizes.insert(id, m.size);
        value_counts.insert(id, m.values);
        if let Some(n) = m.nulls {
            null_counts.insert(id, n);
        }
        if m.bounds_valid
            && m.seen
            && let (Some(lo), Some(hi)) = (m.lower, m.upper)
        {
            lower_bounds.insert(id, lo);
            upper_bounds.insert(id, hi);
        }
    }
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(location.to_string())
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::from_iter([Some(Literal::date(day))]))
        .record_count(rows)
        .file_size_in_bytes(size)
        .column_sizes(column_sizes)
        .value_counts(value_counts)
        .null_value_counts(null_counts)
        .lower_bounds(lower_bounds)
        .upper_bounds(upper_bounds)
        .split_offsets(Some(split_offsets))
        .sort_order_id(1)
        .partition_spec_id(0)
        .build()
        .map_err(|e| Error::internal(format!("describing data file {location}")).with_source(e))
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn metrics(names: &[&str], times: &[i64]) -> RecordBatch {
        let names: ArrayRef = Arc::new(StringArray::from(names.to_vec()));
        let times: ArrayRef = Arc::new(Int64Array::from(times.to_vec()));
        RecordBatch::try_from_iter([("metric_name", names), ("time", times)]).unwrap()
    }

    #[test]
    fn sorts_by_the_tables_sort_columns_and_keeps_sorted_batches_uncopied() {
        let unsorted = metrics(&["b", "a", "a", "b"], &[1, 3, 2, 0]);
        let sorted = sort_batch(TableKind::Metrics, &unsorted).unwrap();
        assert_eq!(sorted, metrics(&["a", "a", "b", "b"], &[2, 3, 0, 1]));

        // Already in order (ties included): the same arrays, not a copy.
        let in_order = metrics(&["a", "a", "a", "c"], &[1, 1, 5, 0]);
        let kept = sort_batch(TableKind::Metrics, &in_order).unwrap();
        assert_eq!(kept, in_order);
        for (a, b) in kept.columns().iter().zip(in_order.columns()) {
            assert!(Arc::ptr_eq(a, b), "a sorted batch is kept as it is");
        }
    }
}
