//! Keeping tables fast and bounded: compaction (many small files of a day into few large
//! ones, fully sorted by session and time), retention (dropping whole days older than a
//! cutoff), and snapshot expiry (forgetting old snapshots and deleting the files only they
//! referenced). Each is an ordinary optimistic commit, safe beside concurrent appends.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use futures::TryStreamExt;
use iceberg::spec::{Operation, TableMetadataBuilder};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::async_reader::ParquetObjectReader;
use tracelake_model::{Error, ErrorKind, NAMESPACE, Result, TableKind};

use crate::catalog::{CatalogCommit, PointerSwap};
use crate::commit::TableChange;
use crate::lake::Lake;
use crate::table::{
    LiveFile, TableState, iceberg_error, metadata_file_location, metadata_version, read_manifest,
    write_metadata,
};
use crate::writer::{DataFileWriter, MICROS_PER_DAY, sort_batch};

/// What compaction did to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Day partitions rewritten.
    pub partitions: usize,
    /// Files before.
    pub files_before: usize,
    /// Files after.
    pub files_after: usize,
    /// Rows rewritten (unchanged in number).
    pub rows: u64,
    /// Manifests listing the table's files before.
    pub manifests_before: usize,
    /// Manifests listing the table's files after.
    pub manifests_after: usize,
}

/// What retention removed from one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Data files dropped.
    pub files: usize,
    /// Rows dropped.
    pub rows: u64,
}

/// What snapshot expiry removed from one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Snapshots forgotten.
    pub snapshots: usize,
    /// Files deleted from storage (data, manifests, manifest lists, metadata).
    pub files_deleted: usize,
}

/// Uncompressed bytes one compaction group may hold in memory.
const COMPACTION_GROUP_BYTES: u64 = 512 * 1024 * 1024;

impl Lake {
    async fn read_data_file(&self, location: &str, size: u64) -> Result<Vec<RecordBatch>> {
        let path = self.warehouse().path(location)?;
        let reader =
            ParquetObjectReader::new(self.warehouse().store().clone(), path).with_file_size(size);
        let stream = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| Error::unavailable(format!("opening {location}")).with_source(e))?
            .with_batch_size(8192)
            .build()
            .map_err(|e| Error::unavailable(format!("reading {location}")).with_source(e))?;
        stream
            .try_collect()
            .await
            .map_err(|e| Error::unavailable(format!("reading {location}")).with_source(e))
    }

    /// Rewrites every day partition of `kind` that has at least `min_files` files into
    /// sorted files of the target size.
    pub async fn compact(&self, kind: TableKind, min_files: usize) -> Result<CompactionReport> {
        let state = self.table(kind).await?;
        let files = state.live_files(self.warehouse()).await?;
        let mut by_day: BTreeMap<i32, Vec<LiveFile>> = BTreeMap::new();
        for f in files {
            if let Some(day) = f.day {
                by_day.entry(day).or_default().push(f);
            }
        }
        let schema = kind.schema();
        let mut report = CompactionReport::default();
        for (day, day_files) in by_day {
            if day_files.len() < min_files.max(2) {
                continue;
            }
            // Group files so each group's rows fit the memory bound.
            let mut groups: Vec<Vec<&LiveFile>> = vec![Vec::new()];
            let mut group_bytes = 0u64;
            for f in &day_files {
                let bytes: u64 = f.data_file().column_sizes().values().sum::<u64>() * 4;
                if group_bytes + bytes > COMPACTION_GROUP_BYTES
                    && groups.last().is_some_and(|g| !g.is_empty())
                {
                    groups.push(Vec::new());
                    group_bytes = 0;
                }
                group_bytes += bytes;
                if let Some(g) = groups.last_mut() {
                    g.push(f);
                }
            }
            let mut writer = DataFileWriter::new(
                kind,
                self.warehouse().clone(),
                state.location().to_string(),
                state.metadata.current_schema().clone(),
                self.home().join("tmp").join("staging"),
                Default::default(),
            )?;
            let mut removed = Vec::new();
            for group in groups {
                let mut batches = Vec::new();
                for f in &group {
                    let df = f.data_file();
                    batches.extend(
                        self.read_data_file(df.file_path(), df.file_size_in_bytes())
                            .await?,
                    );
                    removed.push(df.file_path().to_string());
                }
                let all = concat_batches(&schema, &batches)
                    .map_err(|e| Error::internal("merging rows for compaction").with_source(e))?;
                drop(batches);
                report.rows += all.num_rows() as u64;
                let sorted = sort_batch(kind, &all)?;
                drop(all);
                writer.write_sorted(day, &sorted)?;
                writer.close_day(day)?;
            }
            let added = writer.finish().await?;
            report.partitions += 1;
            report.files_before += removed.len();
            report.files_after += added.len();
            let change = TableChange {
                kind,
                added,
                removed,
                operation: Operation::Replace,
                merge_manifests: false,
            };
            if let Err(e) = self
                .commit_changes(std::slice::from_ref(&change), Vec::new(), Vec::new())
                .await
            {
                for f in &change.added {
                    let _ = self.warehouse().delete(f.file_path()).await;
                    let _ = self
                        .warehouse()
                        .delete(&crate::textindex::index_location(f.file_path()))
                        .await;
                }
                return Err(e.context(format!("compacting {} day {day}", kind.name())));
            }
        }
        // Then the listing: the small manifests the commits left become one.
        let before = self
            .table(kind)
            .await?
            .live_manifests(self.warehouse())
            .await?;
        report.manifests_before = before.len();
        report.manifests_after = before.len();
        let small = before
            .iter()
            .filter(|m| m.manifest_length < crate::commit::MERGE_TARGET_BYTES)
            .count();
        if small >= 2 {
            let change = TableChange {
                kind,
                added: Vec::new(),
                removed: Vec::new(),
                operation: Operation::Replace,
                merge_manifests: true,
            };
            self.commit_changes(std::slice::from_ref(&change), Vec::new(), Vec::new())
                .await
                .map_err(|e| e.context(format!("merging the manifests of {}", kind.name())))?;
            report.manifests_after = self
                .table(kind)
                .await?
                .live_manifests(self.warehouse())
                .await?
                .len();
        }
        Ok(report)
    }

    /// Drops every data file of `kind` whose rows are all older than `cutoff_micros`
    /// (whole days: a day is dropped once all of it is before the cutoff).
    pub async fn delete_older_than(
        &self,
        kind: TableKind,
        cutoff_micros: i64,
    ) -> Result<RetentionReport> {
        let files = self.live_files(kind).await?;
        let doomed: Vec<&LiveFile> = files
            .iter()
            .filter(|f| {
                f.day
                    .is_some_and(|d| (i64::from(d) + 1) * MICROS_PER_DAY <= cutoff_micros)
            })
            .collect();
        if doomed.is_empty() {
            return Ok(RetentionReport::default());
        }
        let report = RetentionReport {
            files: doomed.len(),
            rows: doomed.iter().map(|f| f.data_file().record_count()).sum(),
        };
        let change = TableChange {
            kind,
            added: Vec::new(),
            removed: doomed
                .iter()
                .map(|f| f.data_file().file_path().to_string())
                .collect(),
            operation: Operation::Delete,
            merge_manifests: false,
        };
        self.commit_changes(&[change], Vec::new(), Vec::new())
            .await
            .map_err(|e| e.context(format!("retention on {}", kind.name())))?;
        Ok(report)
    }

    /// Forgets snapshots older than `older_than` (always keeping the current one and the
    /// newest `retain_last`), then deletes the files no remaining snapshot references.
    pub async fn expire_snapshots(
        &self,
        kind: TableKind,
        older_than: Duration,
        retain_last: usize,
    ) -> Result<ExpiryReport> {
        for attempt in 1..=10u32 {
            let state = self.table(kind).await?;
            let cutoff_ms = chrono::Utc::now().timestamp_millis() - older_than.as_millis() as i64;
            let current = state.metadata.current_snapshot_id();
            let mut snapshots: Vec<_> = state.metadata.snapshots().cloned().collect();
            snapshots.sort_by_key(|s| std::cmp::Reverse(s.timestamp_ms()));
            let expired: Vec<_> = snapshots
                .iter()
                .enumerate()
                .filter(|(i, s)| {
                    *i >= retain_last.max(1)
                        && s.timestamp_ms() < cutoff_ms
                        && Some(s.snapshot_id()) != current
                })
                .map(|(_, s)| s.clone())
                .collect();
            if expired.is_empty() {
                return Ok(ExpiryReport::default());
            }
            let expired_ids: Vec<i64> = expired.iter().map(|s| s.snapshot_id()).collect();
            let new_metadata = TableMetadataBuilder::new_from_metadata(
                state.metadata.as_ref().clone(),
                Some(state.metadata_location.clone()),
            )
            .remove_snapshots(&expired_ids)
            .build()
            .map_err(|e| iceberg_error("expiring snapshots", e))?
            .metadata;
            let new_location = metadata_file_location(
                state.location(),
                metadata_version(&state.metadata_location) + 1,
            );
            write_metadata(self.warehouse(), &new_location, &new_metadata).await?;
            let swap = PointerSwap {
                namespace: NAMESPACE.to_string(),
                table: kind.name().to_string(),
                expected: state.metadata_location.clone(),
                new: new_location.clone(),
            };
            match self.catalog().commit(&CatalogCommit {
                swaps: vec![swap],
                ..CatalogCommit::default()
            }) {
                Ok(()) => {
                    let after = TableState {
                        kind,
                        metadata_location: new_location,
                        metadata: Arc::new(new_metadata),
                    };
                    let deleted = self.delete_unreferenced(&state, &after).await?;
                    return Ok(ExpiryReport {
                        snapshots: expired_ids.len(),
                        files_deleted: deleted,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    let _ = self.warehouse().delete(&new_location).await;
                    tracing::debug!(attempt, "snapshot expiry conflicted, retrying");
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "expiring snapshots of {}: too many concurrent commits",
            kind.name()
        )))
    }

    /// Every file a table state references: metadata log, manifest lists, manifests and the
    /// data files live in any of its snapshots.
    async fn referenced_files(&self, state: &TableState) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        out.insert(state.metadata_location.clone());
        for log in state.metadata.metadata_log() {
            out.insert(log.metadata_file.clone());
        }
        let mut seen_manifests = HashSet::new();
        for snapshot in state.metadata.snapshots() {
            out.insert(snapshot.manifest_list().to_string());
            let bytes = self.warehouse().read(snapshot.manifest_list()).await?;
            let list = iceberg::spec::ManifestList::parse_with_version(
                &bytes,
                state.metadata.format_version(),
            )
            .map_err(|e| iceberg_error("reading manifest list", e))?;
            for manifest in list.consume_entries() {
                if !seen_manifests.insert(manifest.manifest_path.clone()) {
                    continue;
                }
                out.insert(manifest.manifest_path.clone());
                for entry in read_manifest(self.warehouse(), &manifest).await? {
                    if entry.is_alive() {
                        out.insert(entry.file_path().to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    async fn delete_unreferenced(&self, before: &TableState, after: &TableState) -> Result<usize> {
        let mut all_before = self.referenced_files(before).await?;
        // Data files deleted by the snapshots that remain were live in their parents.
        for snapshot in before.metadata.snapshots() {
            let bytes = self.warehouse().read(snapshot.manifest_list()).await?;
            let list = iceberg::spec::ManifestList::parse_with_version(
                &bytes,
                before.metadata.format_version(),
            )
            .map_err(|e| iceberg_error("reading manifest list", e))?;
            for manifest in list.consume_entries() {
                for entry in read_manifest(self.warehouse(), &manifest).await? {
                    all_before.insert(entry.file_path().to_string());
                }
            }
        }
        let still = self.referenced_files(after).await?;
        let mut deleted = 0;
        for location in all_before.difference(&still) {
            self.warehouse().delete(location).await?;
            if location.ends_with(".parquet") {
                // Its text index, if it has one (none is fine).
                let _ = self
                    .warehouse()
                    .delete(&crate::textindex::index_location(location))
                    .await;
            }
            deleted += 1;
        }
        Ok(deleted)
    }
}
