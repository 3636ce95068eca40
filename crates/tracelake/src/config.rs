//! The configuration tree, layered: defaults < `<home>/tracelake.toml` < `TRACELAKE_*`
//! environment variables < command-line flags. Each library crate owns its section's type;
//! only the binary assembles them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tracelake_ingest::RedactionConfig;
use tracelake_ingest::otlp::CollectorConfig;
use tracelake_lake::LakeConfig;

/// The `[import]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// Commit after this many MiB read.
    pub commit_every_mib: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            commit_every_mib: 256,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Catalog, warehouse and write settings.
    pub lake: LakeConfig,
    /// Secret masking.
    pub redact: RedactionConfig,
    /// Importers.
    pub import: ImportConfig,
    /// The OTLP collector (`tracelake serve`).
    pub collector: CollectorConfig,
}

/// The home folder: `--home`, else `$TRACELAKE_HOME`, else `~/.tracelake`.
pub fn resolve_home(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TRACELAKE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let Some(home) = std::env::home_dir() else {
        bail!("cannot find a home folder: pass --home DIR or set TRACELAKE_HOME");
    };
    Ok(home.join(".tracelake"))
}

/// Loads the configuration of `home` with environment overrides applied.
pub fn load(home: &Path) -> Result<Config> {
    let file = home.join("tracelake.toml");
    let mut config = if file.exists() {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        toml::from_str::<Config>(&text)
            .with_context(|| format!("{}: invalid configuration", file.display()))?
    } else {
        Config::default()
    };
    apply_env(&mut config, |k| std::env::var(k).ok())?;
    Ok(config)
}

fn apply_env(config: &mut Config, var: impl Fn(&str) -> Option<String>) -> Result<()> {
    if let Some(v) = var("TRACELAKE_WAREHOUSE").filter(|v| !v.is_empty()) {
        config.lake.warehouse = Some(v);
    }
    if let Some(v) = var("TRACELAKE_CATALOG").filter(|v| !v.is_empty()) {
        config.lake.catalog = Some(PathBuf::from(v));
    }
    if let Some(v) = var("TRACELAKE_S3_ENDPOINT").filter(|v| !v.is_empty()) {
        config.lake.s3.endpoint = Some(v);
    }
    if let Some(v) = var("TRACELAKE_S3_REGION").filter(|v| !v.is_empty()) {
        config.lake.s3.region = Some(v);
    }
    if let Some(v) = var("TRACELAKE_REDACT").filter(|v| !v.is_empty()) {
        config.redact.enabled = match v.as_str() {
            "1" | "true" | "on" | "yes" => true,
            "0" | "false" | "off" | "no" => false,
            other => bail!("TRACELAKE_REDACT={other}: expected on or off"),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tracelake.toml"),
            "[lake]\nwarehouse = \"/from/file\"\n[import]\ncommit_every_mib = 8\n",
        )
        .unwrap();
        let mut c = load(dir.path()).unwrap();
        assert_eq!(c.import.commit_every_mib, 8);
        apply_env(&mut c, |k| {
            (k == "TRACELAKE_WAREHOUSE").then(|| "s3://b/p".to_string())
        })
        .unwrap();
        assert_eq!(c.lake.warehouse.as_deref(), Some("s3://b/p"));
        assert!(c.redact.enabled);
        assert!(
            apply_env(&mut c, |k| (k == "TRACELAKE_REDACT")
                .then(|| "maybe".into()))
            .is_err()
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tracelake.toml"),
            "[lake]\nwarehous = \"x\"\n",
        )
        .unwrap();
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains("tracelake.toml"), "{err}");
        assert!(err.contains("warehous"), "{err}");
    }
}
