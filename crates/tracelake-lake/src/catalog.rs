//! The SQL catalog: which metadata file is current for each table, swapped atomically, plus
//! the ingest ledger (what each source has delivered) in the same database and transaction.
//!
//! The tables `iceberg_tables` and `iceberg_namespace_properties` follow the Iceberg JDBC
//! catalog layout (v1, with `iceberg_type`), so PyIceberg's `SqlCatalog` and other engines
//! open the same file. A commit is a compare-and-swap of metadata locations: it succeeds only
//! if every table still points where the committer read it, and it records the ledger rows in
//! the same SQLite transaction, so data and "what was imported" can never disagree.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tracelake_model::{Error, Result};

/// The catalog name tracelake registers its tables under (PyIceberg: `SqlCatalog("tracelake", …)`).
pub const CATALOG_NAME: &str = "tracelake";

/// One table's pointer swap inside a commit.
#[derive(Debug, Clone)]
pub struct PointerSwap {
    /// Namespace of the table.
    pub namespace: String,
    /// Table name.
    pub table: String,
    /// The metadata location the committer based its change on.
    pub expected: String,
    /// The new metadata location.
    pub new: String,
}

/// A source's progress record: opaque JSON owned by the source (offsets, carry-over state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// Source kind (`claude-code`, `otlp-wal`, …).
    pub source: String,
    /// What the state is about (a file path, a WAL segment).
    pub key: String,
    /// The source's state, as JSON text.
    pub state: String,
}

/// Everything one commit changes in the catalog database.
#[derive(Debug, Clone, Default)]
pub struct CatalogCommit {
    /// Tables whose current metadata moves.
    pub swaps: Vec<PointerSwap>,
    /// Source progress written with the data.
    pub states: Vec<SourceState>,
    /// Emit-once keys (see [`SqlCatalog::keys_seen`]) recorded with the data.
    pub once_keys: Vec<[u8; 16]>,
}

/// The SQL catalog on SQLite.
#[derive(Debug)]
pub struct SqlCatalog {
    conn: Mutex<Connection>,
}

fn sql_error(what: &str, e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Error::conflict(format!("{what}: the catalog is busy")).with_source(e)
        }
        _ => Error::unavailable(format!("{what}: catalog database failed")).with_source(e),
    }
}

impl SqlCatalog {
    /// Opens (creating if needed) the SQLite catalog at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::unavailable(format!("creating {}", parent.display())).with_source(e)
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            Error::unavailable(format!("opening catalog {}", path.display())).with_source(e)
        })?;
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(|e| sql_error("configuring the catalog", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS iceberg_tables (
                catalog_name VARCHAR(255) NOT NULL,
                table_namespace VARCHAR(255) NOT NULL,
                table_name VARCHAR(255) NOT NULL,
                metadata_location VARCHAR(1000),
                previous_metadata_location VARCHAR(1000),
                iceberg_type VARCHAR(5),
                PRIMARY KEY (catalog_name, table_namespace, table_name));
             CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
                catalog_name VARCHAR(255) NOT NULL,
                namespace VARCHAR(255) NOT NULL,
                property_key VARCHAR(255) NOT NULL,
                property_value VARCHAR(1000) NOT NULL,
                PRIMARY KEY (catalog_name, namespace, property_key));
             CREATE TABLE IF NOT EXISTS tracelake_sources (
                source TEXT NOT NULL,
                key TEXT NOT NULL,
                state TEXT NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (source, key));
             CREATE TABLE IF NOT EXISTS tracelake_once (
                key BLOB PRIMARY KEY) WITHOUT ROWID;",
        )
        .map_err(|e| sql_error(&format!("initialising catalog {}", path.display()), e))?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| Error::internal("catalog connection lock poisoned"))
    }

    /// Creates the namespace if it does not exist.
    pub fn ensure_namespace(&self, namespace: &str) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO iceberg_namespace_properties
                 (catalog_name, namespace, property_key, property_value) VALUES (?1, ?2, 'exists', 'true')",
                params![CATALOG_NAME, namespace],
            )
            .map_err(|e| sql_error("creating namespace", e))?;
        Ok(())
    }

    /// The current metadata location of a table, if the table exists.
    pub fn metadata_location(&self, namespace: &str, table: &str) -> Result<Option<String>> {
        self.conn()?
            .query_row(
                "SELECT metadata_location FROM iceberg_tables
                 WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
                params![CATALOG_NAME, namespace, table],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| sql_error(&format!("looking up table {namespace}.{table}"), e))
    }

    /// Registers a new table; `Conflict` if another process registered it first.
    pub fn create_table(
        &self,
        namespace: &str,
        table: &str,
        metadata_location: &str,
    ) -> Result<()> {
        let inserted = self
            .conn()?
            .execute(
                "INSERT OR IGNORE INTO iceberg_tables
                 (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
                 VALUES (?1, ?2, ?3, ?4, NULL, 'TABLE')",
                params![CATALOG_NAME, namespace, table, metadata_location],
            )
            .map_err(|e| sql_error(&format!("creating table {namespace}.{table}"), e))?;
        if inserted == 0 {
            return Err(Error::conflict(format!(
                "table {namespace}.{table} was created concurrently"
            )));
        }
        Ok(())
    }

    /// Applies a commit atomically; `Conflict` if any table moved since it was read.
    pub fn commit(&self, commit: &CatalogCommit) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql_error("starting a commit", e))?;
        for swap in &commit.swaps {
            let changed = tx
                .execute(
                    "UPDATE iceberg_tables SET metadata_location = ?1, previous_metadata_location = ?2
                     WHERE catalog_name = ?3 AND table_namespace = ?4 AND table_name = ?5
                       AND metadata_location = ?2",
                    params![swap.new, swap.expected, CATALOG_NAME, swap.namespace, swap.table],
                )
                .map_err(|e| sql_error("swapping table metadata", e))?;
            if changed != 1 {
                return Err(Error::conflict(format!(
                    "table {}.{} changed since it was read (concurrent commit)",
                    swap.namespace, swap.table
                )));
            }
        }
        let now = chrono::Utc::now().timestamp_micros();
        {
            let mut put_state = tx
                .prepare_cached(
                    "INSERT INTO tracelake_sources (source, key, state, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (source, key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                )
                .map_err(|e| sql_error("recording source progress", e))?;
            for s in &commit.states {
                put_state
                    .execute(params![s.source, s.key, s.state, now])
                    .map_err(|e| sql_error("recording source progress", e))?;
            }
            let mut put_key = tx
                .prepare_cached("INSERT OR IGNORE INTO tracelake_once (key) VALUES (?1)")
                .map_err(|e| sql_error("recording emitted keys", e))?;
            for k in &commit.once_keys {
                put_key
                    .execute(params![&k[..]])
                    .map_err(|e| sql_error("recording emitted keys", e))?;
            }
        }
        tx.commit().map_err(|e| sql_error("committing", e))
    }

    /// Every recorded state of one source, by key.
    pub fn source_states(&self, source: &str) -> Result<HashMap<String, String>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT key, state FROM tracelake_sources WHERE source = ?1")
            .map_err(|e| sql_error("reading source progress", e))?;
        let rows = stmt
            .query_map(params![source], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| sql_error("reading source progress", e))?;
        rows.collect::<rusqlite::Result<HashMap<String, String>>>()
            .map_err(|e| sql_error("reading source progress", e))
    }

    /// For each key, whether a committed write already recorded it. Sources use this to emit
    /// a row once even when the same thing arrives again (a re-sent request, a copied file).
    pub fn keys_seen(&self, keys: &[[u8; 16]]) -> Result<Vec<bool>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT 1 FROM tracelake_once WHERE key = ?1")
            .map_err(|e| sql_error("reading emitted keys", e))?;
        keys.iter()
            .map(|k| {
                stmt.exists(params![&k[..]])
                    .map_err(|e| sql_error("reading emitted keys", e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_compare_and_swap_with_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let cat = SqlCatalog::open_sqlite(&dir.path().join("catalog.db")).unwrap();
        cat.ensure_namespace("tracelake").unwrap();
        cat.create_table("tracelake", "spans", "m0").unwrap();
        assert!(cat.create_table("tracelake", "spans", "m0").is_err());
        let swap = |expected: &str, new: &str| PointerSwap {
            namespace: "tracelake".into(),
            table: "spans".into(),
            expected: expected.into(),
            new: new.into(),
        };
        let commit = CatalogCommit {
            swaps: vec![swap("m0", "m1")],
            states: vec![SourceState {
                source: "s".into(),
                key: "f".into(),
                state: "{}".into(),
            }],
            once_keys: vec![[7; 16]],
        };
        cat.commit(&commit).unwrap();
        assert_eq!(
            cat.metadata_location("tracelake", "spans")
                .unwrap()
                .as_deref(),
            Some("m1")
        );
        // A second commit based on the stale pointer fails and changes nothing.
        let stale = CatalogCommit {
            swaps: vec![swap("m0", "m2")],
            states: vec![SourceState {
                source: "s".into(),
                key: "g".into(),
                state: "{}".into(),
            }],
            once_keys: vec![[8; 16]],
        };
        let err = cat.commit(&stale).unwrap_err();
        assert_eq!(err.kind(), tracelake_model::ErrorKind::Conflict);
        assert_eq!(
            cat.metadata_location("tracelake", "spans")
                .unwrap()
                .as_deref(),
            Some("m1")
        );
        assert_eq!(cat.source_states("s").unwrap().len(), 1);
        assert_eq!(
            cat.keys_seen(&[[7; 16], [8; 16]]).unwrap(),
            vec![true, false]
        );
    }
}
