//! The coordinator's stdout: one `LinkReport` per line, written by one
//! thread so that a supervisor that reads slowly holds up only that thread.
//! Periodic reports are dropped rather than queued without end; when stdout
//! is closed, the coordinator is told its supervisor is gone.

use std::io::Write;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use ipc_schemas::link::LinkReport;

use super::input::Input;

/// Reports waiting to be written.
const QUEUED: usize = 1024;

pub struct Reporter {
    lines: Option<Sender<LinkReport>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    pub fn start(out: impl Write + Send + 'static, inputs: Sender<Input>) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<LinkReport>(QUEUED);
        let thread = std::thread::spawn(move || {
            let mut out = out;
            for report in rx {
                let line = crate::wire::encode(&report);
                let written = out
                    .write_all(&line)
                    .and_then(|_| out.write_all(b"\n"))
                    .and_then(|_| out.flush());
                if written.is_err() {
                    let _ = inputs.send(Input::SupervisorGone);
                    return;
                }
            }
        });
        Self {
            lines: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn send(&self, report: LinkReport) {
        let Some(lines) = &self.lines else { return };
        let periodic = matches!(
            report,
            LinkReport::Status { .. } | LinkReport::Links { .. } | LinkReport::Log { .. }
        );
        match periodic {
            true => {
                if let Err(TrySendError::Full(_)) = lines.try_send(report) {
                    tracing::debug!("the supervisor reads slowly: a periodic report was dropped");
                }
            }
            false => {
                let _ = lines.send(report);
            }
        }
    }

    /// Writes what is queued, then returns.
    pub fn finish(mut self) {
        self.lines = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reports_are_lines_and_a_closed_stdout_is_news() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let reporter = Reporter::start(Shared(buffer.clone()), tx.clone());
        reporter.send(LinkReport::Ready);
        reporter.finish();
        assert_eq!(&*buffer.lock().unwrap(), b"\"ready\"\n");
        assert!(rx.try_recv().is_err());

        let reporter = Reporter::start(Closed, tx);
        reporter.send(LinkReport::Ready);
        reporter.finish();
        assert!(matches!(rx.try_recv(), Ok(Input::SupervisorGone)));
    }
}
