//! Reading the lake: a DataFusion session over the Iceberg tables (through the lake's list of
//! live files and DataFusion's own Parquet reader), the views `sessions`, `tasks`,
//! `llm_calls`, `tool_calls` and `permissions`, and the reports built on them.
//!
//! This crate never imports `tracelake-ingest`: the read path and the write path meet only
//! in the lake.

pub mod engine;
pub mod grep;
pub mod io;
pub mod provider;
pub mod reports;
pub mod search;
pub mod views;

pub use engine::{QueryEngine, relation_names};
pub use grep::{GrepUdf, Pattern};
pub use provider::GrepStats;
pub use reports::{CostBy, UNPRICED_SQL, cost_sql, sessions_sql, sql_string};
pub use search::{Hit, SearchField, SearchRequest, SearchResult, search};
