//! The lake: Apache Iceberg tables of Parquet files in storage the user owns.
//!
//! This crate is the only one that knows Iceberg. It owns the catalog (SQL on SQLite, in the
//! Iceberg JDBC layout so other engines open it), the warehouse (a local folder or S3), the
//! table layout (day partitions, sort order, field ids), the write path (rows → sorted Parquet
//! → manifests → snapshot → atomic catalog swap, retried on concurrent commits), the ingest
//! ledger committed in the same transaction, and maintenance (compaction, retention, expiry).
//! It knows nothing of HTTP, OTLP or SQL text.

pub mod catalog;
pub mod commit;
pub mod direct;
pub mod lake;
pub mod maintenance;
pub mod storage;
pub mod table;
pub mod textindex;
pub mod wal;
pub mod writer;

pub use catalog::{CATALOG_NAME, SourceState, SqlCatalog};
pub use lake::{CommitReport, Lake, LakeConfig, LakeWrite, TableWrite};
pub use maintenance::{CompactionReport, ExpiryReport, RetentionReport};
pub use storage::{S3Config, Warehouse};
pub use table::{FileInfo, LiveFile, TableState};
pub use wal::{SealedSegment, Wal, WalRecord};
pub use writer::{MICROS_PER_DAY, WriteOptions, day_to_date};
