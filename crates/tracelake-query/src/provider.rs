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
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use tracelake_lake::{FileInfo, MICROS_PER_DAY};
use tracelake_model::TableKind;

/// One lake table, as of the snapshot it was loaded at.
#[derive(Debug)]
pub struct LakeTable {
    kind: TableKind,
    schema: SchemaRef,
    files: Vec<PlannedFile>,
    store_url: ObjectStoreUrl,
}

#[derive(Debug, Clone)]
struct PlannedFile {
    path: String,
    size: u64,
    day: Option<i32>,
    session_bounds: Option<(String, String)>,
}

impl LakeTable {
    /// A provider over `files` of table `kind`; paths are object-store paths in `store_url`.
    pub fn new(
        kind: TableKind,
        files: &[FileInfo],
        paths: Vec<String>,
        store_url: ObjectStoreUrl,
    ) -> Self {
        let files = files
            .iter()
            .zip(paths)
            .map(|(f, path)| PlannedFile {
                path,
                size: f.size,
                day: f.day,
                session_bounds: f.text_bounds.get("session_id").cloned(),
            })
            .collect();
        Self {
            kind,
            schema: kind.schema(),
            files,
            store_url,
        }
    }

    /// Number of data files in the snapshot.
    pub fn file_count(&self) -> usize {
        self.files.len()
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
            .files
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
        let projected_schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        if files.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected_schema)));
        }
        // Balance files over the target partitions by size.
        let partitions = state.config().target_partitions().max(1).min(files.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions];
        let mut sorted = files;
        sorted.sort_by_key(|f| std::cmp::Reverse(f.size));
        for f in sorted {
            if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
                g.0 += f.size;
                g.1.push(PartitionedFile::new(f.path.clone(), f.size));
            }
        }
        let mut source = ParquetSource::new(self.schema.clone())
            .with_enable_page_index(true)
            .with_pushdown_filters(false);
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
