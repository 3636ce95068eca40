//! Progress bars on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracelake_ingest::ImportProgress;

/// An import progress bar: bytes, rate, files.
pub struct ImportBar {
    bar: ProgressBar,
    files: std::sync::atomic::AtomicU64,
    total_files: std::sync::atomic::AtomicU64,
}

impl ImportBar {
    /// A bar labelled `label`.
    pub fn new(label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(&format!(
            "{label} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} {{msg}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Self {
            bar,
            files: 0.into(),
            total_files: 0.into(),
        }
    }
}

impl ImportProgress for ImportBar {
    fn start(&self, files: u64, bytes: u64) {
        self.total_files
            .store(files, std::sync::atomic::Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{files} files"));
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn file_done(&self) {
        let done = self
            .files
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if done.is_multiple_of(16)
            || done == self.total_files.load(std::sync::atomic::Ordering::Relaxed)
        {
            self.bar.set_message(format!(
                "{done}/{} files",
                self.total_files.load(std::sync::atomic::Ordering::Relaxed)
            ));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A plain bytes bar labelled `label` with `total` bytes (hidden when stderr is not a
/// terminal).
pub fn bytes_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!(
        "{label} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}
