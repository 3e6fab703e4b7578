//! The data bridges of one host's part of a run (§16): exports put this
//! host's output ports on the link, imports publish other hosts' ports into
//! this host's runtime. Both sides key frames by the coordinator's runtime
//! id; the iceoryx2 side uses the id of the runtime on this host.

mod error;
mod export;
mod import;
mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ipc_schemas::link::{port_key, Bridges, Congestion, LinkSettings, LinkStatus};
use ipc_schemas::Names;
use zenoh::qos::CongestionControl;
use zenoh::Session;

pub use error::BridgeError;

use crate::clock::Clocks;

/// What a host's bridges are made from.
pub struct Plan<'a> {
    /// The coordinator's runtime id, in every Zenoh key of the run.
    pub link_runtime: &'a str,
    /// The id of this host's own runtime, for its shared memory.
    pub bus_runtime: &'a str,
    pub this_host: &'a str,
    pub bridges: &'a Bridges,
    pub settings: &'a LinkSettings,
    pub clocks: Clocks,
}

/// Running bridges; they stop, and leave the runtime's bus, when dropped.
pub struct BridgeSet {
    stop: Arc<AtomicBool>,
    exports: Vec<JoinHandle<()>>,
    imports: Vec<import::Running>,
    this_host: String,
}

impl BridgeSet {
    pub fn start(session: &Session, plan: Plan) -> Result<Self, BridgeError> {
        let names = Names::new(plan.bus_runtime)?;
        let congestion = match plan.settings.congestion {
            Congestion::Drop => CongestionControl::Drop,
            Congestion::Block => CongestionControl::Block,
        };
        let mut set = Self {
            stop: Arc::new(AtomicBool::new(false)),
            exports: Vec::new(),
            imports: Vec::new(),
            this_host: plan.this_host.to_string(),
        };
        for port in &plan.bridges.exports {
            let export = export::Export {
                names: names.clone(),
                key: port_key(plan.link_runtime, port),
                port: port.clone(),
                congestion,
            };
            set.exports.push(export.spawn(session, set.stop.clone())?);
        }
        for wanted in &plan.bridges.imports {
            let import = import::Import {
                names: names.clone(),
                key: port_key(plan.link_runtime, &wanted.port),
                port: wanted.port.clone(),
                from_host: wanted.from_host.clone(),
                this_host: plan.this_host.to_string(),
                clocks: plan.clocks.clone(),
            };
            set.imports.push(import.spawn(session, set.stop.clone())?);
        }
        Ok(set)
    }

    /// The counts of every port this host imports.
    pub fn statuses(&self) -> Vec<LinkStatus> {
        self.imports
            .iter()
            .map(|import| {
                let c = import.counts();
                LinkStatus {
                    port: import.port.clone(),
                    from_host: import.from_host.clone(),
                    to_host: self.this_host.clone(),
                    sent: c.sent,
                    received: c.received,
                    dropped: c.dropped,
                    latency_us: c.latency_us,
                    fps: c.fps,
                }
            })
            .collect()
    }
}

impl Drop for BridgeSet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for export in self.exports.drain(..) {
            let _ = export.join();
        }
        // Each import joins its thread, then undeclares its subscriber.
        self.imports.clear();
    }
}
