//! The span model: the types every tracelake crate speaks, the Arrow schemas of every lake
//! table, the pricing table, and the shared error kind.
//!
//! This crate is deliberately light: no async runtime, no Iceberg, no query engine. Everything
//! else adapts to it.

pub mod error;
pub mod pricing;
pub mod schema;
pub mod span;

pub use error::{Error, ErrorKind, Result, ResultExt};
pub use pricing::{ModelPrice, PricingTable, TokenUsage};
pub use schema::{Column, ColumnType, NAMESPACE, SCHEMA_VERSION, TableKind};
pub use span::{
    Decision, MetricBatchBuilder, MetricPoint, RawBatchBuilder, RawRecord, Span, SpanBatchBuilder,
    SpanKind, Status,
};
