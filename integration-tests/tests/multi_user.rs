//! Another local user cannot read, write, list, stop or tap a runtime, and
//! what they try leaves it healthy: a runtime's files are owner-only.
//!
//! Needs root, to create the second user (removed afterwards); without root
//! the test says so and passes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use integration_tests::residue::runtime_files;
use integration_tests::{
    assert_no_residue, binary, pipeline, ps_runtime, spawn_plexus, tapped_seqs,
};

const FRAMES: u64 = 1000;

/// A Unix user made for one test, deleted when dropped.
struct OtherUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl OtherUser {
    /// None (after saying why) when the test cannot create users.
    fn create() -> Option<Self> {
        // SAFETY: geteuid only reads the process's credentials.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: creating a second Unix user needs root");
            return None;
        }
        let name = format!("plexus-other-{}", std::process::id());
        let made = Command::new("useradd")
            .args([
                "--no-create-home",
                "--user-group",
                "--shell",
                "/bin/sh",
                &name,
            ])
            .status()
            .expect("running useradd");
        assert!(made.success(), "useradd {name} failed");
        let user = OtherUser {
            uid: id_of(&name, "-u"),
            gid: id_of(&name, "-g"),
            name,
        };
        Some(user)
    }

    /// Runs `program args` as this user, with a deadline.
    fn run(&self, program: &Path, args: &[&str], cwd: &Path) -> Output {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .uid(self.uid)
            .gid(self.gid)
            .env("HOME", cwd)
            .env_remove("PLEXUS_CACHE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting a command as the other user");
        if !integration_tests::exits_within(child.id(), Duration::from_secs(60)) {
            let _ = child.kill();
        }
        child
            .wait_with_output()
            .expect("waiting for the other user's command")
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

fn id_of(user: &str, which: &str) -> u32 {
    let out = Command::new("id").args([which, user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no id {which} for {user}"))
}

/// A copy of `plexus` in a directory every user can enter: the build's
/// target directory may sit where another user cannot reach it.
fn plexus_for_everyone() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("plexus");
    std::fs::copy(binary("plexus"), &copy).expect("copying plexus");
    (dir, copy)
}

/// A shell script that tries to read, overwrite (as the probe that locked a
/// runtime did: 16 bytes of 0xff), list and add to every file of the
/// runtime, printing one line for each attempt that worked.
fn intrusions(files: &[String]) -> String {
    let mut script = String::new();
    for name in files {
        let path = format!("/dev/shm/{name}");
        script.push_str(&format!(
            "cat '{path}' >/dev/null 2>&1 && echo 'read {path}'\n\
             {{ printf '\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377' > '{path}'; }} 2>/dev/null && echo 'wrote {path}'\n\
             ls '{path}/' >/dev/null 2>&1 && echo 'listed {path}'\n\
             ls '{path}/nodes' >/dev/null 2>&1 && echo 'listed {path}/nodes'\n\
             touch '{path}/intruder' 2>/dev/null && echo 'added to {path}'\n"
        ));
    }
    script
}

#[test]
fn another_user_can_neither_touch_nor_disturb_a_runtime() {
    let Some(other) = OtherUser::create() else {
        return;
    };
    let (bin, their_plexus) = plexus_for_everyone();
    let (tmp, path) = pipeline("source-to-sink.yaml", &[]);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let frames = FRAMES.to_string();
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    running.wait_for("processor cam started", Duration::from_secs(30));
    let id = running.runtime_id();

    let files = runtime_files(&id);
    assert!(!files.is_empty());
    for name in &files {
        let meta = std::fs::metadata(Path::new("/dev/shm").join(name)).unwrap();
        assert_eq!(
            meta.mode() & 0o077,
            0,
            "/dev/shm/{name} is open to others (mode {:o})",
            meta.mode() & 0o777
        );
    }

    let tried = other.run(
        Path::new("/bin/sh"),
        &["-c", &intrusions(&files)],
        bin.path(),
    );
    let got_in = String::from_utf8_lossy(&tried.stdout);
    assert!(got_in.trim().is_empty(), "another user got in:\n{got_in}");

    let stop = other.run(&their_plexus, &["stop", "--runtime", &id], bin.path());
    assert_ne!(
        stop.status.code(),
        Some(0),
        "another user stopped the runtime: {}",
        String::from_utf8_lossy(&stop.stdout)
    );
    let tap = other.run(
        &their_plexus,
        &["tap", "cam.out", "--runtime", &id, "--count", "1"],
        bin.path(),
    );
    assert_ne!(
        tap.status.code(),
        Some(0),
        "another user tapped the runtime: {}",
        String::from_utf8_lossy(&tap.stdout)
    );
    let ps = other.run(&their_plexus, &["ps", "--json"], bin.path());
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains(&id),
        "another user sees the runtime: {}",
        String::from_utf8_lossy(&ps.stdout)
    );

    // The owner still observes the runtime, which goes on undisturbed.
    assert_eq!(ps_runtime(tmp.path(), &id)["runtime"], id.as_str());
    assert_eq!(tapped_seqs(tmp.path(), &id, "cam.out", 5).len(), 5);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{}", run.stderr);
    let sink = &summary["processors"]["sink"];
    assert_eq!(sink["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(sink["gaps"], 0, "{summary:#}");
}
