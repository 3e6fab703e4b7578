//! Hostile package archives: each is refused by `pkg install` and `pkg
//! inspect` with one sentence naming the archive and the fault, exit 2, and
//! the store and everything around it exactly as they were.

use std::io::{Cursor, Read, Write};

use integration_tests::example_package;
use integration_tests::store::{path_arg, Scratch};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const MANIFEST: &str = "package: { name: test.hostile, version: 1.0.0 }\nprocessors:\n  - { name: test.hostile, language: python, entry: m:P, mode: reactive, inputs: [{ name: in, schema: any }] }\n";

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds an archive as `plexus pack` would, or with one fault on purpose.
struct Builder {
    zip: ZipWriter<Cursor<Vec<u8>>>,
    sums: String,
}

impl Builder {
    fn new() -> Self {
        Self {
            zip: ZipWriter::new(Cursor::new(Vec::new())),
            sums: String::new(),
        }
    }

    fn options() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    /// A file SHA256SUMS does not list.
    fn unlisted(mut self, name: &str, data: &[u8]) -> Self {
        self.zip.start_file(name, Self::options()).unwrap();
        self.zip.write_all(data).unwrap();
        self
    }

    /// A file listed in SHA256SUMS with `listed`'s checksum.
    fn file_claiming(mut self, name: &str, data: &[u8], listed: &[u8]) -> Self {
        self.sums += &format!("{}  {name}\n", sha256(listed));
        self.unlisted(name, data)
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_claiming(name, data, data)
    }

    fn good() -> Self {
        Self::new()
            .file("plexus.yaml", MANIFEST.as_bytes())
            .file("m.py", b"class P:\n    pass\n")
    }

    fn symlink(mut self, name: &str, target: &str) -> Self {
        self.zip.add_symlink(name, target, Self::options()).unwrap();
        self.sums += &format!("{}  {name}\n", sha256(target.as_bytes()));
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.zip.start_file("SHA256SUMS", Self::options()).unwrap();
        self.zip.write_all(self.sums.as_bytes()).unwrap();
        self.zip.finish().unwrap().into_inner()
    }
}

/// Where entry `name`'s local header and central-directory record start.
fn headers(archive: &[u8], name: &str) -> (usize, usize) {
    // (signature, offset of the name length, offset of the name)
    let find = |signature: u32, name_len_at: usize, name_at: usize| {
        let found: Vec<usize> = (0..archive.len().saturating_sub(name_at))
            .filter(|&at| {
                let len =
                    u16::from_le_bytes([archive[at + name_len_at], archive[at + name_len_at + 1]])
                        as usize;
                archive[at..at + 4] == signature.to_le_bytes()
                    && archive.get(at + name_at..at + name_at + len) == Some(name.as_bytes())
            })
            .collect();
        assert_eq!(found.len(), 1, "one header of `{name}` with {signature:#x}");
        found[0]
    };
    (find(0x04034b50, 26, 30), find(0x02014b50, 28, 46))
}

/// Rewrites the uncompressed size both headers of entry `name` declare, as
/// a zip bomb lies about it.
fn declare_size(archive: &mut [u8], name: &str, size: u32) {
    let (local, central) = headers(archive, name);
    archive[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    archive[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

/// Renames entry `from` to `to` (of the same length) in both its headers,
/// which gives an archive the zip writer would refuse to write.
fn rename_entry(archive: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let (local, central) = headers(archive, from);
    archive[local + 30..local + 30 + to.len()].copy_from_slice(to.as_bytes());
    archive[central + 46..central + 46 + to.len()].copy_from_slice(to.as_bytes());
}

/// Points the central-directory record of entry `name` at the local entry
/// of `target`, so that two records share one entry's bytes.
fn point_at(archive: &mut [u8], name: &str, target: &str) {
    let (target_local, _) = headers(archive, target);
    let (_, central) = headers(archive, name);
    archive[central + 42..central + 46].copy_from_slice(&(target_local as u32).to_le_bytes());
}

/// Installs (and inspects) `archive`, which must be refused with one
/// sentence naming it and every `needle`, with nothing changed around.
fn refused(archive: &[u8], needles: &[&str]) {
    let s = Scratch::new();
    // Something installed, so "unchanged" covers a store that is not empty.
    s.ok(&["pkg", "install", path_arg(&example_package("overlay-deno"))]);
    std::fs::write(s.path().join("hostile.plexpkg"), archive).unwrap();
    let before = s.snapshot();
    for command in ["install", "inspect"] {
        let run = s.plexus(&["pkg", command, "hostile.plexpkg"]);
        let line = run.refusal();
        assert!(line.contains("hostile.plexpkg"), "{command}: {line}");
        for needle in needles {
            assert!(
                line.contains(needle),
                "{command}: `{needle}` missing from: {line}"
            );
        }
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        // Named as the archive names it, never by where it was being unpacked.
        assert!(!line.contains(".staging-"), "{command}: {line}");
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(
            s.snapshot(),
            before,
            "{command} changed the files around it"
        );
    }
}

#[test]
fn hostile_entries_with_dotdot_paths() {
    refused(
        &Builder::good().file("../../../escaped.py", b"x").finish(),
        &["entry `../../../escaped.py`", "unsafe path"],
    );
    refused(
        &Builder::good().file("lib/../../escaped.py", b"x").finish(),
        &["entry `lib/../../escaped.py`", "unsafe path"],
    );
}

#[test]
fn hostile_entries_with_absolute_paths() {
    let target = std::env::temp_dir().join("plexus-hostile-absolute.py");
    refused(
        &Builder::good().file(path_arg(&target), b"x").finish(),
        &["unsafe path"],
    );
    assert!(!target.exists());
}

#[test]
fn hostile_symlink_pointing_outside() {
    refused(
        &Builder::good()
            .symlink("m2.py", "../../../../etc/passwd")
            .finish(),
        &["entry `m2.py`", "symbolic link"],
    );
}

#[test]
fn hostile_file_whose_checksum_does_not_match() {
    refused(
        &Builder::good()
            .file_claiming(
                "evil.py",
                b"import os; os.system('rm -rf ~')",
                b"print('hello')",
            )
            .finish(),
        &[
            "entry `evil.py`",
            "does not match its checksum in SHA256SUMS",
        ],
    );
    // A file the list does not vouch for at all.
    refused(
        &Builder::good().unlisted("extra.py", b"x").finish(),
        &["entry `extra.py` has no checksum"],
    );
}

#[test]
fn hostile_missing_or_malformed_manifest() {
    refused(
        &Builder::new().file("m.py", b"x").finish(),
        &["has no `plexus.yaml`"],
    );
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                b"package: { name: test.x, version: 1.0.0\nprocessors: [",
            )
            .finish(),
        &["plexus.yaml", "line "],
    );
    refused(&Builder::new().finish(), &["has no `plexus.yaml`"]);
}

#[test]
fn hostile_zip_bomb_declaring_too_much() {
    let mut archive = Builder::good().file("big.bin", &[0u8; 1000]).finish();
    declare_size(&mut archive, "big.bin", 300 << 20);
    refused(
        &archive,
        &["entry `big.bin`", "declares 314572800 bytes, more than"],
    );

    let mut builder = Builder::good();
    for i in 0..5 {
        builder = builder.file(&format!("part{i}.bin"), &[0u8; 1000]);
    }
    let mut archive = builder.finish();
    for i in 0..5 {
        declare_size(&mut archive, &format!("part{i}.bin"), 250 << 20);
    }
    refused(
        &archive,
        &["more than the 1073741824 bytes a package may hold in all"],
    );
}

#[test]
fn hostile_zip_bomb_holding_more_than_it_declares() {
    // 64 MiB of zeros deflate to a few dozen KiB; the headers claim 1000 bytes.
    let zeros = vec![0u8; 64 << 20];
    let mut archive = Builder::good()
        .file_claiming("bomb.bin", &zeros, &zeros[..1000])
        .finish();
    declare_size(&mut archive, "bomb.bin", 1000);
    assert!(
        archive.len() < 1 << 20,
        "the bomb is small: {} bytes",
        archive.len()
    );
    refused(
        &archive,
        &[
            "entry `bomb.bin`",
            "holds more than the 1000 bytes its header declares",
        ],
    );
}

#[test]
fn hostile_truncated_archive() {
    let s = Scratch::new();
    s.ok(&[
        "pack",
        path_arg(&example_package("effects-python")),
        "-o",
        "whole.plexpkg",
    ]);
    let whole = std::fs::read(s.path().join("whole.plexpkg")).unwrap();
    for keep in [whole.len() / 2, whole.len() - 10] {
        refused(&whole[..keep], &["not a readable package archive"]);
    }
    // Cut inside an entry's data, with the directory intact: the bytes of
    // the entry no longer inflate to what was packed.
    let mut corrupt = whole.clone();
    let mut zip = ZipArchive::new(Cursor::new(&whole)).unwrap();
    let start = zip.by_name("effects.py").unwrap().data_start();
    let start = start.expect("opening an entry locates its data") as usize;
    corrupt[start..start + 8].fill(0xff);
    let mut probe = Vec::new();
    let inflates = ZipArchive::new(Cursor::new(&corrupt))
        .unwrap()
        .by_name("effects.py")
        .unwrap()
        .read_to_end(&mut probe)
        .is_ok();
    assert!(!inflates, "the damage is real");
    refused(&corrupt, &["entry `effects.py`"]);
}

#[test]
fn hostile_manifest_declaring_an_unknown_runtime_or_schema() {
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                MANIFEST
                    .replace("language: python", "language: cobol")
                    .as_bytes(),
            )
            .file("m.py", b"x")
            .finish(),
        &["plexus.yaml", "unknown language `cobol`"],
    );
    refused(
        &Builder::new()
            .file(
                "plexus.yaml",
                MANIFEST
                    .replace("schema: any", "schema: video/rgb565")
                    .as_bytes(),
            )
            .file("m.py", b"x")
            .finish(),
        &[
            "plexus.yaml",
            "input `in` has unknown schema `video/rgb565`",
        ],
    );
}

#[test]
fn hostile_entries_sharing_one_name() {
    // The zip reader keeps the last of two same-named entries, so `unzip -l`
    // would show a reviewer the harmless first while the second is installed.
    let evil = b"import os; os.system('rm -rf ~')";
    let mut builder = Builder::new()
        .file("plexus.yaml", MANIFEST.as_bytes())
        .unlisted("m.py", b"class P:\n    pass\n")
        .unlisted("m.pz", evil);
    // The list vouches for what would be installed.
    builder.sums += &format!("{}  m.py\n", sha256(evil));
    let mut archive = builder.finish();
    rename_entry(&mut archive, "m.pz", "m.py");
    refused(&archive, &["entry `m.py`", "appears twice"]);

    // Two checksum lists: which one vouches for the files?
    let mut archive = Builder::good()
        .unlisted("SHA256SUMX", b"not the list that is checked\n")
        .finish();
    rename_entry(&mut archive, "SHA256SUMX", "SHA256SUMS");
    refused(&archive, &["entry `SHA256SUMS`", "appears twice"]);
}

#[test]
fn hostile_entries_sharing_one_local_entry() {
    // Two directory records, one entry's bytes: the overlapping-entry bomb
    // in its simplest form, each record within the size limits.
    let data = b"class Q:\n    pass\n";
    let mut archive = Builder::good()
        .file("a.py", data)
        .file("b.py", data)
        .finish();
    point_at(&mut archive, "b.py", "a.py");
    refused(&archive, &["entries `a.py` and `b.py`", "overlap"]);
}

#[test]
fn hostile_file_nested_under_a_file() {
    for (first, second) in [("lib", "lib/x.py"), ("lib/x.py", "lib")] {
        refused(
            &Builder::good()
                .file(first, b"x")
                .file(second, b"y")
                .finish(),
            &["entry `lib/x.py`", "under `lib`, which is a file"],
        );
    }
}
