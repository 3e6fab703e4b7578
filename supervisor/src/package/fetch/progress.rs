//! How far a download is, for a person watching: one line on stderr,
//! redrawn in place (bytes so far, of how many, and the rate), only when
//! stderr is a terminal, so logs and pipes get none of it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress line on stderr, redrawn in place, when stderr is a terminal;
/// nothing otherwise.
pub struct Progress {
    shown: bool,
    label: String,
    pub total: Option<u64>,
    pub done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// `label` names what is downloaded.
    pub fn new(label: String) -> Self {
        Self {
            shown: std::io::stderr().is_terminal(),
            label,
            total: None,
            done: 0,
            started: Instant::now(),
            drawn: None,
        }
    }

    pub fn advance(&mut self, done: u64) {
        self.done = done;
        let due = self
            .drawn
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
        if self.shown && due {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let mib = |n: u64| n as f64 / f64::from(1 << 20);
        let rate = mib(self.done) / self.started.elapsed().as_secs_f64().max(1e-3);
        let of = match self.total {
            Some(total) if total > 0 => {
                format!(" / {:.1} MiB ({:>3}%)", mib(total), self.done * 100 / total)
            }
            _ => String::new(),
        };
        eprint!(
            "\r\x1b[2K{}  {:.1} MiB{of}  {rate:.1} MiB/s",
            self.label,
            mib(self.done)
        );
        self.drawn = Some(Instant::now());
    }

    pub fn finish(&mut self) {
        if self.shown && self.drawn.is_some() {
            self.draw();
            eprintln!();
        }
    }
}
