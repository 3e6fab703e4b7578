//! `plexus validate --deep`: after every check `run` makes, each worker of
//! the plan is started in its check mode (`--check`), loads its processors
//! as it would for a run (Python modules imported and classes built,
//! TypeScript modules imported, plugin libraries opened and their
//! descriptors checked) without calling their setup, and says what failed,
//! in the words `run` would use.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ipc_schemas::ProcessorSpec;
use serde::Deserialize;

use super::launch::Launcher;
use super::spawn::{kill_group, wait_for_exit};
use crate::load::plan::{Plan, PlannedWorker};

/// How long one worker may take to load its processors.
const CHECK_DEADLINE: Duration = Duration::from_secs(60);

/// One processor (or worker) that would not start, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Failure {
    pub processor: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&named(&self.processor, &self.message))
    }
}

/// `processor `x`: message`, as a refused start tells it; the builtins
/// name their processor themselves.
pub fn named(processor: &str, message: &str) -> String {
    let prefix = format!("processor `{processor}`: ");
    match message.starts_with(&prefix) {
        true => message.to_string(),
        false => prefix + message,
    }
}

/// Loads every processor of `plan` in a worker of its language; returns
/// what failed, in pipeline order.
pub fn check(plan: &Plan, launcher: &Launcher) -> Result<Vec<Failure>> {
    let mut failures = Vec::new();
    for worker in &plan.workers {
        failures.extend(check_worker(plan, launcher, worker)?);
    }
    let order = |f: &Failure| {
        plan.processors
            .iter()
            .position(|p| p.spec.id == f.processor)
    };
    failures.sort_by_key(order);
    Ok(failures)
}

fn check_worker(plan: &Plan, launcher: &Launcher, worker: &PlannedWorker) -> Result<Vec<Failure>> {
    let specs: Vec<&ProcessorSpec> = plan
        .processors
        .iter()
        .filter(|p| p.worker == worker.name)
        .map(|p| &p.spec)
        .collect();
    let input = launcher.check_input(worker, &specs)?;
    let mut command = launcher.command(plan, worker)?;
    command
        .arg("--check")
        .current_dir(plan.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting worker `{}` to check it", worker.name))?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let stdout = read_all(child.stdout.take().expect("piped"));
    let stderr = read_all(child.stderr.take().expect("piped"));
    // Asleep on the worker's pidfd until it exits or the deadline passes.
    wait_for_exit(child.id(), Some(Instant::now() + CHECK_DEADLINE));
    let status = match child.try_wait()? {
        Some(status) => Some(status),
        None => {
            kill_group(child.id());
            let _ = child.wait();
            None
        }
    };
    let _ = writer.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let whole = |message: String| {
        vec![Failure {
            processor: worker.processors.first().cloned().unwrap_or_default(),
            message,
        }]
    };
    match status {
        None => Ok(whole(format!(
            "worker `{}` did not finish loading its processors within {} s",
            worker.name,
            CHECK_DEADLINE.as_secs()
        ))),
        Some(status) if !status.success() => Ok(whole(format!(
            "worker `{}` failed while loading its processors ({status}): {}",
            worker.name,
            last_line(&stderr)
        ))),
        Some(_) => Ok(stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Failure>(l).ok())
            .collect()),
    }
}

/// Reads a pipe to its end on a thread, so neither pipe can fill and stall
/// the worker; at most 1 MiB is kept.
fn read_all(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.take(1 << 20).read_to_string(&mut text);
        text
    })
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("it said nothing")
}
