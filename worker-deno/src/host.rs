//! The lifecycle thread: runs the worker lifecycle with a [`ProcessorHost`]
//! whose processors forward every call to JavaScript over the bridge.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Once;

use ipc_schemas::{ConfigOutcome, DenoCreate, FrameHeader, ProcessorSpec};
use worker_lifecycle::{
    check_state_size, Input, Outputs, Ports, Processor, ProcessorHost, Producer, NO_RESTORE,
};

use crate::bridge::{Answer, DataPtr, Event, FrameRef, RuntimeEnd};

/// The body of the lifecycle thread: the whole worker lifecycle, then the
/// exit event that tells JavaScript to end the process with its code.
pub fn run(end: RuntimeEnd) {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(worker_lifecycle::init_logging);
    let end = Rc::new(end);
    let mut host = DenoHost {
        end: Rc::clone(&end),
        created: 0,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| worker_lifecycle::run_worker(&mut host)));
    drop(host);
    let (code, message) = match outcome {
        Ok(Ok(())) => (0, String::new()),
        Ok(Err(e)) => (1, e.to_string()),
        Err(panic) => (
            101,
            format!("the lifecycle thread panicked: {}", panic_text(&panic)),
        ),
    };
    if code != 0 {
        tracing::error!("{message}");
    }
    end.exit(code, message);
}

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Hosts TypeScript classes named by [`Entry::Deno`].
struct DenoHost {
    end: Rc<RuntimeEnd>,
    /// Processors created so far; the next one gets this index.
    created: u32,
}

impl ProcessorHost for DenoHost {
    fn create(&mut self, spec: &ProcessorSpec) -> Result<Box<dyn Processor>, String> {
        let index = self.created;
        let json = create_json(index, spec)?;
        self.end.call(Event::Create { json }, None)?;
        self.created += 1;
        Ok(Box::new(DenoProcessor {
            end: Rc::clone(&self.end),
            index,
            id: spec.id.clone(),
        }))
    }
}

/// A processor living in JavaScript, by its index there.
struct DenoProcessor {
    end: Rc<RuntimeEnd>,
    index: u32,
    id: String,
}

impl Processor for DenoProcessor {
    fn process(&mut self, input: &Input<'_>, outputs: &mut Outputs<'_>) -> Result<(), String> {
        self.process_synced(std::slice::from_ref(input), outputs)
    }

    /// `process(ctx, inputs)` with every frame given, keyed by input.
    fn process_synced(
        &mut self,
        inputs: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        let frames = inputs
            .iter()
            .map(|input| FrameRef {
                port: input.port as u32,
                header: *input.header,
                data: DataPtr(input.data.as_ptr().cast_mut()),
                len: input.data.len(),
            })
            .collect();
        let event = Event::Process {
            processor: self.index,
            frames,
        };
        self.end.call(event, Some(outputs as &mut dyn Ports))
    }

    /// One `produce(ctx)` call of a continuous processor; the worker only
    /// calls it for one (`create_json` told JavaScript to expect it).
    fn produce(&mut self, next: &FrameHeader, outputs: &mut Outputs<'_>) -> Result<(), String> {
        let event = Event::Produce {
            processor: self.index,
            header: *next,
        };
        self.end.call(event, Some(outputs as &mut dyn Ports))
    }

    /// A manual processor's `start(ctx)`; JavaScript sends through
    /// `producer` from then on, between calls.
    fn start(&mut self, producer: Producer) -> Result<(), String> {
        self.end.start(self.index, producer)
    }

    fn stop(&mut self) -> Result<(), String> {
        self.end.stop(self.index)
    }

    fn on_pause(&mut self) {
        self.hook(Event::Pause {
            processor: self.index,
        });
    }

    fn on_resume(&mut self) {
        self.hook(Event::Resume {
            processor: self.index,
        });
    }

    /// `onConfig(changes)` in JavaScript, if the processor has it.
    fn on_config(&mut self, changes_json: &str) -> ConfigOutcome {
        let event = Event::Config {
            processor: self.index,
            changes_json: changes_json.to_owned(),
        };
        match self.end.ask(event, None) {
            Ok(Answer::Done) => ConfigOutcome::Applied,
            Ok(Answer::NoHook) => ConfigOutcome::NoHook,
            Ok(Answer::State(_)) => ConfigOutcome::Failed {
                message: "the Deno host answered a config change with a state".to_owned(),
            },
            Err(message) => ConfigOutcome::Failed { message },
        }
    }

    /// `snapshot()` in JavaScript, if the processor has it.
    fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
        let event = Event::Snapshot {
            processor: self.index,
        };
        match self.end.ask(event, None)? {
            Answer::State(state) => {
                check_state_size(&self.id, state.len())?;
                Ok(Some(state))
            }
            Answer::NoHook => Ok(None),
            Answer::Done => Err(format!(
                "the Deno host answered the snapshot of `{}` without a state",
                self.id
            )),
        }
    }

    /// `restore(state)` in JavaScript, if the processor has it.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let event = Event::Restore {
            processor: self.index,
            state: state.to_vec(),
        };
        match self.end.ask(event, None)? {
            Answer::Done => Ok(()),
            Answer::NoHook => Err(NO_RESTORE.to_owned()),
            Answer::State(_) => Err(format!(
                "the Deno host answered the restore of `{}` with a state",
                self.id
            )),
        }
    }

    fn teardown(&mut self) {
        self.hook(Event::Teardown {
            processor: self.index,
        });
    }
}

impl DenoProcessor {
    /// Calls a hook in JavaScript; its failure is logged, as nothing waits
    /// for its outcome.
    fn hook(&self, event: Event) {
        if let Err(message) = self.end.call(event, None) {
            tracing::error!("processor `{}`: {message}", self.id);
        }
    }
}

/// Describes processor `index` to `host.ts` (see [`DenoCreate`]).
pub fn create_json(index: u32, spec: &ProcessorSpec) -> Result<String, String> {
    let create = DenoCreate::describe(index, spec)?;
    serde_json::to_string(&create).map_err(|e| format!("describing the processor: {e}"))
}

#[cfg(test)]
mod tests {
    use ipc_schemas::{Accepts, Entry, InputSpec, OutputSpec, SchemaId};
    use serde_json::json;
    use serde_json::Value;

    use super::*;

    fn spec(entry: Entry, config_json: &str) -> ProcessorSpec {
        ProcessorSpec {
            id: "bar".into(),
            type_name: "example.frame_counter_bar".into(),
            entry,
            config_json: config_json.into(),
            inputs: vec![InputSpec {
                port: "in".into(),
                accepts: Accepts::Exactly(SchemaId::VideoRgba8),
                from_processor: "camera".into(),
                from_port: "out".into(),
                subscribers: 3,
            }],
            outputs: vec![OutputSpec {
                port: "out".into(),
                schema: SchemaId::VideoRgba8,
                subscribers: 3,
            }],
            frame_limit: None,
            mode: ipc_schemas::Mode::Reactive,
            sync: ipc_schemas::SyncPolicy::Any,
        }
    }

    fn deno() -> Entry {
        Entry::Deno {
            package_dir: "/pkg".into(),
            file: "/pkg/src/overlay.ts".into(),
            export: "FrameCounterBar".into(),
        }
    }

    #[test]
    fn create_describes_entry_config_and_ports() {
        let text = create_json(2, &spec(deno(), r#"{"every": 10}"#)).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "index": 2,
                "id": "bar",
                "type": "example.frame_counter_bar",
                "package_dir": "/pkg",
                "file": "/pkg/src/overlay.ts",
                "export": "FrameCounterBar",
                "label": "src/overlay.ts#FrameCounterBar",
                "config": {"every": 10},
                "inputs": ["in"],
                "outputs": [{"name": "out", "schema": "video/rgba8"}],
                "schemas": {
                    "1": "video/rgba8", "2": "video/gray8", "3": "bytes", "4": "audio/f32",
                    "5": "samples/f32", "6": "tensor/f32", "7": "tensor/u8", "8": "record",
                },
                "drive": "reactive",
            })
        );
    }

    #[test]
    fn config_must_be_a_mapping() {
        for empty in ["", " ", "null"] {
            let value: Value =
                serde_json::from_str(&create_json(0, &spec(deno(), empty)).unwrap()).unwrap();
            assert_eq!(value["config"], json!({}));
        }
        assert_eq!(
            create_json(0, &spec(deno(), "[1]")).unwrap_err(),
            "the processor's config is not a mapping"
        );
        assert!(create_json(0, &spec(deno(), "{"))
            .unwrap_err()
            .starts_with("the processor's config is not valid JSON"));
    }

    #[test]
    fn other_entries_are_refused() {
        assert_eq!(
            create_json(0, &spec(Entry::Builtin, "")).unwrap_err(),
            "the Deno worker cannot host Builtin"
        );
    }
}
