//! Test and benchmark kit for tracelake: generators of realistic agent-trace corpora with
//! exact ground truth, for importer tests and end-to-end benchmarks.
//!
//! - [`claude_corpus`]: Claude Code session logs (`projects/<encoded-cwd>/<session>.jsonl`,
//!   subagent transcripts) at any size, deterministic for a seed, with `truth.json`.
//! - [`codex_corpus`]: Codex CLI rollouts (`sessions/YYYY/MM/DD/rollout-*.jsonl`) modelled on
//!   the real 0.169 sample, deterministic for a seed, with `truth.json`.
//! - [`span_lake`]: a lake of synthetic spans of any size, for query benchmarks.
//! - [`otlp`]: an OTLP exporter over every transport, captured requests, the load generator.

pub mod claude_corpus;
pub mod codex_corpus;
pub mod otlp;
pub mod span_lake;
