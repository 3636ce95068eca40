//! [`Lake`]: the tables of one tracelake home (catalog + warehouse) and the write
//! transaction every source uses ([`LakeWrite`]): rows for any tables plus the source's
//! progress, committed together or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use iceberg::spec::{ManifestFile, Operation};
use serde::{Deserialize, Serialize};
use tracelake_model::{Error, ErrorKind, NAMESPACE, Result, TableKind};

use crate::catalog::{CatalogCommit, PointerSwap, SourceState, SqlCatalog};
use crate::commit::{
    AttemptFiles, TableChange, discard, new_snapshot_id, prepare, write_added_manifest,
};
use crate::storage::{S3Config, Warehouse};
use crate::table::{
    LiveFile, TableState, check_field_ids, metadata_file_location, new_table_metadata,
    read_metadata, write_metadata,
};
use crate::writer::{DataFileWriter, WriteOptions};

/// The `[lake]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Where table files go: a folder, `file:///…` or `s3://bucket/prefix`
    /// (default: `<home>/warehouse`).
    pub warehouse: Option<String>,
    /// The SQLite catalog file (default: `<home>/catalog.db`).
    pub catalog: Option<PathBuf>,
    /// S3 settings for an `s3://` warehouse.
    pub s3: S3Config,
    /// How data files are written.
    pub write: WriteOptions,
}

/// How many times a commit is retried on top of concurrent commits.
const MAX_COMMIT_ATTEMPTS: u32 = 30;

/// The lake of one tracelake home.
#[derive(Debug, Clone)]
pub struct Lake {
    home: PathBuf,
    warehouse: Warehouse,
    catalog: Arc<SqlCatalog>,
    write_options: WriteOptions,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Rows added per table.
    pub rows: Vec<(TableKind, u64)>,
    /// Data files added.
    pub files_added: usize,
    /// Attempts it took (1 when nobody else committed meanwhile).
    pub attempts: u32,
}

impl Lake {
    /// Opens the lake of `home`, creating the catalog, namespace and tables on first use.
    pub async fn open(home: &Path, config: &LakeConfig) -> Result<Self> {
        let warehouse = match &config.warehouse {
            Some(spec) => Warehouse::open(spec, &config.s3)?,
            None => Warehouse::local(&home.join("warehouse"))?,
        };
        let catalog_path = config
            .catalog
            .clone()
            .unwrap_or_else(|| home.join("catalog.db"));
        let catalog = Arc::new(SqlCatalog::open_sqlite(&catalog_path)?);
        catalog.ensure_namespace(NAMESPACE)?;
        let lake = Self {
            home: home.to_path_buf(),
            warehouse,
            catalog,
            write_options: config.write.clone(),
        };
        for kind in TableKind::ALL {
            lake.ensure_table(kind).await?;
        }
        Ok(lake)
    }

    /// The home folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The catalog (and ingest ledger).
    pub fn catalog(&self) -> &SqlCatalog {
        &self.catalog
    }

    fn table_location(&self, kind: TableKind) -> String {
        self.warehouse
            .location(&format!("{NAMESPACE}/{}", kind.name()))
    }

    async fn ensure_table(&self, kind: TableKind) -> Result<()> {
        if self
            .catalog
            .metadata_location(NAMESPACE, kind.name())?
            .is_some()
        {
            return Ok(());
        }
        let location = self.table_location(kind);
        let metadata = new_table_metadata(kind, &location)?;
        let metadata_location = metadata_file_location(&location, 0);
        write_metadata(&self.warehouse, &metadata_location, &metadata).await?;
        match self
            .catalog
            .create_table(NAMESPACE, kind.name(), &metadata_location)
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                // Another process created it first; ours is an unreferenced file.
                self.warehouse.delete(&metadata_location).await
            }
            Err(e) => Err(e),
        }
    }

    /// The current state of a table.
    pub async fn table(&self, kind: TableKind) -> Result<TableState> {
        let location = self
            .catalog
            .metadata_location(NAMESPACE, kind.name())?
            .ok_or_else(|| Error::not_found(format!("table {NAMESPACE}.{}", kind.name())))?;
        let metadata = read_metadata(&self.warehouse, &location).await?;
        check_field_ids(kind, &metadata)?;
        Ok(TableState {
            kind,
            metadata_location: location,
            metadata: Arc::new(metadata),
        })
    }

    /// The live data files of a table's current snapshot.
    pub async fn live_files(&self, kind: TableKind) -> Result<Vec<LiveFile>> {
        self.table(kind).await?.live_files(&self.warehouse).await
    }

    /// The data files of a table's current snapshot, as planners outside the lake see them.
    pub async fn files(&self, kind: TableKind) -> Result<Vec<crate::table::FileInfo>> {
        Ok(self
            .live_files(kind)
            .await?
            .iter()
            .map(|f| f.info(kind))
            .collect())
    }

    /// Starts a write: rows for any tables plus source progress, committed together.
    pub async fn begin_write(&self) -> Result<LakeWrite> {
        let mut writers = Vec::new();
        for kind in TableKind::ALL {
            let state = self.table(kind).await?;
            writers.push((
                kind,
                DataFileWriter::new(
                    kind,
                    self.warehouse.clone(),
                    state.location().to_string(),
                    state.metadata.current_schema().clone(),
                    self.home.join("tmp").join("staging"),
                    self.write_options.clone(),
                )?,
            ));
        }
        Ok(LakeWrite {
            writers,
            rows: Vec::new(),
            states: Vec::new(),
            once_keys: Vec::new(),
        })
    }

    /// Commits a write: its data files appear in the tables and its source progress in the
    /// ledger in one atomic catalog transaction. Retries on top of concurrent commits.
    pub async fn commit(&self, write: LakeWrite) -> Result<CommitReport> {
        let LakeWrite {
            writers,
            rows,
            states,
            once_keys,
        } = write;
        let mut changes = Vec::new();
        let finishing = Instant::now();
        for (kind, writer) in writers {
            let added = writer.finish().await?;
            tracing::debug!(
                table = kind.name(),
                files = added.len(),
                elapsed_ms = finishing.elapsed().as_millis() as u64,
                "data files closed"
            );
            if !added.is_empty() {
                changes.push(TableChange {
                    kind,
                    added,
                    removed: Vec::new(),
                    operation: Operation::Append,
                    merge_manifests: false,
                });
            }
        }
        let files_added = changes.iter().map(|c| c.added.len()).sum();
        let started = Instant::now();
        let attempts = self.commit_changes(&changes, states, once_keys).await?;
        tracing::info!(
            files_added,
            attempts,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "committed"
        );
        Ok(CommitReport {
            rows,
            files_added,
            attempts,
        })
    }

    /// Commits table changes (and ledger rows) with optimistic-concurrency retries.
    pub(crate) async fn commit_changes(
        &self,
        changes: &[TableChange],
        states: Vec<SourceState>,
        once_keys: Vec<[u8; 16]>,
    ) -> Result<u32> {
        let snapshot_id = new_snapshot_id();
        let mut added_manifests: Vec<Option<ManifestFile>> = vec![None; changes.len()];
        let started = Instant::now();
        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let mut files = AttemptFiles::default();
            let mut swaps = Vec::new();
            let result: Result<()> = async {
                for (i, change) in changes.iter().enumerate() {
                    let state = self.table(change.kind).await?;
                    if added_manifests[i].is_none() && !change.added.is_empty() {
                        added_manifests[i] = Some(
                            write_added_manifest(
                                &self.warehouse,
                                &state,
                                snapshot_id,
                                &change.added,
                            )
                            .await?,
                        );
                    }
                    let prepared = prepare(
                        &self.warehouse,
                        &state,
                        change,
                        snapshot_id,
                        added_manifests[i].as_ref(),
                        &mut files,
                    )
                    .await?;
                    swaps.push(PointerSwap {
                        namespace: NAMESPACE.to_string(),
                        table: change.kind.name().to_string(),
                        expected: prepared.base.metadata_location.clone(),
                        new: prepared.new_location.clone(),
                    });
                }
                self.catalog.commit(&CatalogCommit {
                    swaps: swaps.clone(),
                    states: states.clone(),
                    once_keys: once_keys.clone(),
                })
            }
            .await;
            match result {
                Ok(()) => return Ok(attempt),
                Err(e)
                    if e.kind() == ErrorKind::Conflict
                        && !e.message().contains("no longer live") =>
                {
                    discard(&self.warehouse, files).await;
                    tracing::debug!(attempt, error = %e.report(), "commit conflict, retrying");
                    let backoff = Duration::from_millis(5 * u64::from(attempt.min(40)))
                        + Duration::from_micros(u64::from(rand_jitter()));
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => {
                    discard(&self.warehouse, files).await;
                    return Err(e);
                }
            }
        }
        Err(Error::conflict(format!(
            "commit gave up after {MAX_COMMIT_ATTEMPTS} attempts in {:?}: too many concurrent writers",
            started.elapsed()
        )))
    }

    /// Recorded progress of a source, by key.
    pub fn source_states(&self, source: &str) -> Result<std::collections::HashMap<String, String>> {
        self.catalog.source_states(source)
    }

    /// Which of `keys` a committed write already recorded.
    pub fn keys_seen(&self, keys: &[[u8; 16]]) -> Result<Vec<bool>> {
        self.catalog.keys_seen(keys)
    }
}

fn rand_jitter() -> u32 {
    use rand::Rng;
    rand::rng().random_range(0..20_000)
}

/// A write in progress: rows for the lake's tables and the source progress they carry.
pub struct LakeWrite {
    writers: Vec<(TableKind, DataFileWriter)>,
    rows: Vec<(TableKind, u64)>,
    states: Vec<SourceState>,
    once_keys: Vec<[u8; 16]>,
}

impl LakeWrite {
    /// Appends a batch (of `kind`'s schema) to the table.
    pub fn append(&mut self, kind: TableKind, batch: &RecordBatch) -> Result<()> {
        let Some((_, writer)) = self.writers.iter_mut().find(|(k, _)| *k == kind) else {
            return Err(Error::internal(format!(
                "no writer for table {}",
                kind.name()
            )));
        };
        writer.write(batch)?;
        match self.rows.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += batch.num_rows() as u64,
            None => self.rows.push((kind, batch.num_rows() as u64)),
        }
        Ok(())
    }

    /// Records a source's progress, committed with the rows.
    pub fn set_source_state(&mut self, state: SourceState) {
        self.states
            .retain(|s| !(s.source == state.source && s.key == state.key));
        self.states.push(state);
    }

    /// Records an emit-once key, committed with the rows.
    pub fn add_once_key(&mut self, key: [u8; 16]) {
        self.once_keys.push(key);
    }

    /// Rows appended so far, per table.
    pub fn rows(&self) -> &[(TableKind, u64)] {
        &self.rows
    }

    /// Drops the write, removing the files it wrote.
    pub fn abandon(self) {
        for (_, writer) in self.writers {
            writer.abandon();
        }
    }

    /// Takes one table's part of the write out, to be written on another thread and given
    /// back with [`LakeWrite::rejoin`] before the commit (a commit without it adds nothing
    /// to that table).
    pub fn split_off(&mut self, kind: TableKind) -> Option<TableWrite> {
        let i = self.writers.iter().position(|(k, _)| *k == kind)?;
        let (_, writer) = self.writers.swap_remove(i);
        Some(TableWrite {
            kind,
            writer,
            rows: 0,
        })
    }

    /// Gives back a part taken with [`LakeWrite::split_off`], with the rows written to it.
    pub fn rejoin(&mut self, part: TableWrite) {
        if part.rows > 0 {
            match self.rows.iter_mut().find(|(k, _)| *k == part.kind) {
                Some((_, n)) => *n += part.rows,
                None => self.rows.push((part.kind, part.rows)),
            }
        }
        self.writers.push((part.kind, part.writer));
    }
}

/// One table's part of a [`LakeWrite`], written on a thread of its own.
pub struct TableWrite {
    kind: TableKind,
    writer: DataFileWriter,
    rows: u64,
}

impl TableWrite {
    /// The table.
    pub fn kind(&self) -> TableKind {
        self.kind
    }

    /// Rows appended so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends a batch of the table's schema.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes its open data files, on the caller's thread (the commit only collects them).
    pub fn close_files(&mut self) -> Result<()> {
        self.writer.close_open()
    }

    /// Drops the part, removing the files it wrote.
    pub fn abandon(self) {
        self.writer.abandon();
    }
}
