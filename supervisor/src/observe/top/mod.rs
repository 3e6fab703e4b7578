//! `plexus top`: a full-screen view of one runtime, refreshed every second:
//! a row per worker, processor and port with rates, losses, latency, queue
//! depth, CPU and memory (`model`), drawn with ratatui (`view`). It asks the
//! runtime for the same status `ps` prints; `--json` prints one snapshot.

pub mod format;
mod model;
mod view;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ipc_schemas::{ControlReply, ControlRequest, RuntimeStatus};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::widgets::Paragraph;
use ratatui::DefaultTerminal;

use crate::error::UserError;
use crate::observe::client::{self, leave_ending_runtime, Client, LiveRuntime};
use model::{Direction, SortKey};
use view::Screen;

/// How often the view asks the runtime for its status.
const REFRESH: Duration = Duration::from_secs(1);
/// Rows PageUp and PageDown move.
const PAGE: usize = 10;

/// Shows runtime `runtime` (or the only one running) until the user quits
/// or the runtime ends; with `json`, prints its status once. Returns the
/// exit code.
pub fn top(runtime: Option<&str>, json: bool) -> Result<i32> {
    let chosen = client::choose_runtime(runtime)?;
    let client = Client::connect(&chosen.id)?;
    if json {
        // The same object as one of `ps --json`'s runtimes.
        println!("{}", serde_json::to_string(&client.status()?)?);
        return Ok(0);
    }
    if !std::io::stdout().is_terminal() {
        return Err(UserError::Plain(
            "`plexus top` draws on a terminal and its output is not one; `plexus top --json` prints one snapshot".into(),
        )
        .into());
    }
    let end = {
        let mut tty = Tty::open()?;
        watch(&mut tty.0, &client, &chosen)?
    };
    if end == End::RuntimeEnded {
        println!("runtime {} ended", chosen.id);
        leave_ending_runtime(client);
    }
    Ok(0)
}

/// Why the view closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The user pressed q, Esc or Ctrl-C.
    Quit,
    /// The runtime's supervisor is gone.
    RuntimeEnded,
}

/// The terminal in raw mode on its alternate screen, given back as it was
/// when dropped, on an error too; ratatui's panic hook does the same on a
/// panic.
struct Tty(DefaultTerminal);

impl Tty {
    fn open() -> Result<Self> {
        match ratatui::try_init() {
            Ok(terminal) => Ok(Self(terminal)),
            Err(e) => {
                ratatui::restore();
                Err(e).context("setting up the terminal")
            }
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Asks for the status every [`REFRESH`] and draws it, answering keys in
/// between.
fn watch(terminal: &mut DefaultTerminal, client: &Client, runtime: &LiveRuntime) -> Result<End> {
    let mut sort = SortKey::Pipeline;
    let mut direction = Direction::Descending;
    let mut last: Option<RuntimeStatus> = None;
    let mut scroll = 0;
    loop {
        if !alive(runtime.pid) {
            return Ok(End::RuntimeEnded);
        }
        let note = match client.try_request(|reply_to| ControlRequest::Status { reply_to }) {
            Ok(Some(ControlReply::Status(status))) => {
                last = Some(status);
                None
            }
            Ok(Some(other)) => Some(format!("the runtime answered out of turn: {other:?}")),
            Ok(None) => Some("the runtime is starting or stopping".to_string()),
            Err(_) if !alive(runtime.pid) => return Ok(End::RuntimeEnded),
            Err(e) => Some(format!("{e:#}")),
        };
        let next = Instant::now() + REFRESH;
        loop {
            terminal
                .draw(|frame| match &last {
                    Some(status) => {
                        let screen = Screen {
                            status,
                            sort,
                            direction,
                            note: note.as_deref(),
                            scroll,
                        };
                        scroll = view::draw(frame, &screen);
                    }
                    None => frame.render_widget(
                        Paragraph::new(format!(
                            "waiting for runtime {} to answer{}",
                            runtime.id,
                            note.as_deref()
                                .map(|n| format!(": {n}"))
                                .unwrap_or_default()
                        )),
                        frame.area(),
                    ),
                })
                .context("drawing")?;
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !event::poll(left).context("reading the keyboard")? {
                continue;
            }
            // Anything else (a resize) only needs the redraw above.
            let Event::Key(key) = event::read().context("reading the keyboard")? else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(End::Quit),
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(End::Quit)
                }
                KeyCode::Char('s') => sort = sort.next(),
                KeyCode::Char('r') => direction = direction.reversed(),
                KeyCode::Up | KeyCode::Char('k') => scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => scroll += 1,
                KeyCode::PageUp => scroll = scroll.saturating_sub(PAGE),
                KeyCode::PageDown => scroll += PAGE,
                KeyCode::Home => scroll = 0,
                _ => {}
            }
        }
    }
}

/// Whether process `pid` (the supervisor) still exists.
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 only checks; EPERM would mean it exists as another user's.
    !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}
