//! The one place a Zenoh session is configured: peer mode, no multicast
//! scouting and no gossip (peers connect only where told), a short lease so
//! a lost host is noticed within seconds, and the endpoints a user wrote,
//! checked before Zenoh sees them.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;
use zenoh::{Config, Session, Wait};

/// A link that stops answering is closed after this long; a lost host is
/// noticed within it.
pub const LEASE: Duration = Duration::from_secs(3);
/// The largest frame the link carries, header included; Zenoh refuses a
/// larger message instead of reassembling it.
pub const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("`{0}` is not a Zenoh TCP endpoint: write it as tcp/ADDRESS:PORT, for example tcp/10.0.0.2:7447")]
    Endpoint(String),
    #[error("cannot listen on {endpoint}: {reason}")]
    Listen { endpoint: String, reason: String },
    #[error("cannot start Zenoh: {0}")]
    Open(String),
}

/// A Zenoh TCP endpoint as a user wrote it: `tcp/HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    text: String,
    host: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, SessionError> {
        let bad = || SessionError::Endpoint(text.to_string());
        let rest = text.strip_prefix("tcp/").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
        if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad());
        }
        Ok(Self {
            text: text.to_string(),
            host: host.to_string(),
        })
    }

    /// True when only this machine can reach the address.
    pub fn is_loopback(&self) -> bool {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => self.host == "localhost",
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a session does on the network.
pub enum Role<'a> {
    /// An agent: listens on its one endpoint, connects nowhere.
    Agent { listen: &'a Endpoint },
    /// A coordinator: connects to every agent (and again after a link
    /// was lost), listens nowhere.
    Coordinator { agents: Vec<&'a Endpoint> },
}

pub fn open(role: Role) -> Result<Session, SessionError> {
    let config = config(&role)?;
    zenoh::open(config).wait().map_err(|e| match role {
        Role::Agent { listen } => SessionError::Listen {
            endpoint: listen.to_string(),
            reason: os_reason(&e.to_string()),
        },
        Role::Coordinator { .. } => SessionError::Open(e.to_string()),
    })
}

/// The system's words in a Zenoh error (`… bound to X: [X: Address already
/// in use (os error 98) at …]`), else the whole text.
fn os_reason(text: &str) -> String {
    let Some(end) = text.find(" (os error") else {
        return text.to_string();
    };
    let start = text[..end].rfind(": ").map_or(0, |i| i + 2);
    text[start..end].to_string()
}

fn config(role: &Role) -> Result<Config, SessionError> {
    let list = |endpoints: &[&Endpoint]| {
        let quoted: Vec<String> = endpoints
            .iter()
            .map(|e| format!("\"{}\"", e.as_str()))
            .collect();
        format!("[{}]", quoted.join(","))
    };
    let (listen, connect) = match role {
        Role::Agent { listen } => (list(&[listen]), list(&[])),
        Role::Coordinator { agents } => (list(&[]), list(agents)),
    };
    let lease_ms = LEASE.as_millis().to_string();
    let max_message = MAX_MESSAGE.to_string();
    let settings: [(&str, &str); 10] = [
        ("mode", "\"peer\""),
        ("listen/endpoints", &listen),
        ("connect/endpoints", &connect),
        ("scouting/multicast/enabled", "false"),
        ("scouting/gossip/enabled", "false"),
        ("transport/link/tx/lease", &lease_ms),
        ("transport/link/tx/keep_alive", "4"),
        ("transport/link/rx/max_message_size", &max_message),
        // Under `congestion: drop`, a frame waits this long (µs) for room
        // in the link's queue before it is dropped: a scheduling hiccup on
        // a busy host is not a loss, a link that cannot keep up still is.
        (
            "transport/link/tx/queue/congestion_control/drop/wait_before_drop",
            "20000",
        ),
        // A restarted agent is found again within a second.
        (
            "connect/retry",
            "{period_init_ms: 250, period_max_ms: 1000, period_increase_factor: 2}",
        ),
    ];
    let mut config = Config::default();
    for (key, value) in settings {
        config
            .insert_json5(key, value)
            .map_err(|e| SessionError::Open(format!("setting {key}: {e}")))?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_tcp_host_and_port() {
        let e = Endpoint::parse("tcp/10.0.0.2:7447").unwrap();
        assert!(!e.is_loopback());
        assert_eq!(e.as_str(), "tcp/10.0.0.2:7447");
        assert!(Endpoint::parse("tcp/127.0.0.1:7447").unwrap().is_loopback());
        assert!(Endpoint::parse("tcp/localhost:7447").unwrap().is_loopback());
        assert!(Endpoint::parse("tcp/[::1]:7447").unwrap().is_loopback());
        assert!(!Endpoint::parse("tcp/gpu-box.lan:7447")
            .unwrap()
            .is_loopback());
        for bad in [
            "udp/10.0.0.2:7447",
            "10.0.0.2:7447",
            "tcp/10.0.0.2",
            "tcp/:7447",
            "tcp/10.0.0.2:0",
            "tcp/10.0.0.2:99999",
            "tcp/a b:1",
            "tcp/x\";:1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_system_says_why_a_listener_failed() {
        let zenoh = "Can not create a new TCP listener bound to tcp/127.0.0.1:7448: [127.0.0.1:7448: Address already in use (os error 98) at /x/tcp.rs:61.] at /y/unicast.rs:338.";
        assert_eq!(os_reason(zenoh), "Address already in use");
        assert_eq!(os_reason("no system words"), "no system words");
    }

    #[test]
    fn every_role_has_a_valid_config() {
        let e = Endpoint::parse("tcp/127.0.0.1:7447").unwrap();
        let agent = config(&Role::Agent { listen: &e }).unwrap();
        assert!(agent
            .get_json("listen/endpoints")
            .unwrap()
            .contains("tcp/127.0.0.1:7447"));
        assert_eq!(
            agent.get_json("scouting/multicast/enabled").unwrap(),
            "false"
        );
        let coordinator = config(&Role::Coordinator { agents: vec![&e] }).unwrap();
        assert!(coordinator
            .get_json("connect/endpoints")
            .unwrap()
            .contains("tcp/127.0.0.1:7447"));
        assert!(!coordinator
            .get_json("listen/endpoints")
            .unwrap()
            .contains("tcp"));
    }
}
