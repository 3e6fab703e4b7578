//! `plexus run --watch`: while the run flows, a thread of its own watches
//! the files of every local package the pipeline uses and, once a burst of
//! changes is over, builds the package if its language builds (Rust) and
//! asks the runtime, as any observer would, to swap each worker hosting one
//! of its processors for one running the code now on disk. A broken edit
//! (a failed build, a successor whose setup fails) leaves the old workers
//! serving, and the next attempt at that package backs off (`schedule`).

mod build;
mod filter;
mod packages;
mod schedule;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result};
use ipc_schemas::{ControlReply, ControlRequest};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::load::plan::Plan;
use crate::observe::client::Client;
use build::Builds;
use packages::{Package, Packages, Swap};
use schedule::{Attempt, Noted, Schedule};

/// The watcher of a run; dropping it stops the watching, kills a build in
/// progress and abandons a swap's answer not come yet.
pub struct Watch {
    messages: Sender<Message>,
    ending: Arc<AtomicBool>,
    builds: Builds,
    thread: Option<JoinHandle<()>>,
}

enum Message {
    /// Paths that changed, as the file watcher reported them.
    Changed(Vec<PathBuf>),
    /// The file watcher failed; the watching goes on.
    Failed(String),
    Stop,
}

/// Starts watching the packages `plan` uses on behalf of `runtime`, which
/// must be running. A watcher that cannot start is told, and the run goes
/// on without it.
pub fn start(plan: &Plan, runtime: &str) -> Option<Watch> {
    let packages = Packages::of(plan);
    if !packages.sealed.is_empty() {
        let names: Vec<&str> = packages.sealed.iter().map(String::as_str).collect();
        tracing::info!(
            "[watch] not watching {}: installed packages change by installing them",
            names.join(", ")
        );
    }
    if packages.watched.is_empty() {
        tracing::info!("[watch] nothing to watch: the pipeline uses no local package directory");
        return None;
    }
    let listed: Vec<String> = packages
        .watched
        .iter()
        .map(|p| format!("{} ({})", p.name, p.dir.display()))
        .collect();
    match Watch::start(packages, runtime) {
        Ok(watch) => {
            tracing::info!("[watch] watching {}", listed.join(", "));
            Some(watch)
        }
        Err(e) => {
            tracing::error!("[watch] cannot watch, the run goes on without: {e:#}");
            None
        }
    }
}

impl Watch {
    fn start(packages: Packages, runtime: &str) -> Result<Self> {
        let (messages, received) = mpsc::channel();
        let ending = Arc::new(AtomicBool::new(false));
        let builds = Builds::default();
        let (started_tx, started) = mpsc::sync_channel(1);
        let watching = Watching {
            runtime: runtime.to_string(),
            packages,
            ending: ending.clone(),
            builds: builds.clone(),
            schedule: Schedule::default(),
        };
        let sender = messages.clone();
        let thread = std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || {
                // The client's ports live on this thread: they are made here.
                let ready = watching.prepare(sender);
                match ready {
                    Ok((client, watcher)) => {
                        let _ = started_tx.send(Ok(()));
                        watching.run(&client, watcher, &received);
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            })
            .context("starting the watcher's thread")?;
        let mut watch = Self {
            messages,
            ending,
            builds,
            thread: Some(thread),
        };
        match started.recv() {
            Ok(Ok(())) => Ok(watch),
            Ok(Err(e)) => {
                watch.stop();
                Err(e)
            }
            Err(_) => {
                watch.stop();
                anyhow::bail!("the watcher's thread ended as it started")
            }
        }
    }

    fn stop(&mut self) {
        self.ending.store(true, Ordering::Relaxed);
        self.builds.end();
        let _ = self.messages.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watcher's thread's state.
struct Watching {
    runtime: String,
    packages: Packages,
    ending: Arc<AtomicBool>,
    builds: Builds,
    schedule: Schedule,
}

impl Watching {
    /// The runtime's client and a file watcher on every package directory.
    fn prepare(&self, sender: Sender<Message>) -> Result<(Client, RecommendedWatcher)> {
        let client = Client::connect(&self.runtime).context("joining the runtime")?;
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let message = match event {
                    Ok(event) if filter::is_change(&event.kind) => Message::Changed(event.paths),
                    Ok(_) => return,
                    Err(e) => Message::Failed(e.to_string()),
                };
                let _ = sender.send(message);
            })
            .context("starting the file watcher")?;
        for package in &self.packages.watched {
            watch_tree(&mut watcher, &package.dir, &package.dir)
                .with_context(|| format!("watching {}", package.dir.display()))?;
        }
        Ok((client, watcher))
    }

    /// Acts on changes until told to stop or the runtime ends.
    fn run(
        mut self,
        client: &Client,
        mut watcher: RecommendedWatcher,
        received: &Receiver<Message>,
    ) {
        loop {
            let message = match self.schedule.next_due() {
                Some(due) => received.recv_timeout(due.saturating_duration_since(Instant::now())),
                None => received.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(Message::Changed(paths)) => self.note(&mut watcher, &paths),
                Ok(Message::Failed(reason)) => tracing::warn!("[watch] {reason}"),
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            for name in self.schedule.take_due(Instant::now()) {
                let package = self
                    .packages
                    .watched
                    .iter()
                    .find(|p| p.name == name)
                    .expect("only watched packages are scheduled")
                    .clone();
                match self.reload(client, &package) {
                    Some(attempt) => self.schedule.finished(&name, attempt),
                    None => return,
                }
            }
        }
    }

    /// Schedules the packages `paths` belong to; a new directory is watched.
    fn note(&mut self, watcher: &mut RecommendedWatcher, paths: &[PathBuf]) {
        let now = Instant::now();
        for path in paths {
            let Some((package, inside)) = self.packages.owner(path) else {
                continue;
            };
            if filter::ignored(inside) {
                continue;
            }
            if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                if let Err(e) = watch_tree(watcher, path, &package.dir) {
                    tracing::warn!("[watch] cannot watch {}: {e}", path.display());
                }
            }
            if let Noted::BackingOff { failures, delay } = self.schedule.changed(&package.name, now)
            {
                tracing::info!(
                    "[watch] {} failed {failures} time{} in a row: backing off, trying again {} s after its last change",
                    package.name,
                    if failures == 1 { "" } else { "s" },
                    delay.as_secs()
                );
            }
        }
    }

    /// Builds `package` if it builds and swaps its workers; `None` once the
    /// runtime ends.
    fn reload(&self, client: &Client, package: &Package) -> Option<Attempt> {
        tracing::info!("[watch] {} changed: reloading", package.name);
        if let Some(command) = package.build {
            if let Err(reason) = self.builds.run(&package.name, command, &package.dir) {
                if self.ending.load(Ordering::Relaxed) {
                    return None;
                }
                tracing::warn!(
                    "[watch] {} did not build, its workers keep their old version: {reason}",
                    package.name
                );
                return Some(Attempt::Failed);
            }
        }
        let mut attempt = Attempt::Succeeded;
        for swap in &package.swaps {
            match self.swap(client, swap)? {
                Attempt::Succeeded => {}
                Attempt::Failed => attempt = Attempt::Failed,
            }
        }
        Some(attempt)
    }

    /// Asks the runtime to swap the worker hosting `swap.processor` and
    /// tells how it went; `None` once the runtime ends.
    fn swap(&self, client: &Client, swap: &Swap) -> Option<Attempt> {
        let processor = &swap.processor;
        let asked = client.try_request_within(swap.within, Some(&self.ending), |reply_to| {
            ControlRequest::Upgrade {
                processor: processor.clone(),
                to: None,
                reply_to,
            }
        });
        let reason = match asked {
            Ok(None) => return None,
            Ok(Some(ControlReply::Done { message })) => {
                tracing::info!("[watch] {processor}: {message}");
                return Some(Attempt::Succeeded);
            }
            Ok(Some(ControlReply::Refused { reason })) => reason,
            Ok(Some(other)) => format!("the runtime answered out of turn: {other:?}"),
            Err(e) => format!("{e:#}"),
        };
        tracing::warn!("[watch] {processor} kept its old version: {reason}");
        Some(Attempt::Failed)
    }
}

/// Watches `dir` and every directory below it that is part of the package
/// in `package_dir`, each on its own: a recursive watch would also cover
/// `target/` and `node_modules/`, which may hold thousands of directories.
fn watch_tree(watcher: &mut RecommendedWatcher, dir: &Path, package_dir: &Path) -> Result<()> {
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let inside = path.strip_prefix(package_dir).unwrap_or(&path);
        // Symlinks are not followed: one may point back up the tree.
        if entry.file_type()?.is_dir() && !filter::ignored(inside) {
            watch_tree(watcher, &path, package_dir)?;
        }
    }
    Ok(())
}
