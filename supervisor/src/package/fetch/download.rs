//! Bringing a package archive (or an index, or a signature) here from where
//! it lives: an http(s) URL or a local path. An archive is streamed into a
//! file of its own inside the store's staging area, hashed as it arrives,
//! resumed with an HTTP Range after a broken transfer, and bounded in time
//! (a server that sends nothing for a while has stalled) and in size. The
//! staging directory goes away with every failure, so a download that does
//! not finish leaves nothing in the store.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::progress::Progress;

use crate::digest::hex;
use crate::error::UserError;
use crate::package::archive::MAX_TOTAL_BYTES;
use crate::provision::cache::Staging;

/// The environment variable that shortens (or lengthens) how long a server
/// may stay silent, in milliseconds; tests set it low.
pub const TIMEOUT_VAR: &str = "PLEXUS_FETCH_TIMEOUT_MS";
/// How long a server may take to accept a connection, or stay silent while
/// sending, before it counts as stalled.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per download: a broken transfer is resumed from where it ended.
const ATTEMPTS: u32 = 3;
/// The largest archive plexus downloads: what a package may hold in all
/// (uncompressed) plus room for the headers of its entries, as deflate
/// never grows data by much.
pub const MAX_ARCHIVE_BYTES: u64 = MAX_TOTAL_BYTES + (64 << 20);

/// Where something is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(String),
    File(PathBuf),
}

impl Location {
    /// An http(s) URL as given, anything else as a path.
    pub fn parse(text: &str) -> Self {
        if is_url(text) {
            Location::Url(text.to_string())
        } else {
            Location::File(PathBuf::from(text))
        }
    }

    /// `name` inside this location, a directory (or its URL).
    pub fn join(&self, name: &str) -> Self {
        match self {
            Location::Url(url) => Location::Url(format!("{}/{name}", url.trim_end_matches('/'))),
            Location::File(dir) => Location::File(dir.join(name)),
        }
    }

    /// This location with `suffix` appended (`x.plexpkg` → `x.plexpkg.minisig`).
    pub fn with_suffix(&self, suffix: &str) -> Self {
        match self {
            Location::Url(url) => Location::Url(format!("{url}{suffix}")),
            Location::File(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                Location::File(PathBuf::from(name))
            }
        }
    }

    /// How messages name it, as a path so [`UserError::in_file`] can.
    pub fn label(&self) -> PathBuf {
        match self {
            Location::Url(url) => PathBuf::from(url),
            Location::File(path) => path.clone(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.label().display().fmt(f)
    }
}

pub fn is_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// An archive brought into the store's staging area; the file (and its
/// directory) is removed when this is dropped, and so are the store's
/// directories (the data directory too) that the download made, when
/// nothing was installed since.
pub struct Fetched {
    staging: Option<Staging>,
    /// Missing before the download, innermost first.
    made: Vec<PathBuf>,
    pub path: PathBuf,
    pub sha256: String,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        drop(self.staging.take());
        for dir in &self.made {
            // Fails, as it should, once the store holds anything.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Why one attempt failed: worth another try (the connection broke, the
/// server stalled or had a passing fault) or final.
enum Failure {
    Retry(String),
    Final(String),
}

/// Fetches with one HTTP agent and one notion of patience.
pub struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Fetcher {
    /// Reads the timeout from [`TIMEOUT_VAR`]; the error names a bad value.
    pub fn new() -> Result<Self, UserError> {
        let timeout = match std::env::var(TIMEOUT_VAR) {
            Ok(text) => text
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    UserError::Plain(format!(
                        "{TIMEOUT_VAR} `{text}` is not a number of milliseconds above 0"
                    ))
                })?,
            Err(_) => DEFAULT_TIMEOUT,
        };
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            // Statuses are answered here, each in its own words.
            .http_status_as_error(false)
            .user_agent(concat!("plexus/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.new_agent(),
            timeout,
        })
    }

    /// Streams the archive at `from` into a fresh staging directory under
    /// `store_root`, hashing it as it arrives, refusing more than `limit`
    /// bytes. A local file is copied the same way, so what is hashed is
    /// what is installed.
    pub fn archive(
        &self,
        from: &Location,
        store_root: &Path,
        limit: u64,
    ) -> Result<Fetched, UserError> {
        let made = store_root
            .ancestors()
            .take_while(|dir| !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        let staging = Staging::create(store_root, "staging").map_err(|e| {
            UserError::in_file(
                store_root,
                format!("cannot write to the package store: {e}"),
            )
        })?;
        let path = staging.path().join("download.plexpkg");
        // From here on, dropping it undoes what the download did.
        let mut fetched = Fetched {
            staging: Some(staging),
            made,
            path,
            sha256: String::new(),
        };
        let mut sink = Sink::create(&fetched.path, from, limit)?;
        match from {
            Location::File(source) => {
                let mut file = File::open(source).map_err(|e| {
                    UserError::in_file(source, format!("cannot read the package archive: {e}"))
                })?;
                sink.copy(&mut file, &mut |e| {
                    Failure::Final(format!("cannot read: {e}"))
                })
                .map_err(|f| UserError::in_file(source, f.text()))?;
            }
            Location::Url(url) => self.retrying(url, |attempt| {
                if attempt > 1 && sink.written > 0 {
                    tracing::info!("resuming {url} from byte {}", sink.written);
                }
                self.resume_into(url, &mut sink)
            })?,
        }
        sink.progress.finish();
        fetched.sha256 = hex(&sink.hash.finalize());
        Ok(fetched)
    }

    /// A small file (an index, a signature) read whole, at most `limit`
    /// bytes; `None` when there is none (no such file, or HTTP 403, 404 or 410).
    pub fn small(&self, from: &Location, limit: u64) -> Result<Option<Vec<u8>>, UserError> {
        let too_big = || {
            UserError::in_file(
                &from.label(),
                format!(
                    "is larger than {} KiB, the most plexus reads here",
                    limit >> 10
                ),
            )
        };
        match from {
            Location::File(path) => {
                let file = match File::open(path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(UserError::in_file(path, format!("cannot read: {e}"))),
                };
                let mut bytes = Vec::new();
                file.take(limit + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| UserError::in_file(path, format!("cannot read: {e}")))?;
                if bytes.len() as u64 > limit {
                    return Err(too_big());
                }
                Ok(Some(bytes))
            }
            Location::Url(url) => self.retrying(url, |_| {
                let response = self.get(url, None)?;
                match response.status().as_u16() {
                    // Object stores answer 403 for what is not there.
                    403 | 404 | 410 => return Ok(None),
                    200 => {}
                    status => return Err(status_failure(status)),
                }
                let mut bytes = Vec::new();
                let read = response
                    .into_body()
                    .into_reader()
                    .take(limit + 1)
                    .read_to_end(&mut bytes);
                read.map_err(|e| self.transfer_failure(e))?;
                if bytes.len() as u64 > limit {
                    return Err(Failure::Final(too_big().to_string()));
                }
                Ok(Some(bytes))
            }),
        }
    }

    /// Runs `attempt` up to [`ATTEMPTS`] times while it fails in a way
    /// worth retrying, waiting longer each time.
    fn retrying<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut(u32) -> Result<T, Failure>,
    ) -> Result<T, UserError> {
        // The wait grows with the patience asked for, so a short timeout
        // (a test's, a local mirror's) also gives up quickly.
        let mut wait = (self.timeout / 10).min(Duration::from_secs(1));
        for n in 1..=ATTEMPTS {
            match attempt(n) {
                Ok(value) => return Ok(value),
                Err(Failure::Final(why)) => return Err(UserError::Plain(format!("{url}: {why}"))),
                Err(Failure::Retry(why)) if n == ATTEMPTS => {
                    return Err(UserError::Plain(format!(
                        "{url}: {why} ({ATTEMPTS} attempts); nothing was installed"
                    )))
                }
                Err(Failure::Retry(why)) => {
                    tracing::warn!("{url}: {why}; trying again in {wait:?}");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    fn get(
        &self,
        url: &str,
        range_from: Option<u64>,
    ) -> Result<ureq::http::Response<ureq::Body>, Failure> {
        let mut request = self.agent.get(url);
        if let Some(from) = range_from {
            request = request.header("Range", format!("bytes={from}-"));
        }
        request.call().map_err(|e| self.request_failure(e))
    }

    /// One attempt at the rest of the archive: from the partial file's end
    /// when the server honours a Range, else from the start again.
    fn resume_into(&self, url: &str, sink: &mut Sink) -> Result<(), Failure> {
        let from = (sink.written > 0).then_some(sink.written);
        let response = self.get(url, from)?;
        let status = response.status().as_u16();
        let length = response.body().content_length();
        match (status, from) {
            (206, Some(offset)) => {
                let range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok());
                match range.and_then(parse_content_range) {
                    Some((start, total)) if start == offset => {
                        sink.progress.total = total.or(length.map(|l| l + offset));
                    }
                    // Another part than asked for: start over next time.
                    _ => {
                        sink.restart()?;
                        return Err(Failure::Retry(
                            "the server resumed at another byte than asked".to_string(),
                        ));
                    }
                }
            }
            (200, _) => {
                if from.is_some() {
                    tracing::info!("{url}: the server does not resume; downloading from the start");
                }
                sink.restart()?;
                sink.progress.total = length;
            }
            (416, Some(_)) => {
                sink.restart()?;
                return Err(Failure::Retry(
                    "the server refused to resume (416)".to_string(),
                ));
            }
            (status, _) => return Err(status_failure(status)),
        }
        if let Some(total) = sink.progress.total.filter(|t| *t > sink.limit) {
            return Err(Failure::Final(format!(
                "the archive is {total} bytes, more than the {} expected",
                sink.limit
            )));
        }
        let mut body = response.into_body().into_reader();
        sink.copy(&mut body, &mut |e| self.transfer_failure(e))
    }

    fn request_failure(&self, e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Timeout(_) => Failure::Retry(self.stalled()),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Failure::Retry(self.stalled())
            }
            ureq::Error::Io(e) => Failure::Retry(format!("the connection failed ({e})")),
            ureq::Error::HostNotFound => Failure::Final("its host is not found".to_string()),
            ureq::Error::BadUri(why) => Failure::Final(format!("not a usable URL: {why}")),
            ureq::Error::Tls(why) => Failure::Final(format!("a secure connection failed: {why}")),
            ureq::Error::Rustls(why) => {
                Failure::Final(format!("a secure connection failed: {why}"))
            }
            ureq::Error::TooManyRedirects => Failure::Final("too many redirects".to_string()),
            other => Failure::Retry(format!("the request failed: {other}")),
        }
    }

    /// A read of the body failed: the transfer broke or the server stalled.
    fn transfer_failure(&self, e: std::io::Error) -> Failure {
        match ureq::Error::from(e) {
            ureq::Error::Timeout(_) => Failure::Retry(self.stalled()),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Failure::Retry(self.stalled())
            }
            ureq::Error::Io(e) => Failure::Retry(format!("the transfer broke off ({e})")),
            other => Failure::Retry(format!("the transfer broke off ({other})")),
        }
    }

    fn stalled(&self) -> String {
        format!(
            "the server stalled (nothing for {} ms)",
            self.timeout.as_millis()
        )
    }
}

fn status_failure(status: u16) -> Failure {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let text = format!("the server answered {status} {reason}");
    let text = text.trim_end().to_string();
    match status {
        500..=599 | 408 | 429 => Failure::Retry(text),
        _ => Failure::Final(text),
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`): the start and the total.
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// The staging file an archive streams into, with the hash of what it
/// holds so far.
struct Sink {
    file: File,
    hash: Sha256,
    written: u64,
    limit: u64,
    progress: Progress,
}

impl Sink {
    fn create(path: &Path, from: &Location, limit: u64) -> Result<Self, UserError> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| UserError::in_file(path, format!("cannot write: {e}")))?;
        Ok(Self {
            file,
            hash: Sha256::new(),
            written: 0,
            limit,
            progress: Progress::new(
                from.label()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| from.to_string()),
            ),
        })
    }

    /// Empties the file, for a download that starts over.
    fn restart(&mut self) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure::Final(format!("cannot write the download: {e}"));
        self.file.set_len(0).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.hash = Sha256::new();
        self.written = 0;
        self.progress.done = 0;
        Ok(())
    }

    /// Appends all of `from`, hashing as it goes; `broken` says what a
    /// failed read means.
    fn copy(
        &mut self,
        from: &mut impl Read,
        broken: &mut dyn FnMut(std::io::Error) -> Failure,
    ) -> Result<(), Failure> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(broken(e)),
            };
            if self.written + n as u64 > self.limit {
                return Err(Failure::Final(format!(
                    "the archive is larger than the {} bytes expected",
                    self.limit
                )));
            }
            self.file
                .write_all(&buf[..n])
                .map_err(|e| Failure::Final(format!("cannot write the download: {e}")))?;
            self.hash.update(&buf[..n]);
            self.written += n as u64;
            self.progress.advance(self.written);
        }
    }
}

impl Failure {
    fn text(self) -> String {
        match self {
            Failure::Retry(text) | Failure::Final(text) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn locations_join_and_take_suffixes() {
        let url = Location::parse("http://127.0.0.1:8/pkgs/");
        assert_eq!(
            url.join("a.plexpkg").with_suffix(".minisig"),
            Location::Url("http://127.0.0.1:8/pkgs/a.plexpkg.minisig".to_string())
        );
        let dir = Location::parse("/srv/pkgs");
        assert_eq!(
            dir.join("a.plexpkg").with_suffix(".minisig"),
            Location::File(PathBuf::from("/srv/pkgs/a.plexpkg.minisig"))
        );
    }
}
