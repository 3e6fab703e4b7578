//! How every plexus process writes its log: one line per event, on stderr.
//!
//! iceoryx2 logs through `tracing` with an `origin` field that holds the
//! Debug dump of the object that logged (a service builder is about 6 KB),
//! so one warning such as "Detected dead node" would fill a screen. The
//! field formatter here leaves `origin` out; the message itself says what
//! happened, and the supervisor prefixes a worker's lines with its name.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

/// The field iceoryx2's tracing logger fills with its caller's Debug dump.
const ORIGIN: &str = "origin";

/// Whose log is set up: the supervisor's lines carry the time, a worker's
/// are prefixed by the supervisor, which adds it.
#[derive(Clone, Copy)]
pub enum Process {
    /// `plexus` itself: the supervisor or an observer.
    Plexus,
    /// A worker, whose stderr the supervisor relays as "[<worker>] line".
    Worker,
}

/// Installs the process's log subscriber. `RUST_LOG` overrides the level.
pub fn init(process: Process) {
    let default = match process {
        Process::Plexus => "info,iceoryx2=warn",
        Process::Worker => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .fmt_fields(Fields);
    match process {
        Process::Plexus => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        Process::Worker => builder.with_ansi(false).without_time().init(),
    }
}

/// Formats an event's fields as `message key=value …`, without `origin`.
pub struct Fields;

impl<'w> FormatFields<'w> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() || field.name() == ORIGIN {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{separator}{value}")
        } else {
            write!(self.writer, "{separator}{}={value}", field.name())
        };
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn an_origin_dump_is_left_out_and_the_rest_kept() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(Fields)
            .finish();
        let origin = format_args!("{}", "x".repeat(6000));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(origin, "{}", "Detected dead node 7 in service abc.");
            tracing::info!(seq = 3, name = "cam", "worker spawned");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            " WARN Detected dead node 7 in service abc.\n INFO worker spawned seq=3 name=\"cam\"\n"
        );
    }
}
