//! `plexus runs`, `summary` and `wait`: the runs the journal keeps, how
//! each ended, and waiting for one to end (a detached run, above all).

use anyhow::Result;
use serde_json::{json, Value};

use crate::error::UserError;
use crate::journal::read::{self, Run, RunState};
use crate::journal::runs_dir;
use crate::run::summary::Summary;
use crate::table::render;

/// Lists the runs in the journal, newest first; returns the exit code.
pub fn runs(json: bool) -> Result<i32> {
    if json {
        println!("{}", runs_json()?);
        return Ok(0);
    }
    let dir = runs_dir()?;
    let runs = read::list(&dir);
    if runs.is_empty() {
        println!("the run journal ({}) holds no run yet", dir.display());
        return Ok(0);
    }
    let mut rows = vec![[
        "RUNTIME",
        "PIPELINE",
        "STATE",
        "STARTED (UTC)",
        "ELAPSED",
        "FILE",
    ]
    .map(String::from)
    .to_vec()];
    for run in &runs {
        rows.push(vec![
            run.info.runtime.clone(),
            run.info.pipeline.clone(),
            run.state.name().to_string(),
            utc(run.info.start_time_ns),
            elapsed_ms(run).map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
            run.info.file.display().to_string(),
        ]);
    }
    print!("{}", render(&rows));
    Ok(0)
}

/// `runs --json`: `{"runs": [R, …]}`, newest first.
pub fn runs_json() -> Result<Value, UserError> {
    let list: Vec<Value> = read::list(&runs_dir()?).iter().map(run_json).collect();
    Ok(json!({ "runs": list }))
}

/// R: `{"runtime", "pipeline", "file", "pid", "state", "start_time_ns", "elapsed_ms"}`.
fn run_json(run: &Run) -> Value {
    json!({
        "runtime": run.info.runtime,
        "pipeline": run.info.pipeline,
        "file": run.info.file,
        "pid": run.info.pid,
        "state": run.state.name(),
        "start_time_ns": run.info.start_time_ns,
        "elapsed_ms": elapsed_ms(run),
    })
}

fn elapsed_ms(run: &Run) -> Option<u64> {
    run.summary.as_ref()?["elapsed_ms"].as_u64()
}

/// Prints a run's summary, from the journal; returns the run's exit code.
pub fn summary(runtime: &str, json: bool) -> Result<i32> {
    let (_, summary) = ended_run(runtime)?;
    print_summary(summary, json)
}

/// `summary ID --json`: the summary of a run that ended.
pub fn summary_json(runtime: &str) -> Result<Value, UserError> {
    Ok(ended_run(runtime)?.1.to_json())
}

/// A run that ended, with its summary; one sentence for one that did not.
fn ended_run(runtime: &str) -> Result<(Run, Summary), UserError> {
    let run = Run::open(&runs_dir()?, runtime)?;
    match run.state {
        RunState::Running => Err(UserError::Plain(format!(
            "run {runtime} is still running: `plexus wait {runtime}` prints its summary when it ends"
        ))),
        RunState::Unfinished => Err(unfinished(&run)),
        RunState::Ended(_) => {
            let summary = read_summary(&run)?;
            Ok((run, summary))
        }
    }
}

/// Waits for a run to end, prints its summary and returns its exit code.
pub fn wait(runtime: &str, json: bool) -> Result<i32> {
    let mut run = Run::open(&runs_dir()?, runtime)?;
    while run.state == RunState::Running {
        crate::run::wait_for_exit(run.info.pid, None);
        run.refresh();
    }
    match run.state {
        RunState::Unfinished => {
            eprintln!("plexus: {}", unfinished(&run));
            Ok(1)
        }
        _ => {
            let summary = read_summary(&run)?;
            print_summary(summary, json)
        }
    }
}

fn unfinished(run: &Run) -> UserError {
    UserError::Plain(format!(
        "run {} ended without a summary: its supervisor (pid {}) was killed or failed before the end; `plexus events --runtime {}` and `plexus logs` show what it did",
        run.info.runtime, run.info.pid, run.info.runtime
    ))
}

fn read_summary(run: &Run) -> Result<Summary, UserError> {
    let value = run.summary.clone().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| {
        UserError::Plain(format!(
            "the summary of run {} in {} is damaged: {e}",
            run.info.runtime,
            run.dir.display()
        ))
    })
}

fn print_summary(summary: Summary, json: bool) -> Result<i32> {
    match json {
        true => println!("{}", summary.to_json()),
        false => println!("{}", summary.to_table()),
    }
    Ok(summary.exit_code())
}

/// `2026-12-01 17:20:05`.
pub fn utc(time_ns: u64) -> String {
    let secs = time_ns / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// well-known algorithm, from its description).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        // 2026-12-01 17:20:05 UTC.
        assert_eq!(utc(1_796_145_605 * 1_000_000_000), "2026-12-01 17:20:05");
        assert_eq!(utc(951_782_400 * 1_000_000_000), "2000-02-29 00:00:00");
    }
}
