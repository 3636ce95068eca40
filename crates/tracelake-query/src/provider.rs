//! A DataFusion table over one lake table's current snapshot: the lake lists the live data
//! files (with their day partition and column bounds), this provider prunes them with the
//! query's filters and hands the rest to DataFusion's own Parquet reader (row-group and page
//! pruning, projection, parallel scan over object storage).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use std::sync::Mutex;
use tracelake_lake::textindex::{IndexReader, index_location};
use tracelake_lake::{FileInfo, MICROS_PER_DAY};

use crate::grep::{GramQuery, filter_query};
use tracelake_model::TableKind;

/// One lake table, as of the snapshot it was loaded at.
#[derive(Debug)]
pub struct LakeTable {
    kind: TableKind,
    schema: SchemaRef,
    /// The snapshot's files: given, or read from `lake` at the first scan (a query touches
    /// only the tables it reads; reading a table's manifests is most of an engine's start-up).
    files: tokio::sync::OnceCell<Vec<PlannedFile>>,
    lake: Option<tracelake_lake::Lake>,
    store_url: ObjectStoreUrl,
    grep_stats: Arc<Mutex<GrepStats>>,
}

/// What the text index did for the `grep` filters of the scans of a table (summed over
/// scans).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GrepStats {
    /// Data files the scans considered (after partition pruning).
    pub files: u64,
    /// Their bytes.
    pub data_bytes: u64,
    /// Files the index showed cannot match (not read).
    pub files_skipped: u64,
    /// Files without a usable index (missing or stale): scanned whole.
    pub files_unindexed: u64,
    /// Files whose candidates were too many to be worth selecting: scanned whole.
    pub files_scanned: u64,
    /// Blocks of rows in indexed files.
    pub blocks: u64,
    /// Candidate blocks read.
    pub candidate_blocks: u64,
    /// Bytes of index read.
    pub index_bytes: u64,
    /// Range requests for index reads.
    pub index_requests: u64,
    /// Whether the pattern could use the index at all (false: too short or too loose).
    pub used_index: bool,
}

#[derive(Debug, Clone)]
struct PlannedFile {
    path: String,
    size: u64,
    day: Option<i32>,
    rows: u64,
    session_bounds: Option<(String, String)>,
}

fn plan_files(files: &[FileInfo], paths: Vec<String>) -> Vec<PlannedFile> {
    files
        .iter()
        .zip(paths)
        .map(|(f, path)| PlannedFile {
            path,
            size: f.size,
            day: f.day,
            rows: f.rows,
            session_bounds: f.text_bounds.get("session_id").cloned(),
        })
        .collect()
}

impl LakeTable {
    /// A provider over `files` of table `kind`; paths are object-store paths in `store_url`.
    pub fn new(
        kind: TableKind,
        files: &[FileInfo],
        paths: Vec<String>,
        store_url: ObjectStoreUrl,
    ) -> Self {
        Self {
            kind,
            schema: kind.schema(),
            files: tokio::sync::OnceCell::new_with(Some(plan_files(files, paths))),
            lake: None,
            store_url,
            grep_stats: Arc::default(),
        }
    }

    /// A provider over table `kind` of `lake`, as of the first scan (its files are listed
    /// then, once).
    pub fn lazy(kind: TableKind, lake: tracelake_lake::Lake, store_url: ObjectStoreUrl) -> Self {
        Self {
            kind,
            schema: kind.schema(),
            files: tokio::sync::OnceCell::new(),
            lake: Some(lake),
            store_url,
            grep_stats: Arc::default(),
        }
    }

    /// What the text index did for this table's `grep` filters so far.
    pub fn grep_stats(&self) -> Arc<Mutex<GrepStats>> {
        self.grep_stats.clone()
    }

    async fn planned_files(&self) -> DfResult<&[PlannedFile]> {
        let external =
            |e: tracelake_model::Error| datafusion::error::DataFusionError::External(Box::new(e));
        self.files
            .get_or_try_init(|| async {
                let Some(lake) = &self.lake else {
                    return Ok(Vec::new());
                };
                let files = lake.files(self.kind).await.map_err(external)?;
                let paths = files
                    .iter()
                    .map(|f| lake.warehouse().path(&f.location).map(|p| p.to_string()))
                    .collect::<tracelake_model::Result<Vec<_>>>()
                    .map_err(external)?;
                Ok(plan_files(&files, paths))
            })
            .await
            .map(Vec::as_slice)
    }
}

/// A range of days `[lo, hi]` a filter allows, from comparisons of the time column with
/// timestamp literals.
#[derive(Debug, Clone, Copy)]
struct DayRange {
    lo: i64,
    hi: i64,
}

fn literal_micros(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1000)),
        _ => None,
    }
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column_name(&c.expr),
        Expr::TryCast(c) => column_name(&c.expr),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal(&c.expr),
        _ => None,
    }
}

fn narrow_days(expr: &Expr, time_column: &str, range: &mut DayRange) {
    let day = |micros: i64| micros.div_euclid(MICROS_PER_DAY);
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                narrow_days(left, time_column, range);
                narrow_days(right, time_column, range);
                return;
            }
            let (col, value, op) = match (
                column_name(left),
                literal(right),
                column_name(right),
                literal(left),
            ) {
                (Some(c), Some(v), _, _) => (c, v, *op),
                (_, _, Some(c), Some(v)) => match op.swap() {
                    Some(op) => (c, v, op),
                    None => return,
                },
                _ => return,
            };
            if col != time_column {
                return;
            }
            let Some(t) = literal_micros(value) else {
                return;
            };
            match op {
                Operator::Gt | Operator::GtEq => range.lo = range.lo.max(day(t)),
                Operator::Lt | Operator::LtEq => range.hi = range.hi.min(day(t)),
                Operator::Eq => {
                    range.lo = range.lo.max(day(t));
                    range.hi = range.hi.min(day(t));
                }
                _ => {}
            }
        }
        Expr::Between(b) if !b.negated && column_name(&b.expr) == Some(time_column) => {
            if let Some(lo) = literal(&b.low).and_then(literal_micros) {
                range.lo = range.lo.max(day(lo));
            }
            if let Some(hi) = literal(&b.high).and_then(literal_micros) {
                range.hi = range.hi.min(day(hi));
            }
        }
        _ => {}
    }
}

fn session_equals(expr: &Expr, out: &mut Option<String>) {
    if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr {
        if *op == Operator::And {
            session_equals(left, out);
            session_equals(right, out);
        } else if *op == Operator::Eq {
            let (c, v) = match (column_name(left), literal(right)) {
                (Some(c), Some(v)) => (c, v),
                _ => match (column_name(right), literal(left)) {
                    (Some(c), Some(v)) => (c, v),
                    _ => return,
                },
            };
            if c == "session_id"
                && let ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)) = v
            {
                *out = Some(s.clone());
            }
        }
    }
}

#[async_trait]
impl datafusion::catalog::TableProvider for LakeTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut days = DayRange {
            lo: i64::MIN,
            hi: i64::MAX,
        };
        let mut session = None;
        for f in filters {
            narrow_days(f, self.kind.time_column(), &mut days);
            session_equals(f, &mut session);
        }
        let files: Vec<&PlannedFile> = self
            .planned_files()
            .await?
            .iter()
            .filter(|f| {
                f.day
                    .is_none_or(|d| i64::from(d) >= days.lo && i64::from(d) <= days.hi)
            })
            .filter(|f| match (&session, &f.session_bounds) {
                (Some(s), Some((lo, hi))) => s >= lo && s <= hi,
                _ => true,
            })
            .collect();
        // The text index: files no match can be in are dropped, the others read only their
        // candidate blocks.
        let grep = filters
            .iter()
            .filter_map(filter_query)
            .reduce(|a, b| GramQuery::And(vec![a, b]));
        let mut planned: Vec<(&PlannedFile, Option<ParquetAccessPlan>)> = Vec::new();
        match grep {
            Some(query) if self.kind == TableKind::Spans && !query.is_all() => {
                let store = state.runtime_env().object_store(&self.store_url)?;
                let tasks: Vec<_> = files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let (store, query, f) = (store.clone(), query.clone(), (*f).clone());
                        async move { (i, index_plan(store, &f, &query).await) }
                    })
                    .collect();
                let plans: Vec<(usize, IndexPlan)> =
                    futures::stream::iter(tasks).buffered(16).collect().await;
                let mut stats = self.grep_stats.lock().map_err(|_| {
                    datafusion::error::DataFusionError::Internal("grep stats poisoned".into())
                })?;
                stats.used_index = true;
                for (i, plan) in plans {
                    let Some(f) = files.get(i).copied() else {
                        continue;
                    };
                    stats.files += 1;
                    stats.data_bytes += f.size;
                    match plan {
                        IndexPlan::Unindexed(why) => {
                            tracing::debug!(file = %f.path, %why, "no usable text index: scanning");
                            stats.files_unindexed += 1;
                            planned.push((f, None));
                        }
                        IndexPlan::Read {
                            access,
                            blocks,
                            candidates,
                            bytes,
                            requests,
                        } => {
                            stats.blocks += blocks;
                            stats.candidate_blocks += candidates;
                            stats.index_bytes += bytes;
                            stats.index_requests += requests;
                            match access {
                                _ if candidates == 0 => stats.files_skipped += 1,
                                None => {
                                    stats.files_scanned += 1;
                                    planned.push((f, None));
                                }
                                Some(a) => planned.push((f, Some(a))),
                            }
                        }
                    }
                }
            }
            Some(_) => {
                if let Ok(mut stats) = self.grep_stats.lock() {
                    stats.files += files.len() as u64;
                    stats.data_bytes += files.iter().map(|f| f.size).sum::<u64>();
                    stats.files_scanned += files.len() as u64;
                }
                planned = files.iter().map(|f| (*f, None)).collect();
            }
            None => planned = files.iter().map(|f| (*f, None)).collect(),
        }
        let projected_schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        if planned.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected_schema)));
        }
        let selective = planned.iter().any(|(_, access)| access.is_some());
        // Balance files over the target partitions by size.
        let partitions = state.config().target_partitions().max(1).min(planned.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
        let mut sorted = planned;
        sorted.sort_by_key(|f| std::cmp::Reverse(f.0.size));
        for (f, access) in sorted {
            if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
                g.0 += f.size;
                let mut file = PartitionedFile::new(f.path.clone(), f.size);
                if let Some(access) = access {
                    file = file.with_extensions(Arc::new(access));
                }
                g.1.push(file);
            }
        }
        let mut source = ParquetSource::new(self.schema.clone())
            .with_enable_page_index(true)
            .with_pushdown_filters(false);
        if selective {
            // Row selections from the text index only save I/O when the reader knows where
            // each page starts (the offset index), which DataFusion loads only for page
            // pruning predicates; grep is not one, so ask for it here.
            let store = state.runtime_env().object_store(&self.store_url)?;
            source =
                source.with_parquet_file_reader_factory(Arc::new(OffsetIndexReaders { store }));
        }
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            let df_schema = datafusion::common::DFSchema::try_from(self.schema.as_ref().clone())?;
            let physical = state.create_physical_expr(predicate, &df_schema)?;
            source = source.with_predicate(physical);
        }
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(
                groups
                    .into_iter()
                    .map(|(_, files)| FileGroup::new(files))
                    .collect(),
            )
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// Parquet readers that load each file's offset index with its footer, so a row selection
/// fetches only the pages it needs.
#[derive(Debug)]
struct OffsetIndexReaders {
    store: Arc<dyn ObjectStore>,
}

impl ParquetFileReaderFactory for OffsetIndexReaders {
    fn create_reader(
        &self,
        _partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        _metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        let mut reader =
            ParquetObjectReader::new(self.store.clone(), file.object_meta.location.clone())
                .with_file_size(file.object_meta.size)
                .with_preload_offset_index(true);
        if let Some(hint) = metadata_size_hint {
            reader = reader.with_footer_size_hint(hint);
        }
        Ok(Box::new(reader))
    }
}

/// How the index says to read a file.
enum IndexPlan {
    /// No usable index (missing, stale, unreadable): read it all.
    Unindexed(String),
    /// The index was read: `candidates` of `blocks` may match; `access` selects them (`None`:
    /// so many that a plain scan is cheaper).
    Read {
        access: Option<ParquetAccessPlan>,
        blocks: u64,
        candidates: u64,
        bytes: u64,
        requests: u64,
    },
}

/// Trigrams of an AND actually read: the rarest this many. Dense posting lists are bitmaps
/// (a bit per block), so reading every trigram of a needle costs little; only very long
/// needles and regex expansions are cut down.
const RAREST_GRAMS: usize = 32;

/// Past this fraction of candidate blocks a file is scanned whole: selecting rows costs more
/// than it saves.
const SCAN_FRACTION: f64 = 0.5;

async fn index_plan(store: Arc<dyn ObjectStore>, f: &PlannedFile, query: &GramQuery) -> IndexPlan {
    let path = ObjectPath::from(index_location(&f.path));
    let mut reader = match IndexReader::open(store, path).await {
        Ok(Some(r)) => r,
        Ok(None) => return IndexPlan::Unindexed("missing".into()),
        Err(e) => return IndexPlan::Unindexed(e.report()),
    };
    let footer = reader.footer.clone();
    if !footer.describes(&f.path, f.size, f.rows) {
        return IndexPlan::Unindexed(format!(
            "stale: the index describes {} ({} bytes, {} rows)",
            footer.data_file, footer.data_size, footer.rows
        ));
    }
    let mut keys = std::collections::BTreeSet::new();
    query.grams(&mut keys);
    let entries = match reader.entries(&keys).await {
        Ok(e) => e,
        Err(e) => return IndexPlan::Unindexed(e.report()),
    };
    // Of the trigrams every match needs, fetch only the rarest few (the key table says how
    // long each posting list is): the rest narrow the candidates little and cost the most.
    let sizes = entries.iter().map(|(k, r)| (*k, r.end - r.start)).collect();
    let query = query.cheapest(&sizes, RAREST_GRAMS);
    let mut wanted = std::collections::BTreeSet::new();
    query.grams(&mut wanted);
    let fetch: Vec<_> = entries
        .into_iter()
        .filter(|(k, _)| wanted.contains(k))
        .collect();
    let postings = match reader.postings(&fetch).await {
        Ok(p) => p,
        Err(e) => return IndexPlan::Unindexed(e.report()),
    };
    let candidates = query.candidates(footer.blocks, &postings);
    let access = (candidates.len() as f64 <= SCAN_FRACTION * f64::from(footer.blocks)).then(|| {
        let rows: Vec<std::ops::Range<u64>> = candidates
            .iter()
            .filter_map(|&b| reader.block_rows(b))
            .collect();
        access_plan(&footer.row_groups, &rows)
    });
    IndexPlan::Read {
        access,
        blocks: u64::from(footer.blocks),
        candidates: candidates.len() as u64,
        bytes: reader.bytes_read,
        requests: reader.requests,
    }
}

/// Row selections per row group covering exactly `rows` (sorted, disjoint file row ranges).
fn access_plan(row_groups: &[u64], rows: &[std::ops::Range<u64>]) -> ParquetAccessPlan {
    let mut out = Vec::with_capacity(row_groups.len());
    let mut start = 0u64;
    for &n in row_groups {
        let end = start + n;
        let ranges: Vec<std::ops::Range<usize>> = rows
            .iter()
            .filter(|r| r.start < end && r.end > start)
            .map(|r| (r.start.max(start) - start) as usize..(r.end.min(end) - start) as usize)
            .collect();
        out.push(if ranges.is_empty() {
            RowGroupAccess::Skip
        } else if ranges.iter().map(|r| r.len() as u64).sum::<u64>() == n {
            RowGroupAccess::Scan
        } else {
            RowGroupAccess::Selection(RowSelection::from_consecutive_ranges(
                ranges.into_iter(),
                n as usize,
            ))
        });
        start = end;
    }
    ParquetAccessPlan::new(out)
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    #[test]
    fn time_filters_narrow_the_day_range() {
        let t = |s: &str| {
            let micros = chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros();
            lit(ScalarValue::TimestampMicrosecond(
                Some(micros),
                Some("+00:00".into()),
            ))
        };
        let mut r = DayRange {
            lo: i64::MIN,
            hi: i64::MAX,
        };
        let e = col("start_time")
            .gt_eq(t("2026-11-20T10:00:00Z"))
            .and(col("start_time").lt(t("2026-11-22T00:00:00Z")));
        narrow_days(&e, "start_time", &mut r);
        assert_eq!(r.lo, 20777);
        assert_eq!(r.hi, 20779);
        let mut s = None;
        session_equals(&col("session_id").eq(lit("abc")), &mut s);
        assert_eq!(s.as_deref(), Some("abc"));
    }
}
