//! Parts of the report's page that every section's renderer shares: the
//! heading that says how the figures were taken, and the targets' table.

use std::fmt::Write as _;

use crate::target::Target;

/// The report's first lines: its title, then how the run went.
pub fn heading(title: &str, quick: bool, load_before: &str, load_after: &str) -> String {
    let mode = if quick {
        "quick run: proves the harness, the figures mean little"
    } else {
        "full run"
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "# {title}\n\n\
         {mode}; {cores} cores; load average (1, 5, 15 min) {load_before} before, \
         {load_after} after. Release build.\n\n"
    )
}

pub fn render_targets(out: &mut String, targets: &[Target]) {
    let _ = writeln!(
        out,
        "## Targets\n\n| figure | target | measured | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for target in targets {
        let _ = writeln!(out, "{}", target_row(target));
    }
    out.push('\n');
}

/// One line of a targets table.
pub fn target_row(target: &Target) -> String {
    let (measured, verdict) = match &target.measured {
        Some((text, true)) => (text.as_str(), "met"),
        Some((text, false)) => (text.as_str(), "**missed**"),
        None => ("–", "not measured"),
    };
    format!(
        "| {} | {} | {measured} | {verdict} |",
        target.what, target.bound
    )
}
