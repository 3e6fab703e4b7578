//! `plexus-worker-python`: the worker process for Python processors. It
//! embeds CPython, hands processors zero-copy views of shared memory and
//! leaves the lifecycle to `worker-lifecycle`. The supervisor starts it (and
//! asks it `--python-info`); it is not meant to be run by hand.

// The libc functions through which a refusal of the sandbox becomes a
// violation naming the processor (worker-sandbox's `interpose`).
worker_sandbox::interpose!();

mod arrays;
mod buffer;
mod context;
mod frame;
mod host;
mod interpreter;
mod outputs;
mod state;
#[cfg(test)]
mod testing;
mod traceback;

use host::PythonHost;

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => run(),
        Some("--python-info") => match interpreter::describe() {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("plexus-worker-python: {e}");
                std::process::exit(1);
            }
        },
        Some("--check") => check(),
        Some(other) => {
            eprintln!(
                "plexus-worker-python: unknown argument `{other}`; it takes --python-info or --check"
            );
            std::process::exit(2);
        }
    }
}

/// `--check` (`plexus validate --deep`): imports each processor's
/// class as a run would, without calling its `setup`.
fn check() {
    worker_lifecycle::init_logging();
    if let Err(e) = interpreter::start() {
        eprintln!("plexus-worker-python: {e}");
        std::process::exit(1);
    }
    std::process::exit(worker_lifecycle::check_processors(&mut PythonHost));
}

fn run() {
    worker_lifecycle::init_logging();
    // Before the interpreter starts, so no Python code runs unconfined.
    if let Err(e) = worker_sandbox::enter(worker_sandbox::WorkerKind::Python) {
        tracing::error!("cannot enter the worker's sandbox: {e}");
        std::process::exit(1);
    }
    if let Err(e) = interpreter::start() {
        tracing::error!("{e}");
        std::process::exit(1);
    }
    let outcome = worker_lifecycle::run_worker(&mut PythonHost);
    // A run that failed before its teardown may still retain frames; they
    // must go before exit, whose thread-local destructors cannot drop them.
    pyo3::Python::attach(|_| frame::release_retained());
    if let Err(e) = outcome {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
