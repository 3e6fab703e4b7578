//! One bounded journal file: lines are appended until it holds its cap,
//! then it becomes `<name>.1` (replacing the older one) and starts afresh,
//! so a run that logs without end keeps at most twice the cap on disk.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A journal file being written.
pub struct Rotating {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    cap: u64,
}

impl Rotating {
    pub fn create(path: PathBuf, cap: u64) -> std::io::Result<Self> {
        let file = open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
            written: 0,
            cap,
        })
    }

    /// Appends one line (a newline is added). A file that failed once is
    /// given up, so a full disk costs one warning, not one per line.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.written >= self.cap {
            std::fs::rename(&self.path, older(&self.path))?;
            self.file = Some(open(&self.path)?);
            self.written = 0;
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match file.write_all(&bytes) {
            Ok(()) => {
                self.written += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.file = None;
                Err(e)
            }
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Where a file's previous part goes when it rotates.
pub fn older(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Every whole line of a journal file, its older part first; a file that
/// does not exist has none. A line being written (no newline yet) is left
/// for the next read.
pub fn lines(path: &Path) -> std::io::Result<Vec<String>> {
    let mut all = Vec::new();
    for part in [older(path), path.to_path_buf()] {
        let file = match File::open(&part) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        read_whole_lines(BufReader::new(file), &mut all)?;
    }
    Ok(all)
}

/// Reads the lines that end in a newline; returns how many bytes they took.
pub fn read_whole_lines(mut reader: impl BufRead, into: &mut Vec<String>) -> std::io::Result<u64> {
    let mut taken = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Ok(taken);
        }
        taken += n as u64;
        buf.pop();
        into.push(String::from_utf8_lossy(&buf).into_owned());
    }
}

/// Reads a journal file as it grows, across its rotations: each call
/// gives the whole lines added since the last.
pub struct Tail {
    path: PathBuf,
    at: TailAt,
}

/// Where a [`Tail`] has read to.
enum TailAt {
    /// Nothing read yet: the older part comes first, then the file.
    Start,
    /// Up to `offset` of the file with inode `inode`.
    In { inode: u64, offset: u64 },
}

impl Tail {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            at: TailAt::Start,
        }
    }

    /// The whole lines written since the last call.
    pub fn read_new(&mut self) -> std::io::Result<Vec<String>> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt;
        let mut lines = Vec::new();
        let inode = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.ino(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(lines),
            Err(e) => return Err(e),
        };
        let older_from = match self.at {
            TailAt::Start => Some(0),
            // The file we were reading is now the older part: finish it.
            TailAt::In { inode: was, offset } if was != inode => Some(offset),
            TailAt::In { .. } => None,
        };
        let mut offset = match self.at {
            TailAt::In { inode: was, offset } if was == inode => offset,
            _ => 0,
        };
        if let Some(from) = older_from {
            if let Ok(mut file) = File::open(older(&self.path)) {
                file.seek(SeekFrom::Start(from))?;
                read_whole_lines(BufReader::new(file), &mut lines)?;
            }
        }
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        offset += read_whole_lines(BufReader::new(file), &mut lines)?;
        self.at = TailAt::In { inode, offset };
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_its_cap_rotates_and_keeps_its_older_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut file = Rotating::create(path.clone(), 10).unwrap();
        for line in ["one", "two", "three", "four", "five"] {
            file.append(line).unwrap();
        }
        // "one two three" passed 10 bytes, so "four" began a new part.
        assert_eq!(
            lines(&path).unwrap(),
            ["one", "two", "three", "four", "five"]
        );
        // "four five" reached 10 bytes in turn: it becomes the older part,
        // and "one two three" is gone.
        file.append("six").unwrap();
        assert_eq!(
            std::fs::read_to_string(older(&path)).unwrap(),
            "four\nfive\n"
        );
        assert_eq!(lines(&path).unwrap(), ["four", "five", "six"]);
    }

    #[test]
    fn a_tail_follows_the_file_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut file = Rotating::create(path.clone(), 8).unwrap();
        let mut tail = Tail::new(path);
        assert!(tail.read_new().unwrap().is_empty());
        file.append("one").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["one"]);
        // "two" fills the part; "three" rotates it away unread.
        file.append("two").unwrap();
        file.append("three").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["two", "three"]);
        assert!(tail.read_new().unwrap().is_empty());
    }

    #[test]
    fn a_line_still_being_written_is_not_read() {
        let mut into = Vec::new();
        let taken = read_whole_lines(&b"whole\nhal"[..], &mut into).unwrap();
        assert_eq!(into, ["whole"]);
        assert_eq!(taken, 6);
    }
}
