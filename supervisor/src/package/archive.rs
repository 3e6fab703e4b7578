//! Reading a `.plexpkg` archive as if it were hostile: every entry's name,
//! kind, size and place is checked before a byte is extracted, every byte is
//! counted and hashed while it is, and nothing is trusted that the archive's
//! `SHA256SUMS` does not vouch for.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::digest::hex;
use zip::ZipArchive;

use crate::error::{excerpt, UserError};
use crate::package::manifest::panels::MAX_MODULE_BYTES;
use crate::package::manifest::{self, Manifest, MANIFEST_FILE};

/// The entry listing every other entry's sha256, as `sha256sum` prints it.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The largest file a package may hold (uncompressed).
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;
/// The largest a package may be in all (uncompressed).
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
pub const MAX_ENTRIES: usize = 10_000;
/// The manifest and the checksum list are read into memory.
const MAX_TEXT_BYTES: u64 = 1 << 20;
/// The read error zip gives, before our own count sees the excess bytes,
/// for an entry that inflates past its declared size; told apart from
/// other corruption so the refusal names what is wrong.
const ZIP_OVERSIZED: &str = "File is larger than its declared uncompressed size";

/// One regular file of an archive, as its central directory declares it.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    index: usize,
}

pub struct Archive<R> {
    zip: ZipArchive<R>,
    label: PathBuf,
    files: Vec<FileEntry>,
    dirs: Vec<String>,
    sums: BTreeMap<String, String>,
    /// The SHA-256 of the whole archive file, in hex.
    sha256: String,
}

impl<R: Read + Seek> Archive<R> {
    /// Opens an archive and checks its directory and checksum list; `label`
    /// names it in messages.
    pub fn open(mut reader: R, label: &Path) -> Result<Self, UserError> {
        let err = |m: String| UserError::in_file(label, m);
        let sha256 = sha256_of(&mut reader).map_err(|e| err(format!("cannot read: {e}")))?;
        let records = central_directory(&mut reader).map_err(|m| {
            err(format!(
                "not a readable package archive (a .plexpkg zip): {m}"
            ))
        })?;
        let zip = ZipArchive::new(reader).map_err(|e| {
            err(format!(
                "not a readable package archive (a .plexpkg zip), it may be truncated: {e}"
            ))
        })?;
        let mut archive = Self {
            zip,
            label: label.to_path_buf(),
            files: Vec::new(),
            dirs: Vec::new(),
            sums: BTreeMap::new(),
            sha256,
        };
        archive.read_directory(&records)?;
        let sums = archive.read_small(SUMS_FILE)?;
        archive.sums = parse_sums(&sums).map_err(|m| err(format!("{SUMS_FILE}: {m}")))?;
        if let Some(missing) = archive.sums.keys().find(|n| archive.entry(n).is_none()) {
            return Err(err(format!(
                "{SUMS_FILE} lists `{missing}`, which the archive does not hold"
            )));
        }
        if let Some(unlisted) = archive
            .files
            .iter()
            .find(|f| f.name != SUMS_FILE && !archive.sums.contains_key(&f.name))
        {
            return Err(err(format!(
                "entry `{}` has no checksum in {SUMS_FILE}",
                unlisted.name
            )));
        }
        Ok(archive)
    }

    /// Checks every entry's name, kind, declared size and place, against
    /// `records`, the archive's directory as [`central_directory`] reads it.
    fn read_directory(&mut self, records: &[Record]) -> Result<(), UserError> {
        let label = self.label.clone();
        let err = |m: String| UserError::in_file(&label, m);
        if records.len() > MAX_ENTRIES {
            return Err(err(format!(
                "the archive has {} entries, more than the {MAX_ENTRIES} a package may hold",
                records.len()
            )));
        }
        // The zip reader keeps only the last of two entries with one name,
        // so a listing would show what is not installed: refused here,
        // where every record is still seen.
        let mut seen = BTreeSet::new();
        for record in records {
            let name = String::from_utf8_lossy(&record.name);
            if !seen.insert(name.trim_end_matches('/').to_string()) {
                return Err(err(format!(
                    "entry `{name}` appears twice in the archive's directory, and only one of the two would be installed"
                )));
            }
        }
        let mut total = 0u64;
        // Where each entry's header and data lie in the archive.
        let mut spans = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let entry = self
                .zip
                .by_index_raw(index)
                .map_err(|e| err(format!("entry {index} is unreadable: {e}")))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let at = |m: &str| err(format!("entry `{name}` {m}"));
            if entry.name_raw() != record.name || entry.header_start() != record.header {
                return Err(at(
                    "is not where the archive's directory puts it; the archive reads two ways",
                ));
            }
            if !safe_name(&name) {
                return Err(at(
                    "has an unsafe path (absolute, `..`, `.` or empty parts); every path must stay inside the package",
                ));
            }
            if entry.encrypted() {
                return Err(at("is encrypted"));
            }
            let kind = entry.unix_mode().map(|m| m & 0o170000).unwrap_or(0);
            if kind == 0o120000 {
                return Err(at(
                    "is a symbolic link; a package archive holds only regular files and directories",
                ));
            }
            let is_dir = entry.is_dir();
            if !matches!(kind, 0 | 0o100000 | 0o040000) || (kind == 0o040000) != is_dir {
                return Err(at("is neither a regular file nor a directory"));
            }
            let data_start = entry.data_start().unwrap_or(record.header);
            let end = data_start.saturating_add(entry.compressed_size());
            spans.push((record.header, end, name.clone()));
            if is_dir {
                self.dirs.push(name.trim_end_matches('/').to_string());
                continue;
            }
            let size = entry.size();
            if size > MAX_ENTRY_BYTES {
                return Err(at(&format!(
                    "declares {size} bytes, more than the {MAX_ENTRY_BYTES} a package file may have"
                )));
            }
            total = total.saturating_add(size);
            if total > MAX_TOTAL_BYTES {
                return Err(err(format!(
                    "the archive declares more than the {MAX_TOTAL_BYTES} bytes a package may hold in all"
                )));
            }
            self.files.push(FileEntry { name, size, index });
        }
        // Entries that share bytes inflate one payload many times over
        // while each stays within the size limits.
        spans.sort();
        if let Some(pair) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
            let mut names = [&pair[0].2, &pair[1].2];
            names.sort();
            return Err(err(format!(
                "entries `{}` and `{}` overlap: their bytes in the archive are shared, as in a zip bomb",
                names[0], names[1]
            )));
        }
        self.check_nesting()
    }

    /// Refuses an entry inside what another entry makes a file, which no
    /// directory could hold.
    fn check_nesting(&self) -> Result<(), UserError> {
        let files: BTreeSet<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
        let entries = self.files.iter().map(|f| &f.name).chain(&self.dirs);
        for name in entries {
            let parent = name
                .match_indices('/')
                .map(|(at, _)| &name[..at])
                .find(|parent| files.contains(parent));
            if let Some(parent) = parent {
                return Err(UserError::in_file(
                    &self.label,
                    format!("entry `{name}` is under `{parent}`, which is a file"),
                ));
            }
        }
        Ok(())
    }

    fn entry(&self, name: &str) -> Option<FileEntry> {
        self.files.iter().find(|f| f.name == name).cloned()
    }

    /// The SHA-256 of the whole archive, in hex: what a lockfile pins.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The regular files, the checksum list among them.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// An entry the archive must hold, read whole into memory.
    fn read_small(&mut self, name: &str) -> Result<Vec<u8>, UserError> {
        let entry = self.entry(name).ok_or_else(|| {
            UserError::in_file(&self.label, format!("the archive has no `{name}`"))
        })?;
        if entry.size > MAX_TEXT_BYTES {
            return Err(UserError::in_file(
                &self.label,
                format!(
                    "`{name}` is {} bytes, too large to be what it claims",
                    entry.size
                ),
            ));
        }
        let mut bytes = Vec::new();
        self.copy(&entry, &mut bytes)?;
        Ok(bytes)
    }

    /// The checksum list as the archive holds it: what a package's
    /// signature signs.
    pub fn sums_text(&mut self) -> Result<Vec<u8>, UserError> {
        self.read_small(SUMS_FILE)
    }

    /// The package's manifest, verified against its checksum and checked.
    pub fn manifest(&mut self) -> Result<Manifest, UserError> {
        let bytes = self.read_small(MANIFEST_FILE)?;
        let path = PathBuf::from(format!("{}:{MANIFEST_FILE}", self.label.display()));
        let text = String::from_utf8(bytes)
            .map_err(|_| UserError::in_file(&path, "the manifest is not UTF-8 text"))?;
        let manifest = manifest::parse(&path, &text)?;
        self.check_panels(&manifest, &path)?;
        Ok(manifest)
    }

    /// Each panel module the manifest names is a file of the archive, no
    /// larger than a module may be, matching its checksum and UTF-8 text:
    /// what a package directory's modules are checked for when it loads.
    fn check_panels(&mut self, manifest: &Manifest, path: &Path) -> Result<(), UserError> {
        for (index, panel) in manifest.panels.iter().enumerate() {
            let at = |m: String| {
                UserError::in_file(
                    path,
                    format!("panels[{index}].module `{}` {m}", excerpt(&panel.module)),
                )
            };
            let entry = self
                .entry(&panel.module)
                .ok_or_else(|| at("is not in the archive".to_string()))?;
            if entry.size > MAX_MODULE_BYTES {
                return Err(at(format!(
                    "has {} bytes, more than the {MAX_MODULE_BYTES} a panel module may have",
                    entry.size
                )));
            }
            let mut bytes = Vec::new();
            self.copy(&entry, &mut bytes)?;
            if std::str::from_utf8(&bytes).is_err() {
                return Err(at("is not UTF-8 text".to_string()));
            }
        }
        Ok(())
    }

    /// Reads every file and checks it against its checksum, writing nothing.
    pub fn verify(&mut self) -> Result<(), UserError> {
        for entry in self.files.clone() {
            self.copy(&entry, &mut io::sink())?;
        }
        Ok(())
    }

    /// Extracts every entry into `dest`, an empty directory, verifying each
    /// file as it is written.
    pub fn extract(&mut self, dest: &Path) -> Result<(), UserError> {
        // Named as the archive names it: `dest` is a staging directory
        // the user never sees.
        let label = self.label.clone();
        let io_err = |name: &str, e: io::Error| {
            UserError::in_file(&label, format!("entry `{name}` cannot be written: {e}"))
        };
        for dir in &self.dirs {
            std::fs::create_dir_all(dest.join(dir)).map_err(|e| io_err(dir, e))?;
        }
        for entry in self.files.clone() {
            let path = dest.join(&entry.name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_err(&entry.name, e))?;
            }
            // create_new: never through something already there.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
                .map_err(|e| io_err(&entry.name, e))?;
            self.copy(&entry, &mut file)?;
            file.sync_all().map_err(|e| io_err(&entry.name, e))?;
        }
        Ok(())
    }

    /// Decompresses one file into `out`, refusing more bytes than declared
    /// and a checksum other than the listed one (the list itself excepted).
    fn copy(&mut self, entry: &FileEntry, out: &mut impl Write) -> Result<(), UserError> {
        let label = self.label.clone();
        let at = |m: String| UserError::in_file(&label, format!("entry `{}` {m}", entry.name));
        let mut file = self
            .zip
            .by_index(entry.index)
            .map_err(|e| at(format!("cannot be read: {e}")))?;
        let more_than_declared = || {
            at(format!(
                "holds more than the {} bytes its header declares",
                entry.size
            ))
        };
        let mut limited = (&mut file).take(entry.size + 1);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut count = 0u64;
        loop {
            let n = limited.read(&mut buf).map_err(|e| {
                if e.to_string() == ZIP_OVERSIZED {
                    more_than_declared()
                } else {
                    at(format!("is corrupt: {e}"))
                }
            })?;
            if n == 0 {
                break;
            }
            count += n as u64;
            if count > entry.size {
                return Err(more_than_declared());
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| at(format!("cannot be written out: {e}")))?;
        }
        if count != entry.size {
            return Err(at(format!(
                "holds {count} bytes, not the {} its header declares",
                entry.size
            )));
        }
        if entry.name != SUMS_FILE && self.sums.get(&entry.name) != Some(&hex(&hash.finalize())) {
            return Err(at(format!("does not match its checksum in {SUMS_FILE}")));
        }
        Ok(())
    }
}

/// One record of an archive's central directory: the entry's raw name and
/// where its local header starts.
struct Record {
    name: Vec<u8>,
    header: u64,
}

const END_SIGNATURE: u32 = 0x0605_4b50;
const END_BYTES: usize = 22;
const RECORD_SIGNATURE: u32 = 0x0201_4b50;
const RECORD_BYTES: usize = 46;

/// Every record of the central directory in order, read here rather than
/// through the zip reader, which keys entries by name and so keeps one of
/// two that share it. The error says what is wrong with the directory.
fn central_directory(reader: &mut (impl Read + Seek)) -> Result<Vec<Record>, String> {
    let io = |e: io::Error| format!("{e}, it may be truncated");
    let len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    // The end record is last, after a comment of at most 64 KiB.
    let tail_len = len.min((END_BYTES + usize::from(u16::MAX)) as u64);
    let mut tail = vec![0u8; tail_len as usize];
    reader.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    reader.read_exact(&mut tail).map_err(io)?;
    let end = (0..=tail.len().saturating_sub(END_BYTES))
        .rev()
        .find(|&at| {
            u32_at(&tail, at) == END_SIGNATURE
                && at + END_BYTES + usize::from(u16_at(&tail, at + 20)) == tail.len()
        })
        .map(|at| &tail[at..])
        .ok_or("it has no end-of-directory record, it may be truncated")?;
    let count = u16_at(end, 10);
    let (size, start) = (u32_at(end, 12), u32_at(end, 16));
    if u16_at(end, 4) != 0 || u16_at(end, 6) != 0 || u16_at(end, 8) != count {
        return Err("it claims to span several disks".to_string());
    }
    // A package is far below the limits that need ZIP64.
    if count == u16::MAX || size == u32::MAX || start == u32::MAX {
        return Err("it uses ZIP64, which no package needs".to_string());
    }
    let directory_end = u64::from(start) + u64::from(size);
    if directory_end > len - end.len() as u64 {
        return Err("its directory runs past its end, it may be truncated".to_string());
    }
    reader.seek(SeekFrom::Start(u64::from(start))).map_err(io)?;
    let mut directory = reader.take(u64::from(size));
    let mut records = Vec::with_capacity(usize::from(count));
    let mut fixed = [0u8; RECORD_BYTES];
    for index in 0..count {
        let short = || format!("its directory ends inside record {index}");
        directory.read_exact(&mut fixed).map_err(|_| short())?;
        if u32_at(&fixed, 0) != RECORD_SIGNATURE {
            return Err(format!("record {index} of its directory is not one"));
        }
        let mut name = vec![0u8; usize::from(u16_at(&fixed, 28))];
        directory.read_exact(&mut name).map_err(|_| short())?;
        let rest = u64::from(u16_at(&fixed, 30)) + u64::from(u16_at(&fixed, 32));
        if io::copy(&mut (&mut directory).take(rest), &mut io::sink()).map_err(io)? != rest {
            return Err(short());
        }
        records.push(Record {
            name,
            header: u64::from(u32_at(&fixed, 42)),
        });
    }
    Ok(records)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A path inside the package: relative, `/`-separated, no empty, `.` or
/// `..` parts, no backslashes or NULs.
fn safe_name(name: &str) -> bool {
    let path = name.strip_suffix('/').unwrap_or(name);
    !path.is_empty()
        && path.len() <= 1024
        && path.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && !part.contains(['\\', '\0'])
        })
}

/// The SHA-256 of everything `reader` holds, read from its start; it is
/// left at its start.
fn sha256_of(reader: &mut (impl Read + Seek)) -> io::Result<String> {
    reader.seek(SeekFrom::Start(0))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    reader.seek(SeekFrom::Start(0))?;
    Ok(hex(&hash.finalize()))
}

/// `SHA256SUMS` text for `files` (name, sha256), sorted by name.
pub fn format_sums<'a>(files: impl Iterator<Item = (&'a str, String)>) -> String {
    let mut lines: Vec<String> = files
        .map(|(name, sum)| format!("{sum}  {name}\n"))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    lines.concat()
}

pub fn parse_sums(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let (sum, name) = line
            .split_once("  ")
            .filter(|(sum, _)| sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("line {} is not `<sha256>  <path>`", n + 1))?;
        if sums
            .insert(name.to_string(), sum.to_ascii_lowercase())
            .is_some()
        {
            return Err(format!("`{name}` is listed twice"));
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_caught() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\..\\b",
            "a/./b",
        ] {
            assert!(!safe_name(bad), "{bad:?}");
        }
        for good in ["plexus.yaml", "lib/libx.so", "pkg/mod/", "a..b"] {
            assert!(safe_name(good), "{good:?}");
        }
    }

    #[test]
    fn sums_round_trip() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = format_sums([("z.py", a.clone()), ("plexus.yaml", b.clone())].into_iter());
        assert_eq!(text, format!("{b}  plexus.yaml\n{a}  z.py\n"));
        let sums = parse_sums(text.as_bytes()).unwrap();
        assert_eq!(sums["z.py"], a);
        assert!(parse_sums(b"abc  x\n").unwrap_err().contains("line 1"));
    }
}
