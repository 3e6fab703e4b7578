//! `plexus-worker-native`: the worker process for Rust processors. It hosts
//! the builtins and dylib plugins and leaves the lifecycle to
//! `worker-lifecycle`. The supervisor starts it; it is not meant to be run by hand.

// The libc functions through which a refusal of the sandbox becomes a
// violation naming the processor (worker-sandbox's `interpose`).
worker_sandbox::interpose!();

mod builtins;
mod plugin_host;

use ipc_schemas::{Entry, ProcessorSpec};
use plugin_host::PluginLibraries;
use worker_lifecycle::{Processor, ProcessorHost};

/// Builtins by name, plugins by library path.
struct NativeHost {
    plugins: PluginLibraries,
}

impl ProcessorHost for NativeHost {
    fn create(&mut self, spec: &ProcessorSpec) -> Result<Box<dyn Processor>, String> {
        match &spec.entry {
            Entry::Builtin => builtins::create(spec),
            Entry::Dylib { path } => self.plugins.create(spec, path),
            other => Err(format!("the native worker cannot host {other:?}")),
        }
    }

    fn check(&mut self, spec: &ProcessorSpec) -> Result<(), String> {
        match &spec.entry {
            // Their configs were checked against builtins.yaml already.
            Entry::Builtin => Ok(()),
            Entry::Dylib { path } => self.plugins.check(spec, path),
            other => Err(format!("the native worker cannot host {other:?}")),
        }
    }
}

fn main() {
    worker_lifecycle::init_logging();
    // Before any plugin library is opened.
    if let Err(e) = worker_sandbox::enter(worker_sandbox::WorkerKind::Native) {
        tracing::error!("cannot enter the worker's sandbox: {e}");
        std::process::exit(1);
    }
    let mut host = NativeHost {
        plugins: PluginLibraries::new(),
    };
    // `--check` (`plexus validate --deep`): opens each plugin library and
    // checks its descriptor, without creating a processor.
    if std::env::args().nth(1).as_deref() == Some("--check") {
        std::process::exit(worker_lifecycle::check_processors(&mut host));
    }
    if let Err(e) = worker_lifecycle::run_worker(&mut host) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
