//! The query engine: a DataFusion session over the lake's tables (each as of the first query
//! that reads it: a query lists only the files of the tables it touches) and the views, with
//! errors that say what went wrong and what exists.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use tracelake_lake::Lake;
use tracelake_model::{Error, Result, TableKind};

use crate::grep::GrepUdf;
use crate::io::{CountingStore, IoStats};
use crate::provider::{GrepStats, LakeTable};
use crate::views::VIEWS;

/// SQL over one lake.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    grep_stats: Arc<std::sync::Mutex<GrepStats>>,
    io: Arc<CountingStore>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

/// Names queries can use: the tables and the views.
pub fn relation_names() -> Vec<&'static str> {
    TableKind::ALL
        .iter()
        .map(|k| k.name())
        .chain(VIEWS.iter().map(|(n, _)| *n))
        .collect()
}

pub(crate) fn df_error(context: &str, e: DataFusionError) -> Error {
    let e = e.find_root();
    let message = match e {
        DataFusionError::SQL(..) | DataFusionError::Plan(..) | DataFusionError::SchemaError(..) => {
            let text = e.to_string();
            let hint = if text.contains("not found") || text.contains("No field named") {
                format!(
                    "; tables and views: {} (see docs/schema.md for columns)",
                    relation_names().join(", ")
                )
            } else {
                String::new()
            };
            return Error::invalid_input(format!("{context}: {}{hint}", clean(&text)));
        }
        other => other.to_string(),
    };
    Error::internal(format!("{context}: {}", clean(&message)))
}

fn clean(text: &str) -> String {
    text.replace("Error during planning: ", "")
        .replace("SQL error: ", "")
        .replace("Schema error: ", "")
}

impl QueryEngine {
    /// Opens the engine over the lake's current snapshots.
    pub async fn open(lake: &Lake) -> Result<Self> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("tracelake", "tracelake");
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(GrepUdf::literal());
        ctx.register_udf(GrepUdf::regex());
        let mut grep_stats = Arc::default();
        let warehouse = lake.warehouse();
        let store_url = ObjectStoreUrl::parse(warehouse.store_url())
            .map_err(|e| df_error("registering the warehouse", e))?;
        let io = Arc::new(CountingStore::new(warehouse.store().clone()));
        ctx.runtime_env()
            .register_object_store(store_url.as_ref(), io.clone());
        for kind in TableKind::ALL {
            let table = LakeTable::lazy(kind, lake.clone(), store_url.clone());
            if kind == TableKind::Spans {
                grep_stats = table.grep_stats();
            }
            ctx.register_table(kind.name(), Arc::new(table))
                .map_err(|e| df_error("registering tables", e))?;
        }
        for (name, sql) in VIEWS {
            let plan = ctx
                .sql(sql)
                .await
                .map_err(|e| df_error(&format!("defining view {name}"), e))?
                .into_view();
            ctx.register_table(*name, plan)
                .map_err(|e| df_error(&format!("defining view {name}"), e))?;
        }
        Ok(Self {
            ctx,
            grep_stats,
            io,
        })
    }

    /// What the text index did for `grep` filters on `spans` since the last call (and resets).
    pub fn take_grep_stats(&self) -> GrepStats {
        match self.grep_stats.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => GrepStats::default(),
        }
    }

    /// Reads from the warehouse by queries since the last call (and resets).
    pub fn take_io_stats(&self) -> IoStats {
        self.io.take()
    }

    /// The DataFusion context (for registering more tables or functions).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plans a query.
    pub async fn plan(&self, sql: &str) -> Result<DataFrame> {
        self.ctx.sql(sql).await.map_err(|e| df_error("query", e))
    }

    /// Runs a query and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.plan(sql)
            .await?
            .collect()
            .await
            .map_err(|e| df_error("query", e))
    }
}
