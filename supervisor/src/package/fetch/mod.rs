//! Installing packages from elsewhere (docs/ARCHITECTURE.md §7): from an
//! http(s) URL with the sha256 the user expects (given, or from a
//! lockfile), from an index by name, or from a local archive, each checked
//! against its signature when it has one and against the keys the user
//! trusts. What arrives is streamed into the store's staging area and
//! installed through [`Store::install`], so a refused or broken download
//! leaves the store as it was.

mod download;
mod index;
mod progress;
mod signature;
mod trust;

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use self::download::{is_url, Fetcher, Location, MAX_ARCHIVE_BYTES};
use self::index::Index;
use self::signature::{Policy, Verdict, MAX_SIGNATURE_BYTES, SIGNATURE_SUFFIX};
use super::archive::Archive;
use super::asks::show_asks;
use super::pack::pack;
use super::store::{Installed, Spec, Store};
use crate::error::UserError;
use crate::lockfile::Lockfile;
use crate::table::render;

/// `plexus pkg install`'s arguments.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// A .plexpkg file, a package directory (packed on the fly), an
    /// http(s) URL of a .plexpkg, or NAME[@VERSION] from an index.
    pub source: String,
    /// The archive's expected sha256 (64 hex digits); a URL needs it or
    /// --lock.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["lock", "index"])]
    pub sha256: Option<String>,
    /// Take the expected sha256 from this lockfile's entry for the
    /// archive's package and version.
    #[arg(long, value_name = "FILE", conflicts_with = "index")]
    pub lock: Option<PathBuf>,
    /// Install NAME[@VERSION] from this index (a directory or its http(s)
    /// URL) [default: $PLEXUS_INDEX]; the highest version when none is
    /// given, checked against the index's sha256.
    #[arg(long, value_name = "LOC")]
    pub index: Option<String>,
    /// Refuse an archive without a signature by a trusted key.
    #[arg(long)]
    pub require_signed: bool,
}

/// `plexus pkg search`'s arguments.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Text to look for in names, descriptions and processor types.
    pub text: String,
    /// The index (a directory or its http(s) URL) [default: $PLEXUS_INDEX].
    #[arg(long, value_name = "LOC")]
    pub index: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `plexus pkg trust`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// A minisign public key (its base64 line) or a minisign .pub file.
    #[arg(required_unless_present_any = ["list", "remove"], conflicts_with_all = ["list", "remove"])]
    pub key: Option<String>,
    /// List the trusted keys.
    #[arg(long, conflicts_with = "remove")]
    pub list: bool,
    /// Stop trusting the key with this id.
    #[arg(long, value_name = "ID")]
    pub remove: Option<String>,
}

/// What the user expects the archive's sha256 to be, and who said so.
enum Expected {
    Sha256 {
        hex: String,
        from: &'static str,
    },
    Lock(PathBuf, Lockfile),
    /// A local archive installed as it is.
    Nothing,
}

/// Where an archive's signature would be.
enum SignatureAt {
    /// Beside the archive, if it is signed.
    Beside(Location),
    /// Where the index says it is: it must be there.
    Listed(Location),
    /// Nowhere: the index lists none.
    None,
}

impl SignatureAt {
    fn read(&self, fetcher: &Fetcher) -> Result<Option<Vec<u8>>, UserError> {
        match self {
            SignatureAt::Beside(at) => fetcher.small(at, MAX_SIGNATURE_BYTES),
            SignatureAt::Listed(at) => fetcher
                .small(at, MAX_SIGNATURE_BYTES)?
                .map(Some)
                .ok_or_else(|| {
                    UserError::in_file(
                        &at.label(),
                        "the index lists this signature, but it is not there",
                    )
                }),
            SignatureAt::None => Ok(None),
        }
    }
}

/// An archive to install and what to check it against.
struct Wanted {
    at: Location,
    expected: Expected,
    signature: SignatureAt,
    /// The most bytes it may have.
    limit: u64,
}

/// Where an install's package comes from.
enum Source {
    /// A package directory, packed on the fly.
    Directory(PathBuf),
    Archive(Wanted),
}

/// `plexus pkg install …`.
pub fn install(store: &Store, args: InstallArgs) -> Result<Installed> {
    let fetcher = Fetcher::new()?;
    let policy = if args.require_signed {
        Policy::Required
    } else {
        Policy::IfPresent
    };
    match source(&fetcher, &args)? {
        Source::Directory(dir) => {
            if policy == Policy::Required {
                return Err(signature::unsigned(&dir).into());
            }
            let packed = pack(&dir)?;
            show_asks(&packed.manifest);
            Ok(store.install(&mut Archive::open(Cursor::new(packed.bytes), &dir)?)?)
        }
        Source::Archive(wanted) => install_archive(store, &fetcher, wanted, policy),
    }
}

fn install_archive(
    store: &Store,
    fetcher: &Fetcher,
    wanted: Wanted,
    policy: Policy,
) -> Result<Installed> {
    let label = wanted.at.label();
    // The signature first, so that an archive that must be signed and is
    // not is refused before it is downloaded.
    let signature = wanted.signature.read(fetcher)?;
    if signature.is_none() && policy == Policy::Required {
        return Err(signature::unsigned(&label).into());
    }
    // Kept until the install is done: dropping it removes the download.
    let fetched;
    let (file, sha256) = match (&wanted.at, &wanted.expected) {
        (Location::File(path), Expected::Nothing) => {
            let file = File::open(path).map_err(|e| {
                UserError::in_file(path, format!("cannot read the package archive: {e}"))
            })?;
            (file, None)
        }
        _ => {
            fetched = fetcher.archive(&wanted.at, store.root(), wanted.limit)?;
            let file = File::open(&fetched.path).map_err(|e| {
                UserError::in_file(&fetched.path, format!("cannot read the download: {e}"))
            })?;
            (file, Some(fetched.sha256.as_str()))
        }
    };
    if let (Expected::Sha256 { hex, from }, Some(got)) = (&wanted.expected, sha256) {
        if got != hex {
            return Err(mismatch(&label, got, hex, from).into());
        }
    }
    let mut archive = Archive::open(BufReader::new(file), &label)?;
    if let (Expected::Lock(path, lock), Some(got)) = (&wanted.expected, sha256) {
        let manifest = archive.manifest()?;
        let entry = lock
            .packages
            .iter()
            .find(|p| p.name == manifest.package.name && p.version == manifest.version())
            .ok_or_else(|| {
                UserError::in_file(
                    path,
                    format!(
                        "has no entry for {}, which {} holds",
                        manifest.id(),
                        wanted.at
                    ),
                )
            })?;
        if !entry.sha256.eq_ignore_ascii_case(got) {
            let from = format!("{} says for {}", path.display(), manifest.id());
            return Err(mismatch(&label, got, &entry.sha256, &from).into());
        }
    }
    let keys = match signature {
        Some(_) => trust::list()?,
        None => Vec::new(),
    };
    let sums = archive.sums_text()?;
    let verdict = signature::check(&label, &sums, signature.as_deref(), policy, &keys)?;
    // What it asks for is shown from a manifest whose archive checked out,
    // and nothing is shown for one that is refused.
    archive.verify()?;
    show_asks(&archive.manifest()?);
    let installed = store.install(&mut archive)?;
    if let Verdict::Signed(key) = verdict {
        tracing::info!("{}: signed by trusted key {key}", wanted.at);
    }
    Ok(installed)
}

fn mismatch(label: &Path, got: &str, want: &str, from: &str) -> UserError {
    UserError::in_file(
        label,
        format!("the archive's sha256 is {got}, not {want} as {from}; nothing was installed"),
    )
}

/// Tells what `args.source` names and what its archive is expected to be.
fn source(fetcher: &Fetcher, args: &InstallArgs) -> Result<Source, UserError> {
    let text = args.source.as_str();
    let expected = match (&args.sha256, &args.lock) {
        (Some(hex), _) => {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(UserError::Plain(format!(
                    "--sha256 `{}` is not 64 hex digits",
                    crate::error::excerpt(hex)
                )));
            }
            Expected::Sha256 {
                hex: hex.to_ascii_lowercase(),
                from: "--sha256 says",
            }
        }
        (None, Some(path)) => Expected::Lock(path.clone(), Lockfile::read(path)?),
        (None, None) => Expected::Nothing,
    };
    let path = Path::new(text);
    let by_name = args.index.is_some() || !(is_url(text) || path.exists());
    if by_name {
        let spec = Spec::parse(text)
            .map_err(|_| UserError::in_file(path, "there is no such file, URL or package name"))?;
        let at = index::configured(args.index.as_deref()).ok_or_else(|| {
            UserError::Plain(format!(
                "there is no file `{text}`; to install a package by name give --index LOC or set {}",
                index::INDEX_VAR
            ))
        })?;
        let index = Index::load(fetcher, &at)?;
        let entry = index
            .pick(&spec)
            .map_err(|m| UserError::in_file(&at.label(), m))?;
        return Ok(Source::Archive(Wanted {
            at: at.join(&entry.file),
            expected: Expected::Sha256 {
                hex: entry.sha256.to_ascii_lowercase(),
                from: "the index says",
            },
            signature: match &entry.signature {
                Some(name) => SignatureAt::Listed(at.join(name)),
                None => SignatureAt::None,
            },
            limit: entry.size,
        }));
    }
    if is_url(text) {
        if matches!(expected, Expected::Nothing) {
            return Err(UserError::Plain(format!(
                "{text}: an archive from a URL is checked against the sha256 you expect: give --sha256 HEX or --lock FILE"
            )));
        }
        let at = Location::Url(text.to_string());
        return Ok(Source::Archive(Wanted {
            signature: SignatureAt::Beside(at.with_suffix(SIGNATURE_SUFFIX)),
            at,
            expected,
            limit: MAX_ARCHIVE_BYTES,
        }));
    }
    if path.is_dir() {
        if !matches!(expected, Expected::Nothing) {
            return Err(UserError::in_file(
                path,
                "--sha256 and --lock check archives; this is a package directory",
            ));
        }
        return Ok(Source::Directory(path.to_path_buf()));
    }
    let at = Location::File(path.to_path_buf());
    Ok(Source::Archive(Wanted {
        signature: SignatureAt::Beside(at.with_suffix(SIGNATURE_SUFFIX)),
        at,
        expected,
        limit: MAX_ARCHIVE_BYTES,
    }))
}

/// `plexus pkg index DIR`.
pub fn index_command(dir: &Path) -> Result<()> {
    let (path, count) = index::write(dir)?;
    println!("indexed {count} packages in {}", path.display());
    Ok(())
}

/// `plexus pkg search TEXT`.
pub fn search(args: SearchArgs) -> Result<()> {
    let at = index::configured(args.index.as_deref()).ok_or_else(|| {
        UserError::Plain(format!(
            "no index to search: give --index LOC or set {}",
            index::INDEX_VAR
        ))
    })?;
    let index = Index::load(&Fetcher::new()?, &at)?;
    let found = index.search(&args.text);
    if args.json {
        println!("{}", json!({ "index": at.to_string(), "packages": found }));
    } else if found.is_empty() {
        println!("no package in {at} mentions `{}`", args.text);
    } else {
        let mut rows = vec![["NAME", "VERSION", "PROCESSORS", "DESCRIPTION"]
            .iter()
            .map(|s| s.to_string())
            .collect()];
        for e in found {
            let types: Vec<&str> = e.processors.iter().map(|p| p.name.as_str()).collect();
            rows.push(vec![
                e.name.clone(),
                e.version.clone(),
                types.join(", "),
                e.description.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", render(&rows));
    }
    Ok(())
}

/// `plexus pkg trust KEY | --list | --remove ID`.
pub fn trust(args: TrustArgs) -> Result<()> {
    if let Some(id) = &args.remove {
        let key = trust::remove(id)?;
        println!("no longer trusting key {} ({})", key.id, key.comment);
    } else if let Some(key) = &args.key {
        let (key, already) = trust::add(key)?;
        let now = if already {
            "already trusted"
        } else {
            "trusted"
        };
        println!("{now}: key {} ({})", key.id, key.comment);
    } else {
        let keys = trust::list()?;
        if keys.is_empty() {
            println!("no trusted keys (add one with `plexus pkg trust KEY`)");
        } else {
            let mut rows = vec![vec!["ID".to_string(), "COMMENT".to_string()]];
            rows.extend(keys.iter().map(|k| vec![k.id.clone(), k.comment.clone()]));
            print!("{}", render(&rows));
        }
    }
    Ok(())
}
