//! The sample Claude Code sessions bundled into the binary (real CLI 2.1.328 runs, see
//! testdata/PROVENANCE.md), written out for `quickstart` when a machine has no logs of its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// Writes the samples under `dir` (as a `CLAUDE_CONFIG_DIR`) and returns the projects folder.
pub fn write_to(dir: &Path) -> Result<PathBuf> {
    for (rel, bytes) in SAMPLE_FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir.join("projects"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bundled_and_written() {
        assert!(SAMPLE_FILES.len() >= 5);
        let dir = tempfile::tempdir().unwrap();
        let projects = write_to(dir.path()).unwrap();
        let sessions = std::fs::read_dir(&projects).unwrap().count();
        assert_eq!(sessions, 5);
    }
}
