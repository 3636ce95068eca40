//! OTLP from the client side: an exporter over every transport, captured requests, and the
//! load generator.

pub mod client;
pub mod load;

pub use client::{OtlpClient, Reply, Transport, load_capture, load_captures};
pub use load::{Acked, LoadReport, LoadSpec, traces_request};
