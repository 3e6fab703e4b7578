//! Installing from elsewhere, end to end, against a real HTTP server on
//! 127.0.0.1: with the right sha256 an archive installs; a wrong one, a
//! download that breaks off every time, a server that stalls and a bad
//! signature are each refused in one sentence with the store left byte for
//! byte as it was; a download that breaks off once is resumed with a
//! Range; indexes (a directory and over HTTP) are written, searched and
//! installed from by name; signatures are checked against trusted keys,
//! made by the test itself.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration_tests::assert_matches_schema;
use integration_tests::file_server::{FileServer, Mode};
use integration_tests::store::{path_arg, Scratch};
use integration_tests::{example_package, PlexusRun};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long the server may stay silent in these tests (ms): short, so a
/// stalled download gives up in well under the 3 s this test allows it.
const TIMEOUT_MS: &str = "300";

/// Runs `plexus args` in the scratch directory with its private store,
/// the short timeout and `env`.
fn plexus(s: &Scratch, args: &[&str], env: &[(&str, &Path)]) -> PlexusRun {
    let data = s.data();
    let mut all: Vec<(&str, &Path)> = vec![
        ("PLEXUS_DATA_DIR", &data),
        ("PLEXUS_FETCH_TIMEOUT_MS", Path::new(TIMEOUT_MS)),
    ];
    all.extend_from_slice(env);
    integration_tests::spawn_plexus_with(args, s.path(), &all).finish()
}

fn ok(s: &Scratch, args: &[&str], env: &[(&str, &Path)]) -> String {
    let run = plexus(s, args, env);
    assert_eq!(run.code, Some(0), "plexus {args:?} failed:\n{}", run.stderr);
    run.stdout
}

/// The one-sentence refusal of `plexus args`, which must change nothing
/// under the scratch directory (the store included).
fn refused(s: &Scratch, args: &[&str], env: &[(&str, &Path)]) -> String {
    let before = s.snapshot();
    let run = plexus(s, args, env);
    let line = run.refusal().to_string();
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("plexus: error:"))
            .count(),
        1,
        "{}",
        run.stderr
    );
    let after = s.snapshot();
    let changed: Vec<_> = before
        .iter()
        .filter(|(path, content)| after.get(*path) != Some(content))
        .chain(after.iter().filter(|(path, _)| !before.contains_key(*path)))
        .map(|(path, _)| path)
        .collect();
    assert!(
        changed.is_empty(),
        "plexus {args:?} changed {changed:?}:\n{}",
        run.stderr
    );
    line
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `example.effects` packed at `version` into `dir`; the archive's path.
fn packed(s: &Scratch, version: &str, dir: &Path) -> PathBuf {
    let pkg = s.path().join(format!("effects-{version}"));
    let from = example_package("effects-python");
    std::fs::create_dir_all(pkg.join("ui")).unwrap();
    for name in [
        "effects.py",
        "requirements.txt",
        "README.md",
        "ui/histogram.js",
    ] {
        std::fs::copy(from.join(name), pkg.join(name)).unwrap();
    }
    let manifest = std::fs::read_to_string(from.join("plexus.yaml")).unwrap();
    std::fs::write(
        pkg.join("plexus.yaml"),
        manifest.replace("version: 0.1.0", &format!("version: {version}")),
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join(format!("example.effects-{version}.plexpkg"));
    ok(s, &["pack", path_arg(&pkg), "-o", path_arg(&out)], &[]);
    out
}

/// The versions of `example.effects` in the store.
fn installed(s: &Scratch) -> Vec<String> {
    let list: Value = serde_json::from_str(&ok(s, &["pkg", "list", "--json"], &[])).unwrap();
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "example.effects")
        .map(|p| p["version"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_url_installs_only_with_the_right_hash_and_failures_leave_the_store_as_it_was() {
    let s = Scratch::new();
    let archives = s.path().join("archives");
    let one = std::fs::read(packed(&s, "0.1.0", &archives)).unwrap();
    let two = std::fs::read(packed(&s, "0.2.0", &archives)).unwrap();
    let server = FileServer::start();
    server.put("/one.plexpkg", one.clone(), Mode::Normal);

    let url = server.url("/one.plexpkg");
    let line = refused(&s, &["pkg", "install", &url], &[]);
    assert!(line.contains("give --sha256 HEX or --lock FILE"), "{line}");

    ok(
        &s,
        &["pkg", "install", &url, "--sha256", &sha256(&one)],
        &[],
    );
    assert_eq!(installed(&s), ["0.1.0"]);

    // From here on the store holds a package; each failure must leave it so.
    let good = sha256(&two);
    let wrong = sha256(b"something else");
    server.put("/two.plexpkg", two.clone(), Mode::Normal);
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/two.plexpkg"),
            "--sha256",
            &wrong,
        ],
        &[],
    );
    assert!(
        line.contains(&format!("sha256 is {good}, not {wrong} as --sha256 says")),
        "{line}"
    );

    server.put("/other.plexpkg", one.clone(), Mode::Normal);
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/other.plexpkg"),
            "--sha256",
            &good,
        ],
        &[],
    );
    assert!(line.contains("sha256 is"), "wrong content: {line}");

    server.put("/short.plexpkg", two.clone(), Mode::Truncated);
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/short.plexpkg"),
            "--sha256",
            &good,
        ],
        &[],
    );
    assert!(
        line.contains("broke off") && line.contains("(3 attempts)"),
        "truncated: {line}"
    );

    server.put("/stall.plexpkg", two.clone(), Mode::Stall);
    let started = Instant::now();
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/stall.plexpkg"),
            "--sha256",
            &good,
        ],
        &[],
    );
    assert!(
        line.contains("the server stalled (nothing for 300 ms)"),
        "{line}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a stalled download took {:?} to give up",
        started.elapsed()
    );

    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/missing.plexpkg"),
            "--sha256",
            &good,
        ],
        &[],
    );
    assert!(line.contains("the server answered 404 Not Found"), "{line}");
    assert_eq!(installed(&s), ["0.1.0"]);
}

#[test]
fn a_download_broken_off_once_is_resumed_from_where_it_ended() {
    let s = Scratch::new();
    let bytes = std::fs::read(packed(&s, "0.1.0", &s.path().join("archives"))).unwrap();
    let server = FileServer::start();
    server.put("/x.plexpkg", bytes.clone(), Mode::TruncatedOnce);
    ok(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/x.plexpkg"),
            "--sha256",
            &sha256(&bytes),
        ],
        &[],
    );
    assert_eq!(installed(&s), ["0.1.0"]);
    let ranges: Vec<Option<String>> = server
        .log()
        .into_iter()
        .filter(|r| r.path == "/x.plexpkg")
        .map(|r| r.range)
        .collect();
    // The first attempt got half; the second asked for the rest only.
    assert_eq!(
        ranges,
        [None, Some(format!("bytes={}-", bytes.len() / 2))],
        "{:?}",
        server.log()
    );
}

#[test]
fn a_lockfile_gives_the_hash_of_the_archive_it_names() {
    let s = Scratch::new();
    let bytes = std::fs::read(packed(&s, "0.1.0", &s.path().join("archives"))).unwrap();
    let server = FileServer::start();
    server.put("/x.plexpkg", bytes.clone(), Mode::Normal);
    let lock = |sha: &str| {
        let path = s.path().join("plexus.lock");
        std::fs::write(
            &path,
            format!("lock_version: 1\nplexus: 0.1.0\npackages:\n  - {{ name: example.effects, version: 0.1.0, sha256: {sha}, source: store }}\n"),
        )
        .unwrap();
        path
    };
    let path = lock(&sha256(b"not it"));
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/x.plexpkg"),
            "--lock",
            path_arg(&path),
        ],
        &[],
    );
    assert!(
        line.contains("plexus.lock says for example.effects@0.1.0"),
        "{line}"
    );
    let path = lock(&sha256(&bytes));
    ok(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/x.plexpkg"),
            "--lock",
            path_arg(&path),
        ],
        &[],
    );
    assert_eq!(installed(&s), ["0.1.0"]);
}

#[test]
fn an_index_is_written_searched_and_installed_from_by_name_in_a_directory_and_over_http() {
    let s = Scratch::new();
    let dir = s.path().join("index");
    packed(&s, "0.1.0", &dir);
    packed(&s, "0.2.0", &dir);
    let out = ok(&s, &["pkg", "index", path_arg(&dir)], &[]);
    assert!(out.contains("indexed 2 packages"), "{out}");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_matches_schema("index", &index);
    let entries = index["packages"].as_array().unwrap();
    assert_eq!(entries[0]["processors"][0]["name"], "example.invert");
    let archive = std::fs::read(dir.join("example.effects-0.2.0.plexpkg")).unwrap();
    assert_eq!(entries[1]["sha256"], sha256(&archive).as_str());
    assert_eq!(entries[1]["size"], archive.len() as u64);

    let found = plexus(
        &s,
        &[
            "pkg",
            "search",
            "INVERT",
            "--index",
            path_arg(&dir),
            "--json",
        ],
        &[],
    );
    let found = found.json();
    assert_matches_schema("pkg-search", &found);
    let versions: Vec<&str> = found["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["0.2.0", "0.1.0"]);
    let none = ok(
        &s,
        &["pkg", "search", "sharpen", "--index", path_arg(&dir)],
        &[],
    );
    assert!(none.contains("no package"), "{none}");

    ok(
        &s,
        &[
            "pkg",
            "install",
            "example.effects",
            "--index",
            path_arg(&dir),
        ],
        &[],
    );
    assert_eq!(installed(&s), ["0.2.0"]);

    // Over HTTP, the index named by $PLEXUS_INDEX, an exact version.
    let server = FileServer::start();
    for name in [
        "index.json",
        "example.effects-0.1.0.plexpkg",
        "example.effects-0.2.0.plexpkg",
    ] {
        server.put(
            &format!("/pkgs/{name}"),
            std::fs::read(dir.join(name)).unwrap(),
            Mode::Normal,
        );
    }
    let other = Scratch::new();
    let url = server.url("/pkgs");
    let env: [(&str, &Path); 1] = [("PLEXUS_INDEX", Path::new(&url))];
    let table = ok(&other, &["pkg", "search", "effects"], &env);
    assert!(table.contains("example.invert"), "{table}");
    ok(&other, &["pkg", "install", "example.effects@0.1.0"], &env);
    assert_eq!(installed(&other), ["0.1.0"]);
    let line = refused(&other, &["pkg", "install", "example.effects@9.0.0"], &env);
    assert!(line.contains("it has versions 0.1.0, 0.2.0"), "{line}");
}

#[test]
fn a_hostile_index_is_refused_in_one_sentence() {
    let s = Scratch::new();
    let server = FileServer::start();
    let url = server.url("/bad");
    let entry = |file: &str| {
        format!(
            r#"{{"index_version": 1, "packages": [{{"name": "acme.x", "version": "1.0.0", "processors": [], "file": "{file}", "sha256": "{}", "size": 10}}]}}"#,
            "a".repeat(64)
        )
    };
    let cases: [(Vec<u8>, &str); 4] = [
        (
            entry("../../etc/x.plexpkg").into_bytes(),
            "packages[0].file `../../etc/x.plexpkg` is not a plain .plexpkg file name",
        ),
        (
            entry("sub/x.plexpkg").into_bytes(),
            "is not a plain .plexpkg file name",
        ),
        (
            b"{\"index_version\": 1, \"packages\": [".to_vec(),
            "not a package index",
        ),
        (vec![b' '; (16 << 20) + 1], "larger than 16384 KiB"),
    ];
    for (body, expected) in cases {
        server.put("/bad/index.json", body, Mode::Normal);
        let line = refused(&s, &["pkg", "install", "acme.x", "--index", &url], &[]);
        assert!(line.contains(expected), "{line}");
        assert!(line.len() < 400, "{line}");
    }
}

/// The archive's SHA256SUMS, what a package signature signs.
fn sums_of(archive: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).unwrap();
    let mut sums = Vec::new();
    zip.by_name("SHA256SUMS")
        .unwrap()
        .read_to_end(&mut sums)
        .unwrap();
    sums
}

fn sign(key: &minisign::KeyPair, data: &[u8]) -> Vec<u8> {
    minisign::sign(Some(&key.pk), &key.sk, Cursor::new(data), None, None)
        .unwrap()
        .into_string()
        .into_bytes()
}

#[test]
fn signatures_are_checked_against_the_keys_the_user_trusts() {
    let s = Scratch::new();
    let archives = s.path().join("archives");
    let one = std::fs::read(packed(&s, "0.1.0", &archives)).unwrap();
    let two = std::fs::read(packed(&s, "0.2.0", &archives)).unwrap();
    // Made now, never stored: the test's signing key.
    let key = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let server = FileServer::start();
    server.put("/one.plexpkg", one.clone(), Mode::Normal);
    server.put(
        "/one.plexpkg.minisig",
        sign(&key, &sums_of(&one)),
        Mode::Normal,
    );
    let install_one = [
        "pkg",
        "install",
        &server.url("/one.plexpkg"),
        "--sha256",
        &sha256(&one),
    ];

    let line = refused(&s, &install_one, &[]);
    assert!(line.contains("which is not trusted"), "{line}");

    let pub_file = s.path().join("alice.pub");
    std::fs::write(&pub_file, key.pk.to_box().unwrap().into_string()).unwrap();
    let out = ok(&s, &["pkg", "trust", path_arg(&pub_file)], &[]);
    let id = out
        .split("key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 16, "{out}");
    assert!(ok(&s, &["pkg", "trust", "--list"], &[]).contains(&id));
    assert!(ok(&s, &["pkg", "trust", &key.pk.to_base64()], &[]).contains("already trusted"));

    // A signature of another archive's list does not vouch for this one.
    server.put("/two.plexpkg", two.clone(), Mode::Normal);
    server.put(
        "/two.plexpkg.minisig",
        sign(&key, &sums_of(&one)),
        Mode::Normal,
    );
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/two.plexpkg"),
            "--sha256",
            &sha256(&two),
            "--require-signed",
        ],
        &[],
    );
    assert!(
        line.contains("does not match the archive's SHA256SUMS"),
        "{line}"
    );

    let run = plexus(&s, &install_one, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("signed by trusted key {id}")),
        "{}",
        run.stderr
    );
    assert_eq!(installed(&s), ["0.1.0"]);

    // Unsigned: refused when signatures are required, from a URL or a file.
    server.put("/unsigned.plexpkg", two.clone(), Mode::Normal);
    let line = refused(
        &s,
        &[
            "pkg",
            "install",
            &server.url("/unsigned.plexpkg"),
            "--sha256",
            &sha256(&two),
            "--require-signed",
        ],
        &[],
    );
    assert!(line.contains("it is not signed"), "{line}");
    let local = archives.join("example.effects-0.2.0.plexpkg");
    let line = refused(
        &s,
        &["pkg", "install", path_arg(&local), "--require-signed"],
        &[],
    );
    assert!(line.contains("it is not signed"), "{line}");

    // From an index, which lists the signature beside the archive.
    let dir = s.path().join("signed");
    std::fs::create_dir_all(&dir).unwrap();
    let name = "example.effects-0.2.0.plexpkg";
    std::fs::write(dir.join(name), &two).unwrap();
    std::fs::write(
        dir.join(format!("{name}.minisig")),
        sign(&key, &sums_of(&two)),
    )
    .unwrap();
    ok(&s, &["pkg", "index", path_arg(&dir)], &[]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["packages"][0]["signature"],
        format!("{name}.minisig").as_str()
    );
    ok(
        &s,
        &[
            "pkg",
            "install",
            "example.effects",
            "--index",
            path_arg(&dir),
            "--require-signed",
        ],
        &[],
    );
    assert_eq!(installed(&s), ["0.1.0", "0.2.0"]);

    ok(&s, &["pkg", "trust", "--remove", &id], &[]);
    assert!(ok(&s, &["pkg", "trust", "--list"], &[]).contains("no trusted keys"));
}
