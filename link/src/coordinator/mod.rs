//! `plexus-link coordinate`: the link process of a `plexus run` whose
//! pipeline spans hosts. It reads its setup and commands on stdin, reaches
//! each host's agent, starts its part, bridges the coordinator's own ports,
//! and reports everything the hosts say (and the link's own events) on
//! stdout, one line each, until it is told to stop or its supervisor is
//! gone.

mod ask;
mod degraded;
mod hosts;
mod input;
mod report;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::link::{
    host_key, HostSetup, LinkCommand, LinkReport, LinkSetup, LinkStatus, LINK_PROTOCOL, LOCAL_HOST,
};
use ipc_schemas::{EventKind, RuntimeEvent};
use nix::sys::signal::Signal;
use thiserror::Error;
use zenoh::Wait;

use crate::bridge::{BridgeSet, Plan};
use crate::clock::{Clocks, Offset};
use crate::session::{self, Endpoint, Role};
use crate::token::Token;
use ask::{AskError, Asker};
use degraded::Degraded;
use hosts::{Host, Reach};
use input::{Input, News};
use report::Reporter;

/// How long the hosts have to send their summaries once stopped.
const SUMMARY_DEADLINE: Duration = Duration::from_secs(15);
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum CoordinatorError {
    /// The supervisor handed over something that is not a setup.
    #[error("the link setup on stdin: {0}")]
    Setup(String),
    /// The run cannot go on; the supervisor was told so.
    #[error("{0}")]
    Fatal(String),
}

pub fn run() -> Result<(), CoordinatorError> {
    crate::signals::install(&[Signal::SIGTERM], &[Signal::SIGINT, Signal::SIGPIPE])
        .map_err(|e| CoordinatorError::Setup(format!("installing signal handlers: {e}")))?;
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    let mut first = String::new();
    stdin
        .read_line(&mut first)
        .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
    let setup: LinkSetup = crate::wire::decode_bytes(first.as_bytes())
        .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
    if setup.protocol != LINK_PROTOCOL {
        return Err(CoordinatorError::Setup(format!(
            "it is link protocol {}, this plexus-link speaks {LINK_PROTOCOL}",
            setup.protocol
        )));
    }
    let (inputs, news) = crossbeam_channel::unbounded();
    let reporter = Reporter::start(std::io::stdout(), inputs.clone());
    let outcome = coordinate(setup, &reporter, stdin, inputs, news);
    if let Err(CoordinatorError::Fatal(message)) = &outcome {
        reporter.send(LinkReport::Fatal {
            message: message.clone(),
        });
    }
    reporter.finish();
    outcome
}

fn coordinate(
    mut setup: LinkSetup,
    reporter: &Reporter,
    stdin: impl BufRead + Send + 'static,
    inputs: Sender<Input>,
    news: Receiver<Input>,
) -> Result<(), CoordinatorError> {
    let fatal = CoordinatorError::Fatal;
    let token = Token::read(std::path::Path::new(&setup.token_file), "link.token_file")
        .map_err(|e| fatal(e.to_string()))?;
    let mut endpoints = Vec::new();
    for host in &setup.hosts {
        let endpoint = Endpoint::parse(&host.endpoint)
            .map_err(|e| fatal(format!("host `{}`: {e}", host.host)))?;
        endpoints.push(endpoint);
    }
    let session = session::open(Role::Coordinator {
        agents: endpoints.iter().collect(),
    })
    .map_err(|e| fatal(e.to_string()))?;
    let asker = Asker {
        session: session.clone(),
        token,
        runtime: setup.runtime.clone(),
    };
    let offsets = hello_all(&asker, &setup.hosts)?;
    if setup.check_only {
        for (host, problem) in check_all(&asker, &setup.hosts) {
            reporter.send(LinkReport::Checked { host, problem });
        }
        return Ok(());
    }
    // Declared before any part starts: an agent stops its part when it goes.
    let _alive = session
        .liveliness()
        .declare_token(host_key(&setup.runtime, LOCAL_HOST, "alive"))
        .wait()
        .map_err(|e| fatal(format!("declaring the coordinator alive: {e}")))?;
    let mut clock_offsets = BTreeMap::from([(LOCAL_HOST.to_string(), 0)]);
    for (host, offset) in setup.hosts.iter().zip(&offsets) {
        clock_offsets.insert(host.host.clone(), offset.offset_ns);
    }
    for host in &mut setup.hosts {
        host.part.clock_offsets_ns = clock_offsets.clone();
    }
    // Our imports subscribe before any host exports: no first frame is lost.
    let bridges = BridgeSet::start(
        &session,
        Plan {
            link_runtime: &setup.runtime,
            bus_runtime: &setup.runtime,
            this_host: LOCAL_HOST,
            bridges: &setup.bridges,
            settings: &setup.link,
            clocks: Clocks::new(clock_offsets),
        },
    )
    .map_err(|e| fatal(format!("starting the link's bridges: {e}")))?;
    start_all(&asker, &setup.hosts)?;
    let mut hosts = Vec::new();
    for (host, offset) in setup.hosts.iter().zip(offsets) {
        let watched = Host::running(&session, &setup.runtime, host.clone(), offset, &inputs)
            .map_err(|e| fatal(format!("watching host `{}`: {e}", host.host)))?;
        hosts.push(watched);
    }
    for host in &hosts {
        reporter.send(event(EventKind::HostConnected {
            host: host.name().to_string(),
            endpoint: host.setup.endpoint.clone(),
            clock_offset_us: host.offset.offset_ns / 1000,
            rtt_us: host.offset.rtt_ns / 1000,
        }));
    }
    reporter.send(LinkReport::Ready);
    std::thread::spawn({
        let inputs = inputs.clone();
        move || input::read_commands(stdin, inputs)
    });
    let mut running = Running {
        asker,
        reporter,
        inputs,
        hosts,
        bridges: Some(bridges),
        own_links: Vec::new(),
        degraded: Degraded::new(setup.link.degraded),
        stopping: None,
    };
    let outcome = running.serve(&news);
    drop(running);
    let _ = session.close().wait();
    outcome
}

/// Hellos every host: their clock offsets, in order.
fn hello_all(asker: &Asker, hosts: &[HostSetup]) -> Result<Vec<Offset>, CoordinatorError> {
    let answers = each_host(hosts, |host| asker.hello(&host.host));
    hosts
        .iter()
        .zip(answers)
        .map(|(host, answer)| {
            answer.map_err(|e| {
                CoordinatorError::Fatal(match e {
                    AskError::NoAnswer => format!(
                        "host `{0}` at {1}: no plexus agent answers there (is `plexus agent --listen {1} --name {0}` running on it, and listening on that address rather than loopback?)",
                        host.host, host.endpoint
                    ),
                    AskError::Refused(reason) => {
                        format!("host `{}` refused the run: {reason}", host.host)
                    }
                    other => format!("host `{}` at {}: {other}", host.host, host.endpoint),
                })
            })
        })
        .collect()
}

fn check_all(asker: &Asker, hosts: &[HostSetup]) -> Vec<(String, Option<String>)> {
    let answers = each_host(hosts, |host| asker.check(&host.host, &host.part));
    hosts
        .iter()
        .zip(answers)
        .map(|(host, answer)| (host.host.clone(), answer.err().map(|e| e.to_string())))
        .collect()
}

fn start_all(asker: &Asker, hosts: &[HostSetup]) -> Result<(), CoordinatorError> {
    let answers = each_host(hosts, |host| asker.start(&host.host, &host.part));
    for (host, answer) in hosts.iter().zip(answers) {
        answer.map_err(|e| {
            CoordinatorError::Fatal(format!("host `{}` cannot run its part: {e}", host.host))
        })?;
    }
    Ok(())
}

/// `ask` of every host at once; the answers in the hosts' order.
fn each_host<T: Send>(
    hosts: &[HostSetup],
    ask: impl Fn(&HostSetup) -> Result<T, AskError> + Sync,
) -> Vec<Result<T, AskError>> {
    std::thread::scope(|scope| {
        let asking: Vec<_> = hosts.iter().map(|h| scope.spawn(|| ask(h))).collect();
        asking
            .into_iter()
            .map(|a| a.join().unwrap_or(Err(AskError::NoAnswer)))
            .collect()
    })
}

/// An event of the link itself, observed on the coordinator's host.
fn event(kind: EventKind) -> LinkReport {
    let time_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    LinkReport::Event {
        event: RuntimeEvent {
            seq: 0,
            time_ns,
            mono_ns: monotonic_ns(),
            host: None,
            kind,
        },
    }
}

/// The run once every host runs its part.
struct Running<'a> {
    asker: Asker,
    reporter: &'a Reporter,
    inputs: Sender<Input>,
    hosts: Vec<Host>,
    bridges: Option<BridgeSet>,
    /// The counts of the ports the coordinator's host imports.
    own_links: Vec<LinkStatus>,
    degraded: Degraded,
    /// When the hosts' summaries are due, once stopping.
    stopping: Option<Instant>,
}

impl Running<'_> {
    fn serve(&mut self, news: &Receiver<Input>) -> Result<(), CoordinatorError> {
        let mut next_tick = Instant::now() + TICK;
        loop {
            if crate::signals::stop_requested() && self.stopping.is_none() {
                self.begin_stop();
            }
            if let Some(deadline) = self.stopping {
                let waiting: Vec<&str> = (self.hosts.iter())
                    .filter(|h| h.reach != Reach::Done)
                    .map(Host::name)
                    .collect();
                if waiting.is_empty() {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    tracing::warn!(
                        "no summary from host {} within {} s of stopping",
                        waiting.join(", "),
                        SUMMARY_DEADLINE.as_secs()
                    );
                    return Ok(());
                }
            }
            let wait = next_tick
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match news.recv_timeout(wait) {
                Ok(input) => self.handle(input)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if Instant::now() >= next_tick {
                next_tick += TICK;
                self.tick()?;
            }
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), CoordinatorError> {
        match input {
            Input::Command(LinkCommand::RestartWorker { host, worker }) => {
                let asker = self.asker.clone();
                std::thread::spawn(move || {
                    if let Err(e) = asker.restart_worker(&host, &worker) {
                        tracing::warn!("restarting worker `{worker}` on host `{host}`: {e}");
                    }
                });
            }
            Input::Command(LinkCommand::Stop) | Input::StdinClosed | Input::SupervisorGone => {
                if self.stopping.is_none() {
                    self.begin_stop();
                }
            }
            Input::Alive { host, alive } => self.on_alive(&host, alive)?,
            Input::News { host, news } => self.on_news(&host, news),
            Input::Restarted { host, outcome } => self.on_restarted(&host, outcome)?,
        }
        Ok(())
    }

    fn host(&mut self, name: &str) -> Option<&mut Host> {
        self.hosts.iter_mut().find(|h| h.name() == name)
    }

    fn on_news(&mut self, name: &str, news: News) {
        let reporter = self.reporter;
        let Some(host) = self.host(name) else { return };
        let host_name = name.to_string();
        match news {
            News::Status(mut status) => {
                if host.reach == Reach::Running {
                    for worker in &mut status.workers {
                        worker.host = host_name.clone();
                    }
                    reporter.send(LinkReport::Status {
                        host: host_name,
                        status: Some(*status),
                    });
                }
            }
            News::Event(mut event) => {
                event.host = Some(host_name);
                reporter.send(LinkReport::Event { event: *event });
            }
            News::Links(links) => host.links = links,
            News::Log { worker, line } => reporter.send(LinkReport::Log {
                host: host_name,
                worker,
                line,
            }),
            News::Summary(summary) => {
                if matches!(host.reach, Reach::Running | Reach::Stopping) {
                    host.reach = Reach::Done;
                }
                reporter.send(LinkReport::Summary {
                    host: host_name,
                    summary,
                });
            }
        }
    }

    fn on_alive(&mut self, name: &str, alive: bool) -> Result<(), CoordinatorError> {
        let stopping = self.stopping.is_some();
        let reporter = self.reporter;
        let (asker, inputs) = (self.asker.clone(), self.inputs.clone());
        let Some(host) = self.host(name) else {
            return Ok(());
        };
        match (host.reach, alive) {
            (Reach::Running | Reach::Restarting { .. }, false) if !stopping => {
                let since = host.lost_since().unwrap_or_else(Instant::now);
                host.reach = Reach::Lost { since };
                // Its counts stand as last heard; nothing flows now.
                for link in &mut host.links {
                    link.latency_us = None;
                    link.fps = 0.0;
                }
                reporter.send(event(EventKind::HostLost {
                    host: name.to_string(),
                    reason: "its agent or the link to it went away".to_string(),
                }));
                reporter.send(LinkReport::Status {
                    host: name.to_string(),
                    status: None,
                });
                if host.patience().is_none() {
                    return Err(CoordinatorError::Fatal(format!(
                        "host `{name}` was lost, and its on_lost is fail"
                    )));
                }
            }
            (Reach::Lost { since }, true) if !stopping => {
                host.reach = Reach::Restarting { since };
                tracing::info!("host `{name}` is back: starting its part again");
                let setup = host.setup.clone();
                std::thread::spawn(move || restart(&asker, setup, &inputs));
            }
            (Reach::Stopping, false) => host.reach = Reach::Done,
            _ => {}
        }
        Ok(())
    }

    fn on_restarted(
        &mut self,
        name: &str,
        outcome: Result<Offset, AskError>,
    ) -> Result<(), CoordinatorError> {
        let reporter = self.reporter;
        let Some(host) = self.host(name) else {
            return Ok(());
        };
        let Reach::Restarting { since } = host.reach else {
            return Ok(());
        };
        match outcome {
            Ok(offset) => {
                host.reach = Reach::Running;
                host.offset = offset;
                reporter.send(event(EventKind::HostRecovered {
                    host: name.to_string(),
                    outage_ms: since.elapsed().as_millis() as u64,
                }));
                Ok(())
            }
            Err(AskError::Refused(reason)) => Err(CoordinatorError::Fatal(format!(
                "host `{name}` cannot run its part: {reason}"
            ))),
            Err(e) => {
                tracing::warn!("host `{name}` came back but did not take its part: {e}");
                host.reach = Reach::Lost { since };
                Ok(())
            }
        }
    }

    /// Once a second: the link counts, degraded links, hosts lost too long.
    fn tick(&mut self) -> Result<(), CoordinatorError> {
        // Once stopped, the last counts stand: the run's final ones.
        if let Some(bridges) = &self.bridges {
            self.own_links = bridges.statuses();
        }
        let mut links = self.own_links.clone();
        for host in &self.hosts {
            links.extend(host.links.iter().cloned());
        }
        for link in &links {
            if let Some(kind) = self.degraded.observe(link) {
                self.reporter.send(event(kind));
            }
        }
        self.reporter.send(LinkReport::Links { links });
        for host in &self.hosts {
            let (Some(since), Some(patience)) = (host.lost_since(), host.patience()) else {
                continue;
            };
            if since.elapsed() > patience && self.stopping.is_none() {
                return Err(CoordinatorError::Fatal(format!(
                    "host `{}` was lost for longer than its lost_timeout_s ({} s)",
                    host.name(),
                    patience.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// Stops the coordinator's bridges and asks every reachable host to
    /// stop; their summaries are awaited until the deadline.
    fn begin_stop(&mut self) {
        tracing::info!("stopping every host");
        self.stopping = Some(Instant::now() + SUMMARY_DEADLINE);
        self.bridges = None;
        for host in &mut self.hosts {
            host.reach = match host.reach {
                Reach::Running | Reach::Restarting { .. } => {
                    let (asker, name) = (self.asker.clone(), host.name().to_string());
                    // Its summary says it stopped; a missing one is told
                    // when the deadline passes.
                    std::thread::spawn(move || {
                        if let Err(e) = asker.stop(&name) {
                            tracing::debug!("stopping host `{name}`: {e}");
                        }
                    });
                    Reach::Stopping
                }
                Reach::Lost { .. } | Reach::Stopping | Reach::Done => Reach::Done,
            };
        }
    }
}

/// Hello and start again for a host whose agent came back.
fn restart(asker: &Asker, mut setup: HostSetup, inputs: &Sender<Input>) {
    let outcome = asker.hello(&setup.host).and_then(|offset| {
        setup
            .part
            .clock_offsets_ns
            .insert(setup.host.clone(), offset.offset_ns);
        asker.start(&setup.host, &setup.part).map(|()| offset)
    });
    let _ = inputs.send(Input::Restarted {
        host: setup.host,
        outcome,
    });
}
