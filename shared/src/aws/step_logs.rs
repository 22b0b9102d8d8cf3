//! The step log adapter: the end of a failed step's `stderr.gz`, which EMR pushes to the
//! cluster's `LogUri` every few minutes (`<LogUri>/<cluster-id>/steps/<step-id>/stderr.gz`,
//! Amazon EMR management guide, "View log files archived to Amazon S3"), and of an EMR
//! Serverless job run's driver `stderr.gz` (refreshed every 15 s under the run's `logUri`) and
//! an EMR on EKS job run's (found by listing its containers' folder: no API names the Spark
//! application whose folder holds it).

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::model::{ClusterId, StepId};

/// The largest compressed log read, in bytes: a step's stderr is usually kilobytes; a bigger one
/// is not worth a Lambda's memory.
pub const MAX_LOG_BYTES: i64 = 16 * 1024 * 1024;

/// Reads step logs from S3 ([`StepLogs::new`]), or reads none ([`StepLogs::none`]).
///
/// Only on-state-change reads logs (it settles failed steps and its sweep fetches late causes);
/// the other functions hold [`StepLogs::none`], and because the S3 client is reached only through
/// the object [`StepLogs::new`] makes, their binaries carry no S3 client at all.
#[derive(Debug, Clone)]
pub struct StepLogs {
    objects: Option<Arc<dyn ReadObject>>,
}

/// `GetObject` of a whole (small) object: `Ok(None)` when there is no such key or bucket; and
/// the first key under a prefix that ends with a suffix (`ListObjectsV2`).
trait ReadObject: fmt::Debug + Send + Sync {
    fn read<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, Error>>;
    fn find<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Error>>;
}

impl ReadObject for aws_sdk_s3::Client {
    fn read<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, Error>> {
        Box::pin(async move {
            let output = match self.get_object().bucket(bucket).key(key).send().await {
                Ok(output) => output,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_no_such_key() || e.code() == Some("NoSuchBucket")) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(Error::upstream("S3", "GetObject")(e)),
            };
            if output.content_length().unwrap_or(0) > MAX_LOG_BYTES {
                return Err(log_failed(format!(
                    "s3://{bucket}/{key} is larger than {MAX_LOG_BYTES} bytes"
                )));
            }
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| log_failed(e.to_string()))?
                .into_bytes();
            Ok(Some(bytes))
        })
    }

    fn find<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        suffix: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(async move {
            let mut pages = (self.list_objects_v2())
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(page) => page,
                    Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("NoSuchBucket") => {
                        return Ok(None);
                    }
                    Err(e) => return Err(Error::upstream("S3", "ListObjectsV2")(e)),
                };
                let found = page
                    .contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .find(|k| k.ends_with(suffix));
                if let Some(key) = found {
                    return Ok(Some(key.to_owned()));
                }
            }
            Ok(None)
        })
    }
}

fn log_failed(message: String) -> Error {
    crate::aws::metrics::aws_api_error("S3");
    Error::Upstream {
        service: "S3",
        operation: "GetObject",
        message,
    }
}

/// `(bucket, key)` of an S3 URI (`s3://`, `s3n://`, `s3a://`); `None` for any other text or an
/// empty bucket.
fn s3_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = ["s3://", "s3n://", "s3a://"]
        .iter()
        .find_map(|scheme| uri.strip_prefix(scheme))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

/// `(bucket, key)` of a step's `stderr.gz` under `log_uri` (`s3://bucket/prefix/`; EMR also
/// accepts `s3n://`). `None` when `log_uri` is not an S3 URI.
pub fn stderr_location(log_uri: &str, cluster_id: &ClusterId, step_id: &StepId) -> Option<(String, String)> {
    let (bucket, prefix) = s3_parts(log_uri)?;
    let prefix = prefix.trim_end_matches('/');
    let key = if prefix.is_empty() {
        format!("{cluster_id}/steps/{step_id}/stderr.gz")
    } else {
        format!("{prefix}/{cluster_id}/steps/{step_id}/stderr.gz")
    };
    Some((bucket.to_owned(), key))
}

impl StepLogs {
    /// Logs read with `client`.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self {
            objects: Some(Arc::new(client)),
        }
    }

    /// No logs: every [`StepLogs::stderr_tail`] is `Ok(None)` (as while EMR has not pushed one).
    pub fn none() -> Self {
        Self { objects: None }
    }

    /// The last `max_bytes` (or a little more) of the step's stderr, decompressed in pieces and
    /// lossily decoded as UTF-8. `Ok(None)` while EMR has not pushed it (no such key), when
    /// `log_uri` is not S3, or for [`StepLogs::none`].
    ///
    /// Errors: [`Error::Upstream`] when S3 fails or refuses (e.g. access denied: the template
    /// grants `s3:GetObject` on the buckets given as `StepLogBuckets`), or the log is larger
    /// than [`MAX_LOG_BYTES`] or not gzip.
    pub async fn stderr_tail(
        &self,
        log_uri: &str,
        cluster_id: &ClusterId,
        step_id: &StepId,
        max_bytes: usize,
    ) -> Result<Option<String>, Error> {
        match stderr_location(log_uri, cluster_id, step_id) {
            Some((bucket, key)) => self.tail(&bucket, &key, max_bytes).await,
            None => Ok(None),
        }
    }

    /// The last `max_bytes` of the gzip log at `uri` (`s3://bucket/key`, as an EMR Serverless
    /// job run's driver `stderr.gz`; see [`crate::model::JobRunRecord::driver_stderr_key`]),
    /// like [`StepLogs::stderr_tail`]. `Ok(None)` while there is no such object, when `uri` is
    /// not S3, or for [`StepLogs::none`].
    ///
    /// Errors: as [`StepLogs::stderr_tail`]'s.
    pub async fn log_tail(&self, uri: &str, max_bytes: usize) -> Result<Option<String>, Error> {
        match s3_parts(uri) {
            Some((bucket, key)) if !key.is_empty() => self.tail(bucket, key, max_bytes).await,
            _ => Ok(None),
        }
    }

    /// The first object under `prefix_uri` (`s3://bucket/prefix/`) whose key ends with
    /// `suffix`, as `s3://bucket/key`: an EMR on EKS driver's `stderr.gz` under its run's
    /// `containers/` folder (see [`crate::model::EksJobRunRecord::containers_prefix`]).
    /// `Ok(None)` when there is none yet, `prefix_uri` is not S3, or for [`StepLogs::none`].
    ///
    /// Errors: [`Error::Upstream`] when S3 fails or refuses (`s3:ListBucket` on the log
    /// buckets).
    pub async fn find_log(&self, prefix_uri: &str, suffix: &str) -> Result<Option<String>, Error> {
        let (Some(objects), Some((bucket, prefix))) = (&self.objects, s3_parts(prefix_uri)) else {
            return Ok(None);
        };
        let key = objects.find(bucket, prefix, suffix).await?;
        Ok(key.map(|key| format!("s3://{bucket}/{key}")))
    }

    async fn tail(&self, bucket: &str, key: &str, max_bytes: usize) -> Result<Option<String>, Error> {
        let Some(objects) = &self.objects else {
            return Ok(None);
        };
        let Some(bytes) = objects.read(bucket, key).await? else {
            return Ok(None);
        };
        let tail = gunzip_tail(bytes.as_ref(), max_bytes)
            .map_err(|e| log_failed(format!("s3://{bucket}/{key} is not gzip: {e}")))?;
        Ok(Some(String::from_utf8_lossy(&tail).into_owned()))
    }
}

/// The last `max_bytes` (up to 4 bytes more, so a UTF-8 character is never cut) of gzip data,
/// decompressed in 64 KiB pieces.
fn gunzip_tail(gzip: &[u8], max_bytes: usize) -> std::io::Result<Vec<u8>> {
    let mut decoder = flate2::read::MultiGzDecoder::new(gzip);
    let mut tail = Vec::with_capacity(2 * max_bytes);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = decoder.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buffer[..n]);
        if tail.len() > 2 * max_bytes + 4 {
            tail.drain(..tail.len() - max_bytes - 4);
        }
    }
    if tail.len() > max_bytes + 4 {
        tail.drain(..tail.len() - max_bytes - 4);
    }
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_the_end_of_a_long_log_is_kept() {
        let log: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(log.as_bytes()).unwrap();
        let tail = gunzip_tail(&gz.finish().unwrap(), 100).unwrap();
        assert!(tail.len() <= 104 && tail.len() >= 100);
        assert!(String::from_utf8_lossy(&tail).ends_with("line 19999\n"));
        assert!(gunzip_tail(b"not gzip at all", 100).is_err());
    }

    #[tokio::test]
    async fn no_step_logs_reads_nothing() {
        // GIVEN the step logs of a function that never reads them
        let logs = StepLogs::none();
        let cluster = ClusterId::parse("j-1K48XXXXXXHCB").unwrap();
        let step = StepId::parse("s-2ABCDEFGHIJKL").unwrap();
        // WHEN a failed step's stderr is asked for under an S3 LogUri
        let tail = logs.stderr_tail("s3://logs/emr/", &cluster, &step, 4096).await;
        // THEN there is none, as while EMR has not pushed it
        assert_eq!(tail.unwrap(), None);
        let uri = "s3://logs/x/applications/a/jobs/r/SPARK_DRIVER/stderr.gz";
        assert_eq!(logs.log_tail(uri, 4096).await.unwrap(), None);
    }

    #[test]
    fn stderr_lives_under_the_log_uri_by_cluster_and_step() {
        let cluster = ClusterId::parse("j-1K48XXXXXXHCB").unwrap();
        let step = StepId::parse("s-2ABCDEFGHIJKL").unwrap();
        assert_eq!(
            stderr_location("s3://logs-bucket/emr/", &cluster, &step),
            Some((
                "logs-bucket".into(),
                "emr/j-1K48XXXXXXHCB/steps/s-2ABCDEFGHIJKL/stderr.gz".into()
            ))
        );
        assert_eq!(
            stderr_location("s3n://logs-bucket", &cluster, &step),
            Some((
                "logs-bucket".into(),
                "j-1K48XXXXXXHCB/steps/s-2ABCDEFGHIJKL/stderr.gz".into()
            ))
        );
        assert_eq!(stderr_location("hdfs:///logs", &cluster, &step), None);
        assert_eq!(stderr_location("s3:///x", &cluster, &step), None);
    }
}
