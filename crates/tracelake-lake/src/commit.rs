//! Producing Iceberg snapshots: the commit path tracelake owns, written to the Iceberg spec
//! (format v2) with the `iceberg` crate's manifest and metadata types.
//!
//! One change per table: files added, files removed, and the operation (`append`, `replace`
//! for compaction, `delete` for retention). The manifest of added files is written once; the
//! parts that depend on the parent snapshot (rewritten manifests, the manifest list, the
//! metadata file) are produced per attempt, so a commit that loses a race re-reads the table
//! and tries again on top of the winner without rewriting data.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, MAIN_BRANCH, ManifestEntry, ManifestFile, ManifestListWriter, ManifestStatus,
    ManifestWriterBuilder, Operation, Snapshot, Summary, TableMetadataBuilder,
};
use tracelake_model::{Error, Result, TableKind};

use crate::storage::Warehouse;
use crate::table::{
    TableState, iceberg_error, metadata_file_location, metadata_version, read_manifest,
    write_metadata,
};

/// What one commit does to one table.
#[derive(Debug, Clone)]
pub struct TableChange {
    /// The table.
    pub kind: TableKind,
    /// Data files to add.
    pub added: Vec<DataFile>,
    /// Locations of live data files to remove.
    pub removed: Vec<String>,
    /// The snapshot operation recorded.
    pub operation: Operation,
    /// Merge every small manifest into one even below [`MERGE_MIN_COUNT`] (compaction's
    /// final step: a compacted table lists its files from one manifest).
    pub merge_manifests: bool,
}

/// A commit that would carry this many small manifests over merges them into one: reading a
/// table lists its files from every manifest (~1 ms each to parse locally, one GET each on
/// object storage), so the count must stay bounded however many commits a table had.
pub const MERGE_MIN_COUNT: usize = 8;

/// Manifests at least this large are left as they are when merging (Iceberg's default
/// target manifest size): merging rewrites only the small ones, so a commit costs at most
/// one rewrite of the small tail, not of the whole table's listing.
pub const MERGE_TARGET_BYTES: i64 = 8 << 20;

/// How many manifests are read at once.
const MANIFEST_READ_CONCURRENCY: usize = 8;

/// The files one attempt wrote, so a failed attempt can remove them.
#[derive(Debug, Default)]
pub(crate) struct AttemptFiles {
    pub locations: Vec<String>,
}

/// A table's new metadata, ready for the catalog swap.
#[derive(Debug)]
pub(crate) struct PreparedTable {
    pub base: TableState,
    pub new_location: String,
}

fn new_avro_location(table_location: &str, suffix: &str) -> String {
    format!(
        "{}/metadata/{}-{suffix}.avro",
        table_location.trim_end_matches('/'),
        uuid::Uuid::new_v4()
    )
}

async fn copy_out(io: &FileIO, warehouse: &Warehouse, location: &str) -> Result<()> {
    let bytes = io
        .new_input(location)
        .map_err(|e| iceberg_error("staging manifest", e))?
        .read()
        .await
        .map_err(|e| iceberg_error("staging manifest", e))?;
    warehouse.write(location, bytes).await
}

/// A v2 data-manifest writer for a new manifest of `snapshot_id`, staged in memory (copy it
/// out with [`copy_out`]).
fn manifest_writer(
    state: &TableState,
    snapshot_id: i64,
    suffix: &str,
) -> Result<(FileIO, String, iceberg::spec::ManifestWriter)> {
    let io = FileIO::new_with_memory();
    let location = new_avro_location(state.location(), suffix);
    let output = io
        .new_output(&location)
        .map_err(|e| iceberg_error("creating manifest", e))?;
    let writer = ManifestWriterBuilder::new(
        output,
        Some(snapshot_id),
        state.metadata.current_schema().clone(),
        state.metadata.default_partition_spec().as_ref().clone(),
    )
    .build_v2_data();
    Ok((io, location, writer))
}

/// Writes the manifest listing `added` as new files of `snapshot_id`.
pub(crate) async fn write_added_manifest(
    warehouse: &Warehouse,
    state: &TableState,
    snapshot_id: i64,
    added: &[DataFile],
) -> Result<ManifestFile> {
    let (io, location, mut writer) = manifest_writer(state, snapshot_id, "m0")?;
    for file in added {
        writer
            .add_file(file.clone(), -1)
            .map_err(|e| iceberg_error("adding a file to the manifest", e))?;
    }
    let manifest = writer
        .write_manifest_file()
        .await
        .map_err(|e| iceberg_error("writing manifest", e))?;
    copy_out(&io, warehouse, &location).await?;
    Ok(manifest)
}

/// Reads manifests concurrently, in order.
pub(crate) async fn read_manifests(
    warehouse: &Warehouse,
    manifests: &[ManifestFile],
) -> Result<Vec<Vec<ManifestEntry>>> {
    // The futures are made first: a stream mapping with a closure over borrowed manifests
    // would not be `Send` in the query engine's async trait methods.
    let reads: Vec<_> = manifests
        .iter()
        .map(|m| read_manifest(warehouse, m))
        .collect();
    futures::stream::iter(reads)
        .buffered(MANIFEST_READ_CONCURRENCY)
        .try_collect()
        .await
}

/// Writes one manifest holding the live entries of `manifests` as EXISTING entries (their
/// snapshot ids and sequence numbers kept, as Iceberg's manifest merging does); entries an
/// earlier snapshot deleted are dropped. Entries already read are passed along, the others
/// are read here.
async fn merge_manifests(
    warehouse: &Warehouse,
    state: &TableState,
    snapshot_id: i64,
    manifests: Vec<(ManifestFile, Option<Vec<ManifestEntry>>)>,
) -> Result<(String, ManifestFile)> {
    let unread: Vec<ManifestFile> = manifests
        .iter()
        .filter(|(_, entries)| entries.is_none())
        .map(|(m, _)| m.clone())
        .collect();
    let mut read = read_manifests(warehouse, &unread).await?.into_iter();
    let (io, location, mut writer) = manifest_writer(state, snapshot_id, "m2")?;
    for (manifest, entries) in manifests {
        let entries = match entries {
            Some(e) => e,
            None => read.next().ok_or_else(|| {
                Error::internal(format!("manifest {} was not read", manifest.manifest_path))
            })?,
        };
        for entry in entries {
            if entry.status == ManifestStatus::Deleted {
                continue;
            }
            add_existing(&mut writer, &manifest, entry)?;
        }
    }
    let merged = writer
        .write_manifest_file()
        .await
        .map_err(|e| iceberg_error("writing merged manifest", e))?;
    copy_out(&io, warehouse, &location).await?;
    Ok((location, merged))
}

/// Carries `entry` of `manifest` into a rewritten manifest as an EXISTING entry, with the
/// snapshot id and sequence numbers it has or inherits from its manifest.
fn add_existing(
    writer: &mut iceberg::spec::ManifestWriter,
    manifest: &ManifestFile,
    entry: ManifestEntry,
) -> Result<()> {
    let sequence = entry.sequence_number.unwrap_or(manifest.sequence_number);
    let file_sequence = entry.file_sequence_number.or(Some(sequence));
    writer
        .add_existing_file(
            entry.data_file,
            entry.snapshot_id.unwrap_or(manifest.added_snapshot_id),
            sequence,
            file_sequence,
        )
        .map_err(|e| iceberg_error("rewriting a manifest", e))
}

fn parse_total(summary: Option<&Summary>, key: &str) -> i64 {
    summary
        .and_then(|s| s.additional_properties.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Prepares one attempt of a table change on top of `state`.
pub(crate) async fn prepare(
    warehouse: &Warehouse,
    state: &TableState,
    change: &TableChange,
    snapshot_id: i64,
    added_manifest: Option<&ManifestFile>,
    files: &mut AttemptFiles,
) -> Result<PreparedTable> {
    let metadata = &state.metadata;
    let parent = metadata.current_snapshot();
    let sequence_number = metadata.next_sequence_number();
    let removed: HashSet<&str> = change.removed.iter().map(String::as_str).collect();

    let mut manifests: Vec<ManifestFile> = Vec::new();
    if let Some(m) = added_manifest {
        manifests.push(m.clone());
    }
    let mut removed_found: HashSet<String> = HashSet::new();
    let (mut removed_rows, mut removed_bytes) = (0i64, 0i64);
    let live = state.live_manifests(warehouse).await?;
    // Manifests carried over unchanged, with their entries when they were read.
    let mut carried: Vec<(ManifestFile, Option<Vec<ManifestEntry>>)> = Vec::new();
    let read: Vec<Option<Vec<ManifestEntry>>> = if removed.is_empty() {
        vec![None; live.len()]
    } else {
        read_manifests(warehouse, &live)
            .await?
            .into_iter()
            .map(Some)
            .collect()
    };
    for (manifest, entries) in live.into_iter().zip(read) {
        let Some(entries) = entries else {
            carried.push((manifest, None));
            continue;
        };
        if !entries
            .iter()
            .any(|e| e.is_alive() && removed.contains(e.file_path()))
        {
            carried.push((manifest, Some(entries)));
            continue;
        }
        // Rewrite: removed files become DELETED entries, the rest EXISTING.
        let (io, location, mut writer) = manifest_writer(state, snapshot_id, "m1")?;
        for entry in entries {
            if entry.status == ManifestStatus::Deleted {
                continue;
            }
            let sequence = entry.sequence_number.unwrap_or(manifest.sequence_number);
            let file_sequence = entry.file_sequence_number.or(Some(sequence));
            if removed.contains(entry.file_path()) {
                removed_found.insert(entry.file_path().to_string());
                removed_rows += entry.record_count() as i64;
                removed_bytes += entry.file_size_in_bytes() as i64;
                writer
                    .add_delete_file(entry.data_file, sequence, file_sequence)
                    .map_err(|e| iceberg_error("rewriting manifest", e))?;
            } else {
                add_existing(&mut writer, &manifest, entry)?;
            }
        }
        let rewritten = writer
            .write_manifest_file()
            .await
            .map_err(|e| iceberg_error("writing manifest", e))?;
        copy_out(&io, warehouse, &location).await?;
        files.locations.push(location);
        manifests.push(rewritten);
    }
    let (small, large): (Vec<_>, Vec<_>) = carried
        .into_iter()
        .partition(|(m, _)| m.manifest_length < MERGE_TARGET_BYTES);
    manifests.extend(large.into_iter().map(|(m, _)| m));
    if small.len() >= MERGE_MIN_COUNT || (change.merge_manifests && small.len() >= 2) {
        let (location, merged) = merge_manifests(warehouse, state, snapshot_id, small).await?;
        files.locations.push(location);
        manifests.push(merged);
    } else {
        manifests.extend(small.into_iter().map(|(m, _)| m));
    }
    if removed_found.len() != removed.len() {
        return Err(Error::conflict(format!(
            "table {}: {} of the files to remove are no longer live (another process changed them)",
            change.kind.name(),
            removed.len() - removed_found.len()
        )));
    }

    // The manifest list.
    let io = FileIO::new_with_memory();
    let list_location = format!(
        "{}/metadata/snap-{snapshot_id}-{sequence_number}-{}.avro",
        state.location().trim_end_matches('/'),
        uuid::Uuid::new_v4()
    );
    let out = io
        .new_output(&list_location)
        .map_err(|e| iceberg_error("creating manifest list", e))?
        .writer()
        .await
        .map_err(|e| iceberg_error("creating manifest list", e))?;
    let mut list = ManifestListWriter::v2(
        out,
        snapshot_id,
        parent.map(|p| p.snapshot_id()),
        sequence_number,
    );
    list.add_manifests(manifests.into_iter())
        .map_err(|e| iceberg_error("writing manifest list", e))?;
    list.close()
        .await
        .map_err(|e| iceberg_error("writing manifest list", e))?;
    copy_out(&io, warehouse, &list_location).await?;
    files.locations.push(list_location.clone());

    // The snapshot and its summary.
    let added_rows: i64 = change.added.iter().map(|f| f.record_count() as i64).sum();
    let added_bytes: i64 = change
        .added
        .iter()
        .map(|f| f.file_size_in_bytes() as i64)
        .sum();
    let parent_summary = parent.map(|p| p.summary());
    let mut props: HashMap<String, String> = HashMap::new();
    let mut put = |k: &str, v: i64| {
        props.insert(k.to_string(), v.to_string());
    };
    put("added-data-files", change.added.len() as i64);
    put("added-records", added_rows);
    put("added-files-size", added_bytes);
    if !change.removed.is_empty() {
        put("deleted-data-files", change.removed.len() as i64);
        put("deleted-records", removed_rows);
        put("removed-files-size", removed_bytes);
    }
    put(
        "total-data-files",
        parse_total(parent_summary, "total-data-files") + change.added.len() as i64
            - change.removed.len() as i64,
    );
    put(
        "total-records",
        parse_total(parent_summary, "total-records") + added_rows - removed_rows,
    );
    put(
        "total-files-size",
        parse_total(parent_summary, "total-files-size") + added_bytes - removed_bytes,
    );
    put("total-delete-files", 0);
    put("total-position-deletes", 0);
    put("total-equality-deletes", 0);
    props.insert(
        "tracelake.version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_location)
        .with_summary(Summary {
            operation: change.operation.clone(),
            additional_properties: props,
        })
        .with_schema_id(metadata.current_schema_id())
        .build();
    let new_metadata = TableMetadataBuilder::new_from_metadata(
        metadata.as_ref().clone(),
        Some(state.metadata_location.clone()),
    )
    .set_branch_snapshot(snapshot, MAIN_BRANCH)
    .map_err(|e| iceberg_error("adding snapshot", e))?
    .build()
    .map_err(|e| iceberg_error("building table metadata", e))?
    .metadata;
    let new_location = metadata_file_location(
        state.location(),
        metadata_version(&state.metadata_location) + 1,
    );
    write_metadata(warehouse, &new_location, &new_metadata).await?;
    files.locations.push(new_location.clone());
    Ok(PreparedTable {
        base: state.clone(),
        new_location,
    })
}

/// Removes what a failed attempt wrote; best effort (orphans are harmless).
pub(crate) async fn discard(warehouse: &Warehouse, files: AttemptFiles) {
    for location in files.locations {
        if let Err(e) = warehouse.delete(&location).await {
            tracing::debug!(location = %location, error = %e.report(), "could not remove a file of a failed commit");
        }
    }
}

/// A new random positive snapshot id.
pub(crate) fn new_snapshot_id() -> i64 {
    use rand::Rng;
    rand::rng().random_range(1..i64::MAX)
}
