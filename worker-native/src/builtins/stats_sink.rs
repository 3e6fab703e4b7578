//! `builtin.stats_sink`: the end of a pipeline that only wants numbers. The
//! worker lifecycle already counts frames, sequence gaps and latency for every
//! processor, so all this sink adds is a check that each frame is whole.

use ipc_schemas::ProcessorSpec;
use serde::Deserialize;
use worker_lifecycle::{Input, Outputs, Processor};

/// Takes no settings; parsing still refuses unknown keys so a typo is caught.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

pub(super) struct StatsSink {
    id: String,
}

impl StatsSink {
    pub(super) fn new(spec: &ProcessorSpec) -> Result<Self, String> {
        let Config {} = super::parse_config(spec)?;
        Ok(Self {
            id: spec.id.clone(),
        })
    }
}

impl Processor for StatsSink {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        super::check_video(input.header, input.data.len())
            .map_err(|e| format!("processor `{}`: {e}", self.id))
    }
}
