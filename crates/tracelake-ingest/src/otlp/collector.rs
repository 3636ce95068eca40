//! The collector's accept path, shared by both transports: admission control (bounded bytes in
//! flight, bounded WAL backlog), the durable append, and the counters it reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tracelake_lake::Wal;

use super::decode::Signal;

/// The `[collector]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    /// OTLP/gRPC listen address.
    pub grpc: String,
    /// OTLP/HTTP listen address.
    pub http: String,
    /// Largest request accepted, after decompression (default 64 MiB).
    pub max_request_bytes: usize,
    /// Request bytes being received and decoded at once before new requests are refused.
    pub max_inflight_bytes: u64,
    /// WAL bytes not yet committed before new requests are refused.
    pub max_backlog_bytes: u64,
    /// Commit the WAL at least this often (milliseconds).
    pub commit_interval_ms: u64,
    /// Commit the WAL once it holds this many bytes.
    pub commit_bytes: u64,
    /// Keep every request in the `raw` table (as OTLP JSON).
    pub keep_raw: bool,
    /// How long an entity with several views (Claude Code's and Codex's model calls, tools,
    /// prompts, decisions) waits for the others before it is written
    /// (milliseconds after its first view arrived). Views within the window merge into one
    /// row even when they land in different commits.
    pub merge_window_ms: u64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            grpc: "127.0.0.1:4317".into(),
            http: "127.0.0.1:4318".into(),
            max_request_bytes: 64 * 1024 * 1024,
            max_inflight_bytes: 128 * 1024 * 1024,
            max_backlog_bytes: 2 * 1024 * 1024 * 1024,
            commit_interval_ms: 2000,
            commit_bytes: 64 * 1024 * 1024,
            keep_raw: true,
            merge_window_ms: 5000,
        }
    }
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The body could not be decoded (HTTP 400, gRPC INVALID_ARGUMENT).
    Malformed(String),
    /// The body is over the size limit (HTTP 413, gRPC RESOURCE_EXHAUSTED).
    TooLarge(String),
    /// Too much in flight right now; retry after the hint (HTTP 429, gRPC RESOURCE_EXHAUSTED).
    Busy(String),
    /// The WAL backlog is full or the disk failed; retry after the hint (HTTP 503, gRPC UNAVAILABLE).
    Unavailable(String),
}

impl Rejection {
    /// The message for the client.
    pub fn message(&self) -> &str {
        match self {
            Rejection::Malformed(m)
            | Rejection::TooLarge(m)
            | Rejection::Busy(m)
            | Rejection::Unavailable(m) => m,
        }
    }
}

/// The collector's own counters.
#[derive(Debug, Default)]
pub struct CollectorStats {
    /// Requests received, per signal (traces, logs, metrics).
    pub received: [AtomicU64; 3],
    /// Requests accepted (durable in the WAL), per signal.
    pub accepted: [AtomicU64; 3],
    /// Items (spans, log records, points) accepted, per signal.
    pub items: [AtomicU64; 3],
    /// Requests rejected as malformed.
    pub rejected_malformed: AtomicU64,
    /// Requests rejected as too large.
    pub rejected_too_large: AtomicU64,
    /// Requests refused under back-pressure.
    pub rejected_busy: AtomicU64,
    /// Requests refused because the WAL could not take them.
    pub rejected_unavailable: AtomicU64,
    /// Rows committed to the lake.
    pub committed_rows: AtomicU64,
    /// WAL segments committed.
    pub commits: AtomicU64,
    /// Sum of commit latencies (µs).
    pub commit_micros_sum: AtomicU64,
    /// Latest commit latency (µs).
    pub commit_micros_last: AtomicU64,
    /// Time of the latest commit (µs since the epoch).
    pub last_commit_at: AtomicU64,
    /// Failed commit attempts (retried).
    pub commit_failures: AtomicU64,
    /// Acknowledged requests committed to `raw` only, because they could not be mapped
    /// (a bug in a mapping; the log names each).
    pub unmapped_requests: AtomicU64,
}

fn index(s: Signal) -> usize {
    match s {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

impl CollectorStats {
    /// Counts a received request.
    pub fn received(&self, s: Signal) {
        self.received[index(s)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rejection.
    pub fn rejected(&self, r: &Rejection) {
        match r {
            Rejection::Malformed(_) => &self.rejected_malformed,
            Rejection::TooLarge(_) => &self.rejected_too_large,
            Rejection::Busy(_) => &self.rejected_busy,
            Rejection::Unavailable(_) => &self.rejected_unavailable,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a commit.
    pub fn committed(&self, rows: u64, micros: u64) {
        self.committed_rows.fetch_add(rows, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros_sum.fetch_add(micros, Ordering::Relaxed);
        self.commit_micros_last.store(micros, Ordering::Relaxed);
        self.last_commit_at.store(
            chrono::Utc::now().timestamp_micros() as u64,
            Ordering::Relaxed,
        );
    }
}

/// The collector's shared state: the WAL, limits and counters.
pub struct Collector {
    wal: Arc<Wal>,
    config: CollectorConfig,
    inflight: AtomicU64,
    /// Counters.
    pub stats: CollectorStats,
}

/// Releases in-flight bytes when a request is done.
pub struct Admission<'a> {
    collector: &'a Collector,
    bytes: u64,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.collector
            .inflight
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Collector {
    /// A collector appending to `wal`.
    pub fn new(wal: Arc<Wal>, config: CollectorConfig) -> Self {
        Self {
            wal,
            config,
            inflight: AtomicU64::new(0),
            stats: CollectorStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// The WAL.
    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    /// Bytes of requests being handled right now.
    pub fn inflight_bytes(&self) -> u64 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Admits a request of `bytes` (encoded size) or says why not.
    pub fn admit(&self, signal: Signal, bytes: u64) -> Result<Admission<'_>, Rejection> {
        self.stats.received(signal);
        let reject = |r: Rejection| {
            self.stats.rejected(&r);
            Err(r)
        };
        if bytes > self.config.max_request_bytes as u64 {
            return reject(Rejection::TooLarge(format!(
                "request of {bytes} bytes is over the {}-byte limit ([collector] max_request_bytes)",
                self.config.max_request_bytes
            )));
        }
        if self.wal.pending_bytes() > self.config.max_backlog_bytes {
            return reject(Rejection::Unavailable(format!(
                "the collector's write-ahead log holds {} bytes not yet committed to the lake \
                 (limit {}); retry shortly",
                self.wal.pending_bytes(),
                self.config.max_backlog_bytes
            )));
        }
        let before = self.inflight.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before + bytes > self.config.max_inflight_bytes {
            self.inflight.fetch_sub(bytes, Ordering::Relaxed);
            return reject(Rejection::Busy(format!(
                "{before} bytes of requests are being received; retry shortly"
            )));
        }
        Ok(Admission {
            collector: self,
            bytes,
        })
    }

    /// Makes a decoded request durable; `items` is its count of spans, records or points.
    pub async fn store(
        &self,
        signal: Signal,
        protobuf: bytes::Bytes,
        items: u64,
    ) -> Result<(), Rejection> {
        let now = chrono::Utc::now().timestamp_micros();
        match self.wal.append(signal.wal_kind(), now, protobuf).await {
            Ok(()) => {
                self.stats.accepted[index(signal)].fetch_add(1, Ordering::Relaxed);
                self.stats.items[index(signal)].fetch_add(items, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e.report(), "the write-ahead log refused a request");
                let r = Rejection::Unavailable(format!(
                    "the collector cannot store data right now: {}",
                    e.report()
                ));
                self.stats.rejected(&r);
                Err(r)
            }
        }
    }

    /// The counters in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, ty: &str, values: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {ty}\n"));
            for (labels, v) in values {
                if labels.is_empty() {
                    out.push_str(&format!("{name} {v}\n"));
                } else {
                    out.push_str(&format!("{name}{{{labels}}} {v}\n"));
                }
            }
        };
        let per_signal = |a: &[AtomicU64; 3]| -> Vec<(&'static str, u64)> {
            vec![
                ("signal=\"traces\"", a[0].load(Ordering::Relaxed)),
                ("signal=\"logs\"", a[1].load(Ordering::Relaxed)),
                ("signal=\"metrics\"", a[2].load(Ordering::Relaxed)),
            ]
        };
        metric(
            "tracelake_requests_received_total",
            "OTLP requests received",
            "counter",
            &per_signal(&s.received),
        );
        metric(
            "tracelake_requests_accepted_total",
            "OTLP requests durable in the WAL and acknowledged",
            "counter",
            &per_signal(&s.accepted),
        );
        metric(
            "tracelake_items_accepted_total",
            "Spans, log records and data points acknowledged",
            "counter",
            &per_signal(&s.items),
        );
        metric(
            "tracelake_requests_rejected_total",
            "OTLP requests refused, by reason",
            "counter",
            &[
                (
                    "reason=\"malformed\"",
                    s.rejected_malformed.load(Ordering::Relaxed),
                ),
                (
                    "reason=\"too_large\"",
                    s.rejected_too_large.load(Ordering::Relaxed),
                ),
                ("reason=\"busy\"", s.rejected_busy.load(Ordering::Relaxed)),
                (
                    "reason=\"unavailable\"",
                    s.rejected_unavailable.load(Ordering::Relaxed),
                ),
            ],
        );
        metric(
            "tracelake_rows_committed_total",
            "Rows committed to the lake",
            "counter",
            &[("", s.committed_rows.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_commits_total",
            "WAL segments committed to the lake",
            "counter",
            &[("", s.commits.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_commit_failures_total",
            "Failed commit attempts (retried)",
            "counter",
            &[("", s.commit_failures.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_requests_unmapped_total",
            "Acknowledged requests kept in the raw table only, because mapping them failed",
            "counter",
            &[("", s.unmapped_requests.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_commit_latency_microseconds_sum",
            "Total time spent committing",
            "counter",
            &[("", s.commit_micros_sum.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_commit_latency_microseconds_last",
            "Latest commit's duration",
            "gauge",
            &[("", s.commit_micros_last.load(Ordering::Relaxed))],
        );
        metric(
            "tracelake_wal_bytes",
            "Bytes in the WAL not yet committed",
            "gauge",
            &[("", self.wal.pending_bytes())],
        );
        metric(
            "tracelake_inflight_bytes",
            "Request bytes being received",
            "gauge",
            &[("", self.inflight_bytes())],
        );
        out
    }

    /// The counters as JSON (for `tracelake status` and `/api/status`).
    pub fn status_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per = |a: &[AtomicU64; 3]| serde_json::json!({"traces": l(&a[0]), "logs": l(&a[1]), "metrics": l(&a[2])});
        serde_json::json!({
            "received": per(&s.received),
            "accepted": per(&s.accepted),
            "items_accepted": per(&s.items),
            "rejected": {
                "malformed": l(&s.rejected_malformed),
                "too_large": l(&s.rejected_too_large),
                "busy": l(&s.rejected_busy),
                "unavailable": l(&s.rejected_unavailable),
            },
            "rows_committed": l(&s.committed_rows),
            "commits": l(&s.commits),
            "commit_failures": l(&s.commit_failures),
            "unmapped_requests": l(&s.unmapped_requests),
            "commit_latency_ms_last": l(&s.commit_micros_last) as f64 / 1000.0,
            "commit_latency_ms_mean": if l(&s.commits) > 0 { l(&s.commit_micros_sum) as f64 / 1000.0 / l(&s.commits) as f64 } else { 0.0 },
            "last_commit_at_micros": l(&s.last_commit_at),
            "wal_bytes": self.wal.pending_bytes(),
            "inflight_bytes": self.inflight_bytes(),
        })
    }
}
