//! What `run` tells before any worker starts about its sandboxes: the
//! processors that run unconfined, and what the pipeline's `allow:` grants
//! beyond a package — the two things a user must not learn by surprise.

use ipc_schemas::{Permissions, SandboxMode};

use crate::load::plan::Plan;

/// What `run` says before any worker starts, one line each: processors
/// whose worker runs with no sandbox (`Off`, red on a terminal) and what
/// the pipeline's `allow:` grants beyond a package.
pub fn banner(plan: &Plan) -> Vec<Notice> {
    let unconfined: Vec<&str> = plan
        .workers
        .iter()
        .filter(|w| w.sandbox.mode == SandboxMode::Off)
        .flat_map(|w| w.processors.iter().map(String::as_str))
        .collect();
    let mut lines = Vec::new();
    for p in &plan.processors {
        if unconfined.contains(&p.spec.id.as_str()) {
            lines.push(Notice::Unconfined(format!(
                "processor `{}` runs with no sandbox (sandbox: off in the pipeline)",
                p.spec.id
            )));
        }
        if !p.sandbox.allowed.is_empty() {
            lines.push(Notice::Allowed(format!(
                "processor `{}` is allowed beyond its package's permissions: {}",
                p.spec.id,
                items(&p.sandbox.allowed).join(", ")
            )));
        }
    }
    lines
}

/// A line of the start banner.
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    /// Nothing is enforced: shown in red.
    Unconfined(String),
    /// The pipeline grants more than a package asks for.
    Allowed(String),
}

/// Prints the start banner on stderr, the unconfined in red on a terminal.
pub fn print_banner(plan: &Plan) {
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal();
    for notice in banner(plan) {
        match notice {
            Notice::Unconfined(line) if colour => eprintln!("\x1b[31mplexus: {line}\x1b[0m"),
            Notice::Unconfined(line) | Notice::Allowed(line) => eprintln!("plexus: {line}"),
        }
    }
}

/// Each thing `permissions` grants, as `read /data` or `connect host:443`.
pub fn items(permissions: &Permissions) -> Vec<String> {
    let paths = [
        ("read", &permissions.read),
        ("write", &permissions.write),
        ("devices", &permissions.devices),
    ];
    let mut items: Vec<String> = paths
        .iter()
        .flat_map(|(kind, list)| list.iter().map(move |p| format!("{kind} {}", p.display())))
        .collect();
    items.extend(permissions.connect.iter().map(|e| format!("connect {e}")));
    items.extend(permissions.listen.iter().map(|p| format!("listen {p}")));
    if permissions.spawn {
        items.push("spawn processes".to_string());
    }
    items
}
