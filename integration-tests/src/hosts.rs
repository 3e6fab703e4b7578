//! A pipeline across two hosts for the tests: a [`NetPair`], a link token
//! both hosts read (the namespaces share the filesystem), `plexus agent` in
//! B, and `plexus` commands and event watchers in A, the coordinator's host.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::NetPair;
use crate::process::{runtime_listed, PlexusRun, Running};
use crate::{bin_dir, binary};

/// The port agents listen on, in their own namespace.
pub const AGENT_PORT: u16 = 7447;
/// The secret in every token file these tests write.
pub const TOKEN: &str = "a-test-token-of-the-hosts-harness";

/// Two hosts: `a` runs `plexus run`, `b` runs `plexus agent`.
pub struct TwoHosts {
    pub pair: NetPair,
    /// The pipeline's directory on A; the token file sits in it.
    pub dir: tempfile::TempDir,
    /// The agent's `--dir` on B.
    pub agent_dir: PathBuf,
    pub token: PathBuf,
}

impl TwoHosts {
    /// The pair and the files, or `None` (the test printed why it skips)
    /// where network namespaces cannot be made.
    pub fn create(test: &str) -> Option<Self> {
        let pair = NetPair::create(test)?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let agent_dir = dir.path().join("host-b");
        std::fs::create_dir(&agent_dir).expect("the agent's directory");
        let token = dir.path().join("link.token");
        write_private(&token, TOKEN);
        Some(Self {
            pair,
            dir,
            agent_dir,
            token,
        })
    }

    /// Where B's agent listens: its veth address.
    pub fn endpoint(&self) -> String {
        format!("tcp/{}:{AGENT_PORT}", self.pair.b.addr)
    }

    /// `plexus agent` in B on [`TwoHosts::endpoint`] with the token, once
    /// it says it is ready.
    pub fn start_agent(&self) -> Running {
        let endpoint = self.endpoint();
        let mut agent = self.spawn_agent(&["--listen", &endpoint]);
        agent.wait_for("` ready", Duration::from_secs(30));
        agent
    }

    /// `plexus agent --name b --token-file … --dir …` in B with `args`
    /// added, not waited for.
    pub fn spawn_agent(&self, args: &[&str]) -> Running {
        let (token, dir) = (
            self.token.to_str().unwrap(),
            self.agent_dir.to_str().unwrap(),
        );
        let mut all = vec!["agent", "--name", "b", "--token-file", token, "--dir", dir];
        all.extend_from_slice(args);
        self.pair
            .spawn(&self.pair.b, &binary("plexus"), &all, &self.agent_dir, &[])
    }

    /// Writes `yaml` as `pipeline.yaml` in A's directory; returns its path.
    pub fn pipeline(&self, yaml: &str) -> PathBuf {
        let path = self.dir.path().join("pipeline.yaml");
        std::fs::write(&path, yaml).expect("writing the pipeline");
        path
    }

    /// `plexus args` in A, in the pipeline's directory, not waited for.
    pub fn spawn_in_a(&self, args: &[&str]) -> Running {
        self.pair
            .spawn(&self.pair.a, &binary("plexus"), args, self.dir.path(), &[])
    }

    /// `plexus args` in A, to its end.
    pub fn plexus_in_a(&self, args: &[&str]) -> PlexusRun {
        self.spawn_in_a(args).finish()
    }

    /// `plexus events --follow --json --runtime runtime` in A.
    pub fn watch_events(&self, runtime: &str) -> Watcher {
        Watcher::start(
            self,
            &["events", "--follow", "--json", "--runtime", runtime],
        )
    }

    /// Runtime `runtime` as `plexus ps --json` in A lists it now.
    pub fn ps(&self, runtime: &str) -> Value {
        runtime_listed(&self.plexus_in_a(&["ps", "--json"]), runtime)
    }
}

/// Writes `text` to `path`, readable by its owner only, as a token file
/// must be.
pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("writing a token file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("restricting a token file");
}

/// A `plexus` command in A whose stdout is one JSON object a line, read
/// as they come (`events --follow --json`); killed with its process group
/// if dropped unfinished.
pub struct Watcher {
    child: Option<Child>,
    lines: Receiver<String>,
    /// Every object read so far.
    pub seen: Vec<Value>,
}

impl Watcher {
    fn start(hosts: &TwoHosts, args: &[&str]) -> Self {
        let mut child = hosts
            .pair
            .command(&hosts.pair.a, binary("plexus"))
            .args(args)
            .current_dir(hosts.dir.path())
            .env("PLEXUS_CACHE_DIR", bin_dir().join("plexus-test-cache"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting plexus events");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// The first object, among those seen and those to come, that
    /// `matches`; fails the test after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(found) = self.seen.iter().find(|v| matches(v)) {
            return found.clone();
        }
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {what} within {timeout:?}; seen:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
            let value: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
            self.seen.push(value.clone());
            if matches(&value) {
                return value;
            }
        }
    }

    /// The first event of `kind` (and, if given, for `host`).
    pub fn wait_for_event(&mut self, kind: &str, host: Option<&str>, timeout: Duration) -> Value {
        let what = format!("event {kind} (host {host:?})");
        self.wait_for(&what, timeout, |e| {
            e["kind"] == kind && host.is_none_or(|h| e["host"] == h)
        })
    }

    /// Waits for the watcher to end (its runtime stopped) and returns
    /// every object it printed.
    pub fn finish(mut self, timeout: Duration) -> Vec<Value> {
        let end = Instant::now() + timeout;
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            let value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
            self.seen.push(value);
        }
        let mut child = self.child.take().expect("running");
        let exited = crate::exits_within(child.id(), Duration::ZERO);
        if !exited {
            // SAFETY: kill(2) of our own child's process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        }
        let _ = child.wait();
        assert!(exited, "the watcher did not end within {timeout:?}");
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) of our own child's process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}
