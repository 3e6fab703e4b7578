//! `plexus dashboard` started as a user starts it, in a data directory of
//! the test's own: the address and token from its start line, and an end
//! by SIGTERM that must be clean. Dropped before, it is killed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::process::{spawn_plexus_with, PlexusRun, Running};

/// How long the dashboard may take to start listening.
const START: Duration = Duration::from_secs(30);

pub struct Dashboard {
    running: Running,
    pub addr: SocketAddr,
    /// The token the start line gives, wherever it listens.
    pub token: String,
    /// The start line.
    pub line: String,
}

impl Dashboard {
    /// `plexus dashboard ARGS…` with the data directory (journal, store)
    /// `data`, once its start line is out.
    pub fn start(data: &Path, args: &[&str], cwd: &Path) -> Self {
        let mut running = spawn_plexus_with(
            &[&["dashboard"], args].concat(),
            cwd,
            &[("PLEXUS_DATA_DIR", data)],
        );
        let line = running.wait_for("plexus: dashboard for ", START);
        let url = line
            .split("http://")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in `{line}`"));
        let (addr, query) = url.split_once('/').expect("http://ADDR/");
        let token = query
            .strip_prefix("?token=")
            .unwrap_or_else(|| panic!("no token in `{line}`"))
            .to_string();
        Self {
            running,
            addr: addr.parse().unwrap_or_else(|e| panic!("`{addr}`: {e}")),
            token,
            line,
        }
    }

    /// Waits for a line of its log containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        self.running.wait_for(needle, timeout)
    }

    /// Ends it as Ctrl-C or SIGTERM would; returns how it ended.
    pub fn stop(self) -> PlexusRun {
        self.running.signal(libc::SIGTERM);
        self.running.finish_within(Duration::from_secs(20))
    }
}
