//! The coordinator's view of each remote host: whether it is reachable and
//! runs its part (`Reach`), its clock offset, the latest counts of the ports
//! it imports, and the subscriptions that bring its liveliness and news
//! into the coordinator's loop.

use std::time::Instant;

use crossbeam_channel::Sender;
use ipc_schemas::link::{agent_key, host_key, HostSetup, LinkStatus, OnLost};
use zenoh::pubsub::Subscriber;
use zenoh::sample::SampleKind;
use zenoh::{Session, Wait};

use super::input::{Input, News, NEWS_KEYS};
use crate::clock::Offset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Its agent answers and runs its part.
    Running,
    /// Its agent or the link went away at `since`.
    Lost { since: Instant },
    /// Its agent is back and is being asked to run its part again.
    Restarting { since: Instant },
    /// Asked to stop; its summary is awaited.
    Stopping,
    /// Its summary arrived, or it never will (it was lost).
    Done,
}

pub struct Host {
    pub setup: HostSetup,
    pub reach: Reach,
    pub offset: Offset,
    /// The counts of the ports it imports, as it last sent them.
    pub links: Vec<LinkStatus>,
    _watch: Vec<Subscriber<()>>,
}

impl Host {
    /// A host whose part runs, watched from now on.
    pub fn running(
        session: &Session,
        runtime: &str,
        setup: HostSetup,
        offset: Offset,
        inputs: &Sender<Input>,
    ) -> Result<Self, zenoh::Error> {
        let name = &setup.host;
        let mut watch = Vec::new();
        let (alive_tx, alive_name) = (inputs.clone(), name.clone());
        watch.push(
            session
                .liveliness()
                .declare_subscriber(agent_key(name, "alive"))
                .callback(move |sample| {
                    let alive = sample.kind() == SampleKind::Put;
                    let host = alive_name.clone();
                    let _ = alive_tx.send(Input::Alive { host, alive });
                })
                .wait()?,
        );
        for what in NEWS_KEYS {
            let (tx, host) = (inputs.clone(), name.clone());
            watch.push(
                session
                    .declare_subscriber(host_key(runtime, name, what))
                    .callback(move |sample| {
                        let payload = sample.payload();
                        let news = match payload.len() <= crate::wire::MAX_JSON {
                            true => News::read(what, &payload.to_bytes()),
                            false => None,
                        };
                        match news {
                            Some(news) => {
                                let host = host.clone();
                                let _ = tx.send(Input::News { host, news });
                            }
                            None => tracing::warn!("dropped a garbled `{what}` sample from {host}"),
                        }
                    })
                    .wait()?,
            );
        }
        Ok(Self {
            setup,
            reach: Reach::Running,
            offset,
            links: Vec::new(),
            _watch: watch,
        })
    }

    pub fn name(&self) -> &str {
        &self.setup.host
    }

    /// How long a lost host may stay away; `None` under `on_lost: fail`.
    pub fn patience(&self) -> Option<std::time::Duration> {
        match self.setup.on_lost {
            OnLost::Wait { timeout_ms } => Some(std::time::Duration::from_millis(timeout_ms)),
            OnLost::Fail => None,
        }
    }

    /// Since when it has been out of reach, if it is.
    pub fn lost_since(&self) -> Option<Instant> {
        match self.reach {
            Reach::Lost { since } | Reach::Restarting { since } => Some(since),
            _ => None,
        }
    }
}
