//! Everything the coordinator's loop reacts to, from whichever thread saw
//! it: the supervisor's commands on stdin, an agent's liveliness and news,
//! a restarted host, stdout gone.

use std::io::BufRead;

use crossbeam_channel::Sender;
use ipc_schemas::link::{LinkCommand, LinkStatus};
use ipc_schemas::{RuntimeEvent, RuntimeStatus};

use super::ask::AskError;
use crate::clock::Offset;

pub enum Input {
    Command(LinkCommand),
    /// The supervisor closed our stdin: it is gone or wants us gone.
    StdinClosed,
    /// Our stdout is closed: nobody reads the reports any more.
    SupervisorGone,
    Alive {
        host: String,
        alive: bool,
    },
    News {
        host: String,
        news: News,
    },
    /// A lost host's agent came back and was asked to run its part again.
    Restarted {
        host: String,
        outcome: Result<Offset, AskError>,
    },
}

/// What an agent published about its part.
pub enum News {
    Status(Box<RuntimeStatus>),
    Event(Box<RuntimeEvent>),
    Links(Vec<LinkStatus>),
    Log { worker: String, line: String },
    Summary(serde_json::Value),
}

/// The keys of `host_key` an agent publishes on.
pub const NEWS_KEYS: [&str; 5] = ["status", "event", "links", "log", "summary"];

impl News {
    /// Reads a sample published on key `what`; `None` when it is not what
    /// that key carries.
    pub fn read(what: &str, bytes: &[u8]) -> Option<Self> {
        let value: serde_json::Value = crate::wire::decode_bytes(bytes).ok()?;
        Some(match what {
            "status" => Self::Status(Box::new(serde_json::from_value(value).ok()?)),
            "event" => Self::Event(Box::new(RuntimeEvent::from_json(&value)?)),
            "links" => Self::Links(serde_json::from_value(value).ok()?),
            "log" => Self::Log {
                worker: value.get("worker")?.as_str()?.to_string(),
                line: value.get("line")?.as_str()?.to_string(),
            },
            "summary" => Self::Summary(value),
            _ => return None,
        })
    }
}

/// Reads the supervisor's commands, one JSON object per line, until EOF.
pub fn read_commands(stdin: impl BufRead, inputs: Sender<Input>) {
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LinkCommand>(&line) {
            Ok(command) => {
                if inputs.send(Input::Command(command)).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!("ignoring a command that is not one: {e}"),
        }
    }
    let _ = inputs.send(Input::StdinClosed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_is_read_by_its_key_and_garbage_is_not() {
        let log = News::read("log", br#"{"worker":"w","line":"hi"}"#);
        assert!(matches!(log, Some(News::Log { worker, line }) if worker == "w" && line == "hi"));
        assert!(News::read("links", b"[]").is_some());
        assert!(News::read("status", b"[]").is_none());
        assert!(News::read("event", br#"{"kind":"nonsense"}"#).is_none());
        assert!(News::read("log", b"\xff\x00").is_none());
        assert!(News::read("other", b"{}").is_none());
    }

    #[test]
    fn commands_are_read_until_eof() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let text = "\"stop\"\nnot json\n\n{\"restart_worker\":{\"host\":\"b\",\"worker\":\"w\"}}\n";
        read_commands(text.as_bytes(), tx);
        let got: Vec<Input> = rx.try_iter().collect();
        assert!(matches!(got[0], Input::Command(LinkCommand::Stop)));
        assert!(
            matches!(&got[1], Input::Command(LinkCommand::RestartWorker { host, .. }) if host == "b")
        );
        assert!(matches!(got[2], Input::StdinClosed));
        assert_eq!(got.len(), 3);
    }
}
