//! A pipeline across hosts (docs/ARCHITECTURE.md §16): what the supervisor
//! tells its link process (`plexus-link coordinate`) and hears back from it,
//! what a coordinator and an agent (`plexus-link agent`) say to each other
//! over Zenoh, and how one frame travels between hosts.
//!
//! Everything here but [`LinkFrameHead`] is JSON: the supervisor and its
//! link process exchange one object per line on the link process's stdin
//! and stdout, and coordinator and agents put one object in each Zenoh
//! query, reply or sample.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::control::{LatencyUs, RuntimeStatus};
use crate::event::RuntimeEvent;
use crate::frame::FrameHeader;

/// The version of everything in this module; a peer that says another is
/// refused with a sentence naming both.
pub const LINK_PROTOCOL: u32 = 1;

/// The host name of the machine running `plexus run` in a pipeline's
/// `host:` fields and in every status and event; no entry of `hosts:` may
/// take it.
pub const LOCAL_HOST: &str = "local";

/// What the link does when a frame meets a full Zenoh queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Congestion {
    /// Drop it and count it as dropped on the link: a slow link never holds
    /// a producer up (the local safe-overflow promise).
    #[default]
    Drop,
    /// Wait until the link takes it; the producer's other consumers are
    /// unaffected, the bridge's own queue overflows instead.
    Block,
}

/// What the coordinator does when a host is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum OnLost {
    /// Keep running and wait `timeout_ms` for the host's agent to come
    /// back, then start its part again; fail the run if it does not.
    Wait { timeout_ms: u64 },
    /// Stop the run, failed.
    Fail,
}

/// When a link counts as degraded (event `link_degraded`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Frames lost on the link, in percent of those sent, over a second.
    pub loss_percent: f64,
    /// The link's p99 latency over a second, in ms.
    pub latency_ms: u64,
}

/// Settings every bridge of a run shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSettings {
    pub congestion: Congestion,
    pub degraded: Thresholds,
}

/// One output port, named by its processor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRef {
    pub processor: String,
    pub port: String,
}

/// The ports one host's link process carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bridges {
    /// Output ports of this host's processors that processors on other
    /// hosts consume: taken off shared memory as an observer and put on
    /// the link.
    pub exports: Vec<PortRef>,
    /// Output ports of other hosts' processors that this host's processors
    /// consume: taken off the link and published into this host's runtime
    /// under the producer's name, so consumers are unchanged.
    pub imports: Vec<Import>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub from_host: String,
    pub port: PortRef,
}

/// What one host runs of a pipeline: sent by the coordinator to the host's
/// agent (`start`, `check`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The coordinator's runtime id: the one id of the run on every host,
    /// in the Zenoh keys of its frames, statuses and events.
    pub runtime: String,
    pub host: String,
    /// A pipeline file of this host's processors (its `remote:` section
    /// names the other hosts' ports they read), paths as the agent's
    /// directory sees them.
    pub pipeline_yaml: String,
    pub bridges: Bridges,
    pub link: LinkSettings,
    /// Each host's `CLOCK_MONOTONIC` minus the coordinator's, in ns, as
    /// measured at connection (`local` is 0): bridges move capture times
    /// into their own host's clock.
    pub clock_offsets_ns: BTreeMap<String, i64>,
    /// `plexus run --frames N` on the coordinator, for a part with sources
    /// of its own: its run is started with the same limit.
    pub frames: Option<u64>,
}

/// One remote host as the supervisor hands it to its link process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSetup {
    pub host: String,
    /// A Zenoh endpoint, `tcp/ADDRESS:PORT`.
    pub endpoint: String,
    pub on_lost: OnLost,
    pub part: Part,
}

/// The supervisor → `plexus-link coordinate`: the first line of its stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSetup {
    pub protocol: u32,
    pub runtime: String,
    /// The pipeline's `link.token_file`, absolute: the shared secret every
    /// agent is given too (`--token-file`). Only the link process reads it.
    pub token_file: String,
    /// What the coordinator's own host carries.
    pub bridges: Bridges,
    pub link: LinkSettings,
    pub hosts: Vec<HostSetup>,
    /// Only ask each agent whether it could run its part (`validate`):
    /// report `Checked` per host and exit.
    pub check_only: bool,
}

/// The supervisor → its link process, after the setup: one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkCommand {
    /// Restart one worker of a host's part, on purpose.
    RestartWorker { host: String, worker: String },
    /// Stop every host's part (upstream first is each host's own affair),
    /// send each host's `Summary`, then exit.
    Stop,
}

/// Counts of one bridged port on one receiving host, over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkStatus {
    pub port: PortRef,
    pub from_host: String,
    pub to_host: String,
    /// Frames the sending bridge put on the link.
    pub sent: u64,
    /// Frames the receiving bridge published.
    pub received: u64,
    /// Frames lost on the link: gaps in the link's own sequence.
    pub dropped: u64,
    /// Sent to received, over the last second (clock offset applied).
    pub latency_us: Option<LatencyUs>,
    pub fps: f64,
}

/// `plexus-link coordinate` → the supervisor: one per line of its stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkReport {
    /// Every host answered and runs its part.
    Ready,
    /// A host's answer to `check_only`: `None` when it could run its part.
    Checked {
        host: String,
        problem: Option<String>,
    },
    /// An event of the link itself (`host_connected`, `host_lost`,
    /// `host_recovered`, `link_degraded`), or one of a host's runtime,
    /// which the supervisor publishes in its own stream with `host` set.
    Event { event: RuntimeEvent },
    /// A host's runtime as its `plexus ps --json` shows it, about once a
    /// second; `None` while the host is lost.
    Status {
        host: String,
        status: Option<RuntimeStatus>,
    },
    /// Every bridged port, about once a second.
    Links { links: Vec<LinkStatus> },
    /// A line one of a host's workers wrote (its `[worker] …` stderr line
    /// there), for the supervisor's log of that worker.
    Log {
        host: String,
        worker: String,
        line: String,
    },
    /// A host's run ended: its summary as `plexus run --json` prints it.
    Summary {
        host: String,
        summary: serde_json::Value,
    },
    /// The run cannot go on (an unreachable host, a wrong token, a part a
    /// host cannot run, a host lost under `on_lost: fail`): one sentence.
    Fatal { message: String },
}

/// Coordinator → agent, Zenoh query on [`agent_key`]`(name, "hello")`:
/// proves the token before anything else is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub token: String,
    pub runtime: String,
}

/// Agent → coordinator, the reply to [`Hello`] and to every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentReply {
    /// To `hello`: the agent's name and its `CLOCK_MONOTONIC` when it
    /// answered, for the clock offset.
    Welcome { agent: String, mono_ns: u64 },
    /// Done (`start`, `check`, `command`).
    Done,
    /// One sentence: a wrong token, another protocol, a part it cannot run.
    Refused { reason: String },
}

/// Coordinator → agent, Zenoh query on [`agent_key`]`(name, "request")`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRequest {
    /// Could this host run the part (`plexus validate` of it there)?
    Check {
        token: String,
        part: Part,
    },
    /// Run the part; answered once its workers run.
    Start {
        token: String,
        part: Part,
    },
    RestartWorker {
        token: String,
        worker: String,
    },
    /// Stop the part; its `Summary` follows on the host's summary key.
    Stop {
        token: String,
    },
}

/// The agents' keys: requests to agent `name` (`hello`, `request`) and its
/// liveliness token (`alive`).
pub fn agent_key(name: &str, what: &str) -> String {
    format!("plexus/agent/{name}/{what}")
}

/// What an agent publishes about its part of run `runtime`: `status`,
/// `event`, `links`, `summary`.
pub fn host_key(runtime: &str, host: &str, what: &str) -> String {
    format!("plexus/{runtime}/host/{host}/{what}")
}

/// Frames of one output port on the link.
pub fn port_key(runtime: &str, port: &PortRef) -> String {
    format!("plexus/{runtime}/port/{}/{}", port.processor, port.port)
}

/// What precedes a frame's header and payload in one Zenoh sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFrameHead {
    /// Counts the frames one sending bridge put on this port's key, from 1;
    /// a receiver's gap in it is a frame lost on the link.
    pub link_seq: u64,
    /// The sender's `CLOCK_MONOTONIC` as it put the frame on the link.
    pub sent_ns: u64,
}

impl LinkFrameHead {
    /// Bytes of the head, then [`FrameHeader`]'s, then the payload.
    pub const LEN: usize = 16;
    pub const PREFIX: usize = Self::LEN + std::mem::size_of::<FrameHeader>();

    /// Writes the head and `header` into the first [`Self::PREFIX`] bytes
    /// of `out`.
    pub fn write(&self, header: &FrameHeader, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.link_seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.sent_ns.to_le_bytes());
        out[Self::LEN..Self::PREFIX].copy_from_slice(header_bytes(header));
    }

    /// Splits a sample into head, frame header and payload; `None` when it
    /// is too short to hold the first two.
    pub fn read(sample: &[u8]) -> Option<(Self, FrameHeader, &[u8])> {
        if sample.len() < Self::PREFIX {
            return None;
        }
        let word = |at: usize| u64::from_le_bytes(sample[at..at + 8].try_into().unwrap_or([0; 8]));
        let head = Self {
            link_seq: word(0),
            sent_ns: word(8),
        };
        let mut header = FrameHeader::default();
        header_bytes_mut(&mut header).copy_from_slice(&sample[Self::LEN..Self::PREFIX]);
        Some((head, header, &sample[Self::PREFIX..]))
    }
}

fn header_bytes(header: &FrameHeader) -> &[u8] {
    // SAFETY: FrameHeader is #[repr(C)] plain old data of integers with no
    // padding (96 bytes, checked by plexus-frame's layout test), so its
    // bytes are initialised and any bit pattern is a valid value.
    unsafe {
        std::slice::from_raw_parts(
            (header as *const FrameHeader).cast::<u8>(),
            std::mem::size_of::<FrameHeader>(),
        )
    }
}

fn header_bytes_mut(header: &mut FrameHeader) -> &mut [u8] {
    // SAFETY: as in `header_bytes`; every bit pattern is a valid header.
    unsafe {
        std::slice::from_raw_parts_mut(
            (header as *mut FrameHeader).cast::<u8>(),
            std::mem::size_of::<FrameHeader>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_head_reads_back_as_written() {
        let header = FrameHeader {
            seq: 41,
            capture_ns: 7,
            width: 3,
            ..FrameHeader::default()
        };
        let head = LinkFrameHead {
            link_seq: 9,
            sent_ns: 123,
        };
        let mut sample = vec![0u8; LinkFrameHead::PREFIX + 3];
        head.write(&header, &mut sample);
        sample[LinkFrameHead::PREFIX..].copy_from_slice(b"abc");
        let (h, fh, payload) = LinkFrameHead::read(&sample).expect("long enough");
        assert_eq!(h, head);
        assert_eq!(fh, header);
        assert_eq!(payload, b"abc");
        assert!(LinkFrameHead::read(&sample[..LinkFrameHead::PREFIX - 1]).is_none());
    }

    #[test]
    fn keys_name_runtime_host_and_port() {
        let port = PortRef {
            processor: "camera".into(),
            port: "out".into(),
        };
        assert_eq!(port_key("r1", &port), "plexus/r1/port/camera/out");
        assert_eq!(host_key("r1", "b", "status"), "plexus/r1/host/b/status");
        assert_eq!(agent_key("b", "hello"), "plexus/agent/b/hello");
    }
}
