//! One Iceberg table as tracelake lays it out: its metadata (schema with stable field ids,
//! day partitioning on the table's time column, sort order), where its files go, and reading
//! the live data files of the current snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    DataFile, FormatVersion, Literal, ManifestEntry, ManifestFile, ManifestList, ManifestStatus,
    NullOrder, PrimitiveLiteral, SortDirection, SortField, SortOrder, TableMetadata,
    TableMetadataBuilder, Transform, UnboundPartitionSpec,
};
use tracelake_model::{Error, NAMESPACE, Result, SCHEMA_VERSION, TableKind};

use crate::storage::Warehouse;

/// Table property holding the tracelake schema version of the table's layout.
pub const SCHEMA_VERSION_PROPERTY: &str = "tracelake.schema-version";

pub(crate) fn iceberg_error(what: impl std::fmt::Display, e: iceberg::Error) -> Error {
    Error::internal(format!("{what}: {}", e.message())).with_source(e)
}

/// A table as read from the catalog: where its current metadata is and what it says.
#[derive(Debug, Clone)]
pub struct TableState {
    /// Which tracelake table.
    pub kind: TableKind,
    /// The current metadata file.
    pub metadata_location: String,
    /// The current metadata.
    pub metadata: Arc<TableMetadata>,
}

/// A live data file of a table's current snapshot, with what a planner needs.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// The manifest entry, with inherited snapshot id and sequence numbers filled in.
    pub entry: ManifestEntry,
    /// Day partition (days since the epoch) of the rows in the file.
    pub day: Option<i32>,
}

impl LiveFile {
    /// The data file.
    pub fn data_file(&self) -> &DataFile {
        &self.entry.data_file
    }

    /// The file as readers outside the lake see it (no Iceberg types).
    pub fn info(&self, kind: TableKind) -> FileInfo {
        let df = self.data_file();
        let mut text_bounds = HashMap::new();
        for column in kind.columns() {
            let text = |m: &HashMap<i32, iceberg::spec::Datum>| match m
                .get(&column.id)
                .map(|d| d.literal())
            {
                Some(PrimitiveLiteral::String(s)) => Some(s.clone()),
                _ => None,
            };
            if let (Some(lo), Some(hi)) = (text(df.lower_bounds()), text(df.upper_bounds())) {
                text_bounds.insert(column.name.to_string(), (lo, hi));
            }
        }
        FileInfo {
            location: df.file_path().to_string(),
            size: df.file_size_in_bytes(),
            rows: df.record_count(),
            day: self.day,
            text_bounds,
        }
    }
}

/// A data file of a table, described without Iceberg types: what a query planner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Location (URL) of the Parquet file.
    pub location: String,
    /// Size in bytes.
    pub size: u64,
    /// Rows in the file.
    pub rows: u64,
    /// Day partition (days since the epoch).
    pub day: Option<i32>,
    /// Lower and upper bounds of text columns, where recorded (short values only).
    pub text_bounds: HashMap<String, (String, String)>,
}

impl TableState {
    /// The table's location (its folder in the warehouse).
    pub fn location(&self) -> &str {
        self.metadata.location()
    }

    /// The id of the current snapshot, if any data was ever committed.
    pub fn snapshot_id(&self) -> Option<i64> {
        self.metadata.current_snapshot_id()
    }

    /// The manifests of the current snapshot.
    pub async fn manifests(&self, warehouse: &Warehouse) -> Result<Vec<ManifestFile>> {
        let Some(snapshot) = self.metadata.current_snapshot() else {
            return Ok(Vec::new());
        };
        let bytes = warehouse.read(snapshot.manifest_list()).await?;
        let list = ManifestList::parse_with_version(&bytes, self.metadata.format_version())
            .map_err(|e| iceberg_error(format!("reading {}", snapshot.manifest_list()), e))?;
        Ok(list.consume_entries().into_iter().collect())
    }

    /// The manifests of the current snapshot that list live files. One with neither added
    /// nor existing files lists only deletions an earlier snapshot made: nothing live to read
    /// and nothing a new snapshot must carry on (the manifest list says so without opening
    /// it; Iceberg's manifest filtering).
    pub async fn live_manifests(&self, warehouse: &Warehouse) -> Result<Vec<ManifestFile>> {
        Ok(self
            .manifests(warehouse)
            .await?
            .into_iter()
            .filter(|m| m.has_added_files() || m.has_existing_files())
            .collect())
    }

    /// The live data files of the current snapshot.
    pub async fn live_files(&self, warehouse: &Warehouse) -> Result<Vec<LiveFile>> {
        let manifests = self.live_manifests(warehouse).await?;
        let mut out = Vec::new();
        for entries in crate::commit::read_manifests(warehouse, &manifests).await? {
            for entry in entries {
                if entry.is_alive() {
                    let day = partition_day(entry.data_file.partition());
                    out.push(LiveFile { entry, day });
                }
            }
        }
        Ok(out)
    }
}

/// Reads a manifest, filling in the snapshot id and sequence numbers its entries inherit.
pub async fn read_manifest(
    warehouse: &Warehouse,
    manifest: &ManifestFile,
) -> Result<Vec<ManifestEntry>> {
    let bytes = warehouse.read(&manifest.manifest_path).await?;
    let parsed = iceberg::spec::Manifest::parse_avro(&bytes)
        .map_err(|e| iceberg_error(format!("reading manifest {}", manifest.manifest_path), e))?;
    let (entries, _) = parsed.into_parts();
    Ok(entries
        .into_iter()
        .map(|e| {
            let mut e = Arc::unwrap_or_clone(e);
            if e.snapshot_id.is_none() {
                e.snapshot_id = Some(manifest.added_snapshot_id);
            }
            if e.status == ManifestStatus::Added {
                if e.sequence_number.is_none() {
                    e.sequence_number = Some(manifest.sequence_number);
                }
                if e.file_sequence_number.is_none() {
                    e.file_sequence_number = Some(manifest.sequence_number);
                }
            }
            e
        })
        .collect())
}

/// The day (days since the epoch) of a one-field day-partition tuple.
pub fn partition_day(partition: &iceberg::spec::Struct) -> Option<i32> {
    match partition.iter().next().flatten() {
        Some(Literal::Primitive(PrimitiveLiteral::Int(days))) => Some(*days),
        _ => None,
    }
}

/// Name of the day-partition field of a table.
pub fn partition_field_name(kind: TableKind) -> String {
    format!("{}_day", kind.time_column())
}

/// Fresh metadata for a new tracelake table at `location`.
pub fn new_table_metadata(kind: TableKind, location: &str) -> Result<TableMetadata> {
    let arrow = kind.schema();
    let schema = iceberg::arrow::arrow_schema_to_schema(&arrow)
        .map_err(|e| iceberg_error(format!("schema of table {}", kind.name()), e))?;
    let field_id = |name: &str| -> Result<i32> {
        schema
            .field_by_name(name)
            .map(|f| f.id)
            .ok_or_else(|| Error::internal(format!("table {} has no column {name}", kind.name())))
    };
    let spec = UnboundPartitionSpec::builder()
        .add_partition_field(
            field_id(kind.time_column())?,
            partition_field_name(kind),
            Transform::Day,
        )
        .map_err(|e| iceberg_error("partition spec", e))?
        .build();
    let mut sort = SortOrder::builder();
    sort.with_order_id(1);
    for name in kind.sort_columns() {
        sort.with_sort_field(
            SortField::builder()
                .source_id(field_id(name)?)
                .transform(Transform::Identity)
                .direction(SortDirection::Ascending)
                .null_order(NullOrder::First)
                .build(),
        );
    }
    let sort = sort
        .build(&schema)
        .map_err(|e| iceberg_error("sort order", e))?;
    let properties = HashMap::from([
        ("write.format.default".to_string(), "parquet".to_string()),
        (
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        ),
        (
            "write.metadata.previous-versions-max".to_string(),
            "50".to_string(),
        ),
        ("commit.retry.num-retries".to_string(), "20".to_string()),
        (
            SCHEMA_VERSION_PROPERTY.to_string(),
            SCHEMA_VERSION.to_string(),
        ),
    ]);
    let metadata = TableMetadataBuilder::new(
        schema,
        spec,
        sort,
        location.to_string(),
        FormatVersion::V2,
        properties,
    )
    .map_err(|e| iceberg_error(format!("metadata of table {}", kind.name()), e))?
    .build()
    .map_err(|e| iceberg_error(format!("metadata of table {}", kind.name()), e))?
    .metadata;
    check_field_ids(kind, &metadata)?;
    Ok(metadata)
}

/// Fails unless the table's schema has exactly the field ids the model writes.
pub fn check_field_ids(kind: TableKind, metadata: &TableMetadata) -> Result<()> {
    let expected = iceberg::arrow::arrow_schema_to_schema(&kind.schema())
        .map_err(|e| iceberg_error(format!("schema of table {}", kind.name()), e))?;
    let actual = metadata.current_schema();
    for field in expected.as_struct().fields() {
        match actual.field_by_name(&field.name) {
            Some(f) if f.id == field.id => {}
            Some(f) => {
                return Err(Error::internal(format!(
                    "table {}.{}: column {} has field id {} in the lake but {} in this build; \
                     the table was written by an incompatible tracelake version",
                    NAMESPACE,
                    kind.name(),
                    field.name,
                    f.id,
                    field.id
                )));
            }
            None => {
                return Err(Error::internal(format!(
                    "table {}.{} has no column {}; it was written by an older tracelake \
                     (schema version {}) and needs a migration",
                    NAMESPACE,
                    kind.name(),
                    field.name,
                    metadata
                        .properties()
                        .get(SCHEMA_VERSION_PROPERTY)
                        .map_or("unknown", String::as_str)
                )));
            }
        }
    }
    Ok(())
}

/// The metadata file location for version `version` of a table.
pub fn metadata_file_location(table_location: &str, version: u64) -> String {
    format!(
        "{}/metadata/{version:05}-{}.metadata.json",
        table_location.trim_end_matches('/'),
        uuid::Uuid::new_v4()
    )
}

/// The version number encoded in a metadata file name (`00012-….metadata.json` → 12).
pub fn metadata_version(location: &str) -> u64 {
    location
        .rsplit('/')
        .next()
        .and_then(|name| name.split('-').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Reads and parses a metadata file.
pub async fn read_metadata(warehouse: &Warehouse, location: &str) -> Result<TableMetadata> {
    let bytes = warehouse.read(location).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::internal(format!(
            "table metadata {location} is not valid Iceberg metadata"
        ))
        .with_source(e)
    })
}

/// Writes a metadata file.
pub async fn write_metadata(
    warehouse: &Warehouse,
    location: &str,
    metadata: &TableMetadata,
) -> Result<()> {
    let json = serde_json::to_vec(metadata)
        .map_err(|e| Error::internal("serialising table metadata").with_source(e))?;
    warehouse.write(location, json.into()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tables_keep_model_field_ids_and_partition_by_day() {
        for kind in TableKind::ALL {
            let m = new_table_metadata(kind, "file:///w/tracelake/t").unwrap();
            check_field_ids(kind, &m).unwrap();
            let spec = m.default_partition_spec();
            assert_eq!(spec.fields().len(), 1);
            assert_eq!(spec.fields()[0].transform, Transform::Day);
            assert_eq!(m.format_version(), FormatVersion::V2);
            assert_eq!(m.default_sort_order().fields.len(), 2);
        }
    }

    #[test]
    fn metadata_versions_parse() {
        assert_eq!(
            metadata_version("s3://b/t/metadata/00012-abc-def.metadata.json"),
            12
        );
        let loc = metadata_file_location("file:///w/t/", 3);
        assert!(loc.starts_with("file:///w/t/metadata/00003-"), "{loc}");
        assert_eq!(metadata_version(&loc), 3);
    }
}
