//! Where table files live: a local folder or an S3(-compatible) bucket, behind one
//! [`Warehouse`] that maps Iceberg locations (`file:///…`, `s3://bucket/…`) to object-store
//! paths and back.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tracelake_model::{Error, Result};

/// S3 connection settings; anything unset falls back to the usual `AWS_*` variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Region (`AWS_REGION`).
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (`AWS_ENDPOINT_URL`), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Session token (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Allow plain HTTP endpoints (loopback test servers).
    pub allow_http: Option<bool>,
    /// Use virtual-hosted-style requests instead of path-style.
    pub virtual_hosted_style: Option<bool>,
    /// Give up on a request after retrying this long (default 180 s).
    pub retry_timeout_secs: Option<u64>,
    /// Retries per request (default 10).
    pub max_retries: Option<usize>,
}

/// The storage a lake's tables live in.
#[derive(Debug, Clone)]
pub struct Warehouse {
    store: Arc<dyn ObjectStore>,
    /// Location prefix of the object-store root: `file://` or `s3://bucket`.
    root_url: String,
    /// The warehouse folder inside the store (no leading or trailing slash).
    prefix: String,
    local_root: Option<PathBuf>,
}

impl Warehouse {
    /// Opens the warehouse named by `spec`: a local path, `file:///path`, or
    /// `s3://bucket[/prefix]`.
    pub fn open(spec: &str, s3: &S3Config) -> Result<Self> {
        if let Some(rest) = spec
            .strip_prefix("s3://")
            .or_else(|| spec.strip_prefix("s3a://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid_input(format!(
                    "warehouse {spec}: expected s3://bucket[/prefix]"
                )));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(v) = &s3.region {
                b = b.with_region(v);
            }
            if let Some(v) = &s3.endpoint {
                b = b.with_endpoint(v);
            }
            if let Some(v) = &s3.access_key_id {
                b = b.with_access_key_id(v);
            }
            if let Some(v) = &s3.secret_access_key {
                b = b.with_secret_access_key(v);
            }
            if let Some(v) = &s3.session_token {
                b = b.with_token(v);
            }
            if let Some(v) = s3.allow_http {
                b = b.with_allow_http(v);
            } else if s3
                .endpoint
                .as_deref()
                .or(std::env::var("AWS_ENDPOINT_URL").ok().as_deref())
                .is_some_and(|e| e.starts_with("http://"))
            {
                b = b.with_allow_http(true);
            }
            if let Some(v) = s3.virtual_hosted_style {
                b = b.with_virtual_hosted_style_request(v);
            }
            if s3.retry_timeout_secs.is_some() || s3.max_retries.is_some() {
                let mut retry = object_store::RetryConfig::default();
                if let Some(secs) = s3.retry_timeout_secs {
                    retry.retry_timeout = std::time::Duration::from_secs(secs);
                }
                if let Some(n) = s3.max_retries {
                    retry.max_retries = n;
                }
                b = b.with_retry(retry);
            }
            let store = b.build().map_err(|e| {
                Error::invalid_input(format!("warehouse {spec}: cannot configure S3"))
                    .with_source(e)
            })?;
            return Ok(Self {
                store: Arc::new(store),
                root_url: format!("s3://{bucket}"),
                prefix: prefix.trim_matches('/').to_string(),
                local_root: None,
            });
        }
        let path = spec.strip_prefix("file://").unwrap_or(spec);
        if spec.contains("://") && !spec.starts_with("file://") {
            return Err(Error::invalid_input(format!(
                "warehouse {spec}: unsupported scheme (use a local path, file:// or s3://)"
            )));
        }
        Self::local(FsPath::new(path))
    }

    /// A warehouse in a local folder (created if missing).
    pub fn local(dir: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::unavailable(format!("creating warehouse folder {}", dir.display()))
                .with_source(e)
        })?;
        let dir = dir.canonicalize().map_err(|e| {
            Error::unavailable(format!("resolving warehouse folder {}", dir.display()))
                .with_source(e)
        })?;
        let prefix = dir
            .to_str()
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "warehouse folder {} is not valid UTF-8",
                    dir.display()
                ))
            })?
            .trim_matches('/')
            .to_string();
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            root_url: "file://".to_string(),
            prefix,
            local_root: Some(dir),
        })
    }

    /// The object store behind this warehouse.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `file://` or `s3://bucket`: what DataFusion registers the store under.
    pub fn store_url(&self) -> &str {
        &self.root_url
    }

    /// The local folder, for a local warehouse.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// The location (URL) of `relative` inside the warehouse.
    pub fn location(&self, relative: &str) -> String {
        let relative = relative.trim_start_matches('/');
        if self.prefix.is_empty() {
            format!("{}/{relative}", self.root_url)
        } else {
            format!("{}/{}/{relative}", self.root_url, self.prefix)
        }
    }

    /// The object-store path of a location produced by [`Warehouse::location`] (or any
    /// location in the same store).
    pub fn path(&self, location: &str) -> Result<Path> {
        let rest = location.strip_prefix(&self.root_url).ok_or_else(|| {
            Error::invalid_input(format!(
                "location {location} is outside this warehouse's store ({})",
                self.root_url
            ))
        })?;
        Path::parse(rest.trim_start_matches('/')).map_err(|e| {
            Error::invalid_input(format!("location {location} is not a valid path")).with_source(e)
        })
    }

    /// The local filesystem path of a location in a local warehouse.
    pub fn local_path(&self, location: &str) -> Option<PathBuf> {
        self.local_root.as_ref()?;
        location.strip_prefix("file://").map(PathBuf::from)
    }

    /// Reads a whole object.
    pub async fn read(&self, location: &str) -> Result<Bytes> {
        let path = self.path(location)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| store_error(location, e))?;
        got.bytes().await.map_err(|e| store_error(location, e))
    }

    /// Writes a whole object.
    pub async fn write(&self, location: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(location)?;
        self.store
            .put(&path, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| store_error(location, e))
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, location: &str) -> Result<()> {
        let path = self.path(location)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(location, e)),
        }
    }

    /// Uploads a local file to `location` (multipart, streaming in chunks).
    pub async fn upload_file(&self, local: &FsPath, location: &str) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let path = self.path(location)?;
        let mut file = tokio::fs::File::open(local).await.map_err(|e| {
            Error::unavailable(format!("reading staged file {}", local.display())).with_source(e)
        })?;
        let mut upload = object_store::WriteMultipart::new_with_chunk_size(
            self.store
                .put_multipart(&path)
                .await
                .map_err(|e| store_error(location, e))?,
            16 * 1024 * 1024,
        );
        let mut buf = vec![0u8; 8 * 1024 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(|e| {
                Error::unavailable(format!("reading staged file {}", local.display()))
                    .with_source(e)
            })?;
            if n == 0 {
                break;
            }
            upload
                .wait_for_capacity(4)
                .await
                .map_err(|e| store_error(location, e))?;
            upload.write(&buf[..n]);
        }
        upload
            .finish()
            .await
            .map_err(|e| store_error(location, e))?;
        Ok(())
    }
}

/// Maps an object-store failure to a tracelake error naming the location.
pub fn store_error(location: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => {
            Error::not_found(format!("{location} does not exist")).with_source(e)
        }
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Error::conflict(format!("{location} already exists")).with_source(e)
        }
        _ => Error::unavailable(format!("object store failed on {location}")).with_source(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_locations_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        let loc = w.location("tracelake/spans/data/a.parquet");
        assert!(loc.starts_with("file:///"), "{loc}");
        let path = w.path(&loc).unwrap();
        assert_eq!(format!("/{path}"), loc.trim_start_matches("file://"));
        assert_eq!(
            w.local_path(&loc).unwrap(),
            dir.path()
                .canonicalize()
                .unwrap()
                .join("tracelake/spans/data/a.parquet")
        );
    }

    #[test]
    fn s3_locations_round_trip() {
        let s3 = S3Config {
            region: Some("us-east-1".into()),
            endpoint: Some("http://127.0.0.1:1".into()),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..S3Config::default()
        };
        let w = Warehouse::open("s3://bucket/lake/", &s3).unwrap();
        let loc = w.location("tracelake/raw/metadata/x.json");
        assert_eq!(loc, "s3://bucket/lake/tracelake/raw/metadata/x.json");
        assert_eq!(
            w.path(&loc).unwrap().as_ref(),
            "lake/tracelake/raw/metadata/x.json"
        );
        assert!(w.path("s3://other/x").is_err());
        assert!(Warehouse::open("gs://b", &s3).is_err());
    }
}
