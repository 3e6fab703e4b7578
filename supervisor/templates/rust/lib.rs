//! `{{name}}`: a plexus processor that brightens RGBA8 video. Each red,
//! green and blue byte becomes `min(255, byte + amount)`; alpha is kept.

use plexus_plugin_sdk::serde_json::Value;
use plexus_plugin_sdk::{export_plugin, InputFrame, OutputPorts, Processor};

const OUT: usize = 0;
const BYTES_PER_PIXEL: usize = 4;

struct {{class}} {
    amount: u8,
}

impl Processor for {{class}} {
    /// `config` holds the pipeline's `config:` with the defaults from
    /// plexus.yaml filled in, already checked against its ranges.
    fn setup(config: &Value) -> Result<Self, String> {
        let amount = config["amount"].as_u64().and_then(|a| u8::try_from(a).ok());
        let amount = amount.ok_or("config `amount` must be an integer from 0 to 255")?;
        Ok({{class}} { amount })
    }

    // Optional: `plexus set <id> amount=80` while it runs hands the changed
    // keys to `fn on_config(&mut self, changes: &Value) -> Result<(), ConfigError>`
    // between frames; without it, the worker restarts to take them.

    fn process(&mut self, input: &InputFrame<'_>, out: &mut OutputPorts<'_>) -> Result<(), String> {
        // The output buffer is shared memory: filled in place, sent without a copy.
        let buf = out.loan(OUT, input.data.len())?;
        let pixels = buf
            .chunks_exact_mut(BYTES_PER_PIXEL)
            .zip(input.data.chunks_exact(BYTES_PER_PIXEL));
        for (dst, src) in pixels {
            for c in 0..3 {
                dst[c] = src[c].saturating_add(self.amount);
            }
            dst[3] = src[3];
        }
        // Same width, height, stride and sequence number as the input.
        out.send(OUT, &input.header)
    }
}

export_plugin!({{class}} => "{{name}}");
