//! What an agent tells its coordinator about the part it runs, each on its
//! own key of `host_key(run, host, …)`: the nested run's events as they
//! happen, its status and the bridges' counts once a second, and its
//! workers' log lines.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipc_schemas::link::host_key;
use serde::Serialize;
use zenoh::pubsub::Publisher;
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

use super::nested::Plexus;
use crate::bridge::BridgeSet;
use crate::wire;

const PERIOD: Duration = Duration::from_secs(1);

/// A publisher on `host_key(runtime, host, what)`. What must arrive
/// (events, logs, the summary) waits for the link; what is repeated every
/// second (status, counts) is dropped when the link is full.
pub fn publisher(
    session: &Session,
    runtime: &str,
    host: &str,
    what: &str,
) -> Result<Publisher<'static>, String> {
    let congestion = match what {
        "status" | "links" => CongestionControl::Drop,
        _ => CongestionControl::Block,
    };
    session
        .declare_publisher(host_key(runtime, host, what))
        .congestion_control(congestion)
        .wait()
        .map_err(|e| format!("declaring the {what} publisher: {e}"))
}

pub fn publish(publisher: &Publisher, value: &impl Serialize) {
    if let Err(e) = publisher.put(wire::encode(value)).wait() {
        tracing::debug!("publishing on {}: {e}", publisher.key_expr());
    }
}

/// The nested run as seen from outside.
pub struct Watched<'a> {
    pub session: &'a Session,
    pub plexus: Plexus,
    pub runtime: &'a str,
    pub host: &'a str,
    pub nested_runtime: &'a str,
    pub bridges: Arc<BridgeSet>,
}

/// Forwarding threads; they stop when dropped.
pub struct Forwarding {
    stop: Arc<AtomicBool>,
    events: Child,
    threads: Vec<JoinHandle<()>>,
}

impl Forwarding {
    pub fn start(watched: Watched) -> Result<Self, String> {
        let status = publisher(watched.session, watched.runtime, watched.host, "status")?;
        let links = publisher(watched.session, watched.runtime, watched.host, "links")?;
        let event = publisher(watched.session, watched.runtime, watched.host, "event")?;
        let mut events = watched
            .plexus
            .follow_events(watched.nested_runtime)
            .map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let lines = events.stdout.take();
        let event_thread = std::thread::spawn(move || {
            let Some(lines) = lines else { return };
            for line in BufReader::new(lines).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                    publish(&event, &value);
                }
            }
        });
        let ticker_stop = stop.clone();
        let (plexus, nested, bridges) = (
            watched.plexus,
            watched.nested_runtime.to_string(),
            watched.bridges,
        );
        let ticker = std::thread::spawn(move || {
            while !ticker_stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                publish(&links, &bridges.statuses());
                if let Some(now) = plexus.status(&nested) {
                    publish(&status, &now);
                }
                let rest = PERIOD.saturating_sub(started.elapsed());
                let wake = Instant::now() + rest;
                while Instant::now() < wake && !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Ok(Self {
            stop,
            events,
            threads: vec![event_thread, ticker],
        })
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.events.kill();
        let _ = self.events.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
