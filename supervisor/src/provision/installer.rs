//! Running an installer (pip, npm) on the user's behalf: its output goes to
//! the log line by line under a prefix, so the first run's progress is
//! visible, and a failure is summed up by its last error line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs `command`, logging its output as `[prefix] line`. On failure,
/// returns one line that says why: the tool's last error line, or how it
/// ended.
pub fn run_logged(mut command: Command, prefix: &str) -> Result<(), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        tracing::info!("[{prefix}] {line}");
    }
    let errors = errors.join().unwrap_or_default();
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    for line in &errors {
        tracing::warn!("[{prefix}] {line}");
    }
    let last = errors
        .iter()
        .rev()
        .find(|l| l.contains("ERR"))
        .or(errors.last());
    Err(last
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("{program} ended with {status}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_summed_up_by_its_last_error_line() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo working; echo 'ERROR: first' >&2; echo 'ERROR: no such package' >&2; exit 3",
        ]);
        assert_eq!(
            run_logged(command, "test").unwrap_err(),
            "ERROR: no such package"
        );
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo fine"]);
        assert!(run_logged(ok, "test").is_ok());
        assert!(run_logged(Command::new("/no/such/tool"), "test")
            .unwrap_err()
            .starts_with("cannot run /no/such/tool"));
    }
}
