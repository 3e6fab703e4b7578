//! `--check`: a worker started by `plexus validate --deep` loads each
//! processor it is given as it would for a run, short of running its code,
//! and says what failed, so that the errors `run` would meet are found
//! without starting a pipeline.

use ipc_schemas::ProcessorSpec;

use crate::ProcessorHost;

/// Checks every processor of the JSON array of [`ProcessorSpec`] on stdin,
/// printing one JSON object `{"processor", "message"}` per failure on
/// stdout; returns the process's exit code (2 if stdin is no such array).
pub fn check_processors(host: &mut dyn ProcessorHost) -> i32 {
    let specs: Vec<ProcessorSpec> = match serde_json::from_reader(std::io::stdin().lock()) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("--check reads a JSON array of processor specs on stdin: {e}");
            return 2;
        }
    };
    for spec in &specs {
        if let Err(message) = host.check(spec) {
            let failure = serde_json::json!({ "processor": spec.id, "message": message });
            println!("{failure}");
        }
    }
    0
}
