//! Maintenance commands: `compact`, `retention`, `expire-snapshots`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use tracelake_model::TableKind;

use super::{Env, lib};
use crate::output;

/// Parses an age like `90d`, `12h`, `30m`, `45s`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text}: add a unit (s, m, h, d)"))?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text}: not a number of {unit}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return Err(format!("{text}: unknown unit {unit} (use s, m, h, d or w)")),
    };
    Ok(Duration::from_secs(secs))
}

/// Compacts every table.
pub async fn compact(env: &Env, min_files: usize) -> Result<ExitCode> {
    let lake = env.lake().await?;
    for kind in TableKind::ALL {
        let r = lake.compact(kind, min_files).await.map_err(lib)?;
        output::line(format!(
            "{}: {} day partitions rewritten, {} files -> {}, {} rows, {} manifests -> {}",
            kind.name(),
            r.partitions,
            r.files_before,
            r.files_after,
            r.rows,
            r.manifests_before,
            r.manifests_after
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes whole days older than the cutoff from every table.
pub async fn retention(env: &Env, older_than: Duration) -> Result<ExitCode> {
    if older_than.is_zero() {
        bail!("--older-than 0 would delete everything; give a positive age");
    }
    let lake = env.lake().await?;
    let cutoff = chrono::Utc::now().timestamp_micros() - older_than.as_micros() as i64;
    for kind in TableKind::ALL {
        let r = lake.delete_older_than(kind, cutoff).await.map_err(lib)?;
        output::line(format!(
            "{}: {} files, {} rows deleted",
            kind.name(),
            r.files,
            r.rows
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Expires old snapshots of every table.
pub async fn expire(env: &Env, older_than: Duration, retain_last: usize) -> Result<ExitCode> {
    let lake = env.lake().await?;
    for kind in TableKind::ALL {
        let r = lake
            .expire_snapshots(kind, older_than, retain_last)
            .await
            .map_err(lib)?;
        output::line(format!(
            "{}: {} snapshots expired, {} files deleted",
            kind.name(),
            r.snapshots,
            r.files_deleted
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("90d").unwrap(), Duration::from_secs(90 * 86_400));
        assert_eq!(parse_age("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_age("5").is_err());
        assert!(parse_age("5y").is_err());
    }
}
