//! Creates Python processors (puts the package on `sys.path`, imports its
//! module, instantiates the class, calls `setup`) and adapts each instance
//! to the runtime's [`Processor`]: one `process(ctx, inputs)` call per
//! frame, with the frame closed and the outputs locked again when it returns;
//! a manual processor's outputs stay open from `start(ctx)` to `stop()`.

use std::sync::Arc;

use bus::settings::FRAME_BORROWED;
use ipc_schemas::{ConfigOutcome, Entry, FrameHeader, Mode, ProcessorSpec, SchemaId};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use worker_lifecycle::{Input, Outputs, Processor, ProcessorHost, Producer};

use crate::context::Context;
use crate::frame::{self, Frame, KeepAlive};
use crate::outputs::{outlived, CallScope};
use crate::state;
use crate::traceback::{describe, user_mistake};

/// Hosts Python classes named by [`Entry::Python`].
pub struct PythonHost;

impl ProcessorHost for PythonHost {
    fn create(&mut self, spec: &ProcessorSpec) -> Result<Box<dyn Processor>, String> {
        let source = Source::of(spec)?;
        Python::attach(|py| PythonProcessor::create(py, spec, &source))
            .map(|processor| Box::new(processor) as Box<dyn Processor>)
    }

    fn check(&mut self, spec: &ProcessorSpec) -> Result<(), String> {
        let source = Source::of(spec)?;
        Python::attach(|py| Loaded::load(py, spec, &source).map(drop))
    }
}

/// Where a processor class comes from.
struct Source<'a> {
    package_dir: &'a str,
    module: &'a str,
    class: &'a str,
    site_packages: Option<&'a str>,
}

impl<'a> Source<'a> {
    fn of(spec: &'a ProcessorSpec) -> Result<Self, String> {
        let Entry::Python {
            package_dir,
            module,
            class,
            site_packages,
        } = &spec.entry
        else {
            return Err(format!("the Python worker cannot host {:?}", spec.entry));
        };
        Ok(Source {
            package_dir,
            module,
            class,
            site_packages: site_packages.as_deref(),
        })
    }
}

/// A processor class imported and instantiated, its methods looked up:
/// all that comes before `setup`, which is what `validate --deep` checks.
struct Loaded<'py> {
    label: String,
    instance: Bound<'py, PyAny>,
    process: Option<Py<PyAny>>,
    produce: Option<Py<PyAny>>,
    start: Option<Py<PyAny>>,
    stop: Option<Py<PyAny>>,
}

impl<'py> Loaded<'py> {
    fn load(py: Python<'py>, spec: &ProcessorSpec, source: &Source<'_>) -> Result<Self, String> {
        let Source {
            package_dir,
            module,
            class,
            site_packages,
        } = *source;
        let label = format!("{module}.{class}");
        put_on_path(py, package_dir, site_packages).map_err(|e| {
            format!(
                "cannot put `{package_dir}` on sys.path: {}",
                describe(py, &e)
            )
        })?;
        let imported = py.import(module).map_err(|e| {
            format!(
                "cannot import module `{module}` from `{package_dir}`: {}",
                describe(py, &e)
            )
        })?;
        let class_object = imported
            .getattr(class)
            .map_err(|_| format!("module `{module}` has no class `{class}`"))?;
        let instance = class_object
            .call0()
            .map_err(|e| format!("cannot instantiate `{label}`: {}", describe(py, &e)))?;
        let method = |name: &Bound<'_, PyString>| {
            instance
                .getattr(name)
                .ok()
                .filter(|method| method.is_callable())
                .map(Bound::unbind)
        };
        let missing = |name: &str, why: &str| {
            format!("class `{class}` of module `{module}` has no {name}() method, which {why}")
        };
        let process = method(intern!(py, "process"));
        let (produce, start) = match spec.mode {
            Mode::Continuous { .. } => (
                Some(
                    method(intern!(py, "produce"))
                        .ok_or_else(|| missing("produce", "mode continuous needs"))?,
                ),
                None,
            ),
            Mode::Manual => (
                None,
                Some(
                    method(intern!(py, "start"))
                        .ok_or_else(|| missing("start", "mode manual needs"))?,
                ),
            ),
            Mode::Reactive => (None, None),
        };
        let stop = start.as_ref().and(method(intern!(py, "stop")));
        if process.is_none() && !spec.inputs.is_empty() {
            return Err(missing("process", "a processor with inputs needs"));
        }
        Ok(Loaded {
            label,
            instance,
            process,
            produce,
            start,
            stop,
        })
    }
}

/// A Python processor instance with what each call needs, looked up once.
struct PythonProcessor {
    /// `module.Class`, for messages.
    label: String,
    /// Its id in the pipeline, which messages about its state name.
    id: String,
    instance: Py<PyAny>,
    /// The bound `process` method; a source may have none.
    process: Option<Py<PyAny>>,
    /// The bound `produce` method of a continuous processor.
    produce: Option<Py<PyAny>>,
    /// The bound `start` method of a manual processor, and its `stop`.
    start: Option<Py<PyAny>>,
    stop: Option<Py<PyAny>>,
    context: Py<Context>,
    scope: Arc<CallScope>,
    /// Input port names, by port index: the keys of `inputs`.
    input_names: Vec<Py<PyString>>,
    /// Closed frames whose samples are retained for views still alive,
    /// with their input port: each occupies one of the few samples the
    /// port's subscriber may lend.
    held: Vec<(usize, Py<Frame>)>,
}

impl PythonProcessor {
    fn create(py: Python<'_>, spec: &ProcessorSpec, source: &Source<'_>) -> Result<Self, String> {
        let Loaded {
            label,
            instance,
            process,
            produce,
            start,
            stop,
        } = Loaded::load(py, spec, source)?;
        let scope = CallScope::new(spec.outputs.len());
        let ports: Vec<(String, SchemaId)> = spec
            .outputs
            .iter()
            .map(|o| (o.port.clone(), o.schema))
            .collect();
        let context = config(py, &spec.config_json)
            .and_then(|config| Context::new(py, &spec.id, config, &ports, &scope))
            .and_then(|context| Bound::new(py, context))
            .map_err(|e| {
                format!(
                    "cannot build the context of `{label}`: {}",
                    describe(py, &e)
                )
            })?;
        let setup = instance
            .getattr_opt(intern!(py, "setup"))
            .map_err(|e| format!("cannot look up setup() of `{label}`: {}", describe(py, &e)))?;
        if let Some(setup) = setup {
            setup.call1((&context,)).map_err(|e| {
                user_mistake(py, &e)
                    .unwrap_or_else(|| format!("setup() of `{label}` raised {}", describe(py, &e)))
            })?;
        }
        Ok(Self {
            label,
            id: spec.id.clone(),
            instance: instance.unbind(),
            process,
            produce,
            start,
            stop,
            context: context.unbind(),
            scope,
            input_names: spec
                .inputs
                .iter()
                .map(|i| PyString::intern(py, &i.port).unbind())
                .collect(),
            held: Vec::new(),
        })
    }

    /// Runs one `process` call on `input` with `outputs` open, and closes
    /// the frame when it returns, however it returns.
    fn call(
        &mut self,
        py: Python<'_>,
        given: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        frame::sweep_retained();
        let frames = given
            .iter()
            .map(|input| Bound::new(py, Frame::new(*input.header, input.data)))
            .collect::<PyResult<Vec<_>>>()
            .map_err(|e| format!("cannot wrap the frame: {}", describe(py, &e)))?;
        let closers: Vec<FrameCloser<'_, '_>> = frames
            .iter()
            .zip(given)
            .map(|(frame, input)| FrameCloser { frame, input })
            .collect();
        let inputs = PyDict::new(py);
        for (frame, input) in frames.iter().zip(given) {
            inputs
                .set_item(self.input_names[input.port].bind(py), frame)
                .map_err(|e| format!("cannot build inputs: {}", describe(py, &e)))?;
        }
        let Some(process) = &self.process else {
            return Err(format!("`{}` has no process() method", self.label));
        };
        let base = given
            .first()
            .map_or_else(FrameHeader::default, |i| *i.header);
        let call = self.scope.enter(py, outputs, base);
        let raised = process
            .bind(py)
            .call1((self.context.bind(py), inputs))
            .err()
            // Formatted here so the exception, and the frames and views its
            // traceback holds, are gone before the frame is closed.
            .map(|e| format!("process() of `{}` raised {}", self.label, describe(py, &e)));
        let escaped = call.finish().err();
        drop(closers);
        let held: Vec<Option<String>> = frames
            .into_iter()
            .zip(given)
            .map(|(frame, input)| self.hold(input.port, frame))
            .collect();
        outcome([raised, escaped].into_iter().chain(held))
    }

    /// Keeps track of `frame` if closing it retained its sample. Once the
    /// port has lent all the samples it may, the next frame cannot be
    /// received: that is reported here, where its cause is known.
    fn hold(&mut self, port: usize, frame: Bound<'_, Frame>) -> Option<String> {
        let py = frame.py();
        if frame.get().views() > 0 {
            self.held.push((port, frame.unbind()));
        }
        if self.held.is_empty() {
            return None;
        }
        self.held.retain(|(_, frame)| frame.get().views() > 0);
        let held = self.held.iter().filter(|(p, _)| *p == port).count();
        if held < FRAME_BORROWED {
            return None;
        }
        let message = format!(
            "`{}` keeps views of {held} frames of input `{}` past process() (arrays or memoryviews over them); an input lends only {FRAME_BORROWED} frames at once, so no further frame can be received until they are released",
            self.label,
            self.input_names[port].bind(py)
        );
        // Also logged: the failing receive that follows may end the worker
        // before the error is reported.
        tracing::error!("{message}");
        Some(message)
    }

    /// Calls the instance's optional method `name()`, if it has one. Its
    /// failure is logged: the worker goes on whatever the hook did.
    fn call_hook(&self, py: Python<'_>, name: &Bound<'_, PyString>) {
        match self.instance.bind(py).getattr_opt(name) {
            Ok(Some(hook)) => {
                if let Err(e) = hook.call0() {
                    tracing::error!("{name}() of `{}` raised {}", self.label, describe(py, &e));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(
                "cannot look up {name}() of `{}`: {}",
                self.label,
                describe(py, &e)
            ),
        }
    }
}

impl Processor for PythonProcessor {
    fn process(&mut self, input: &Input<'_>, outputs: &mut Outputs<'_>) -> Result<(), String> {
        Python::attach(|py| self.call(py, std::slice::from_ref(input), outputs))
    }

    /// `process(ctx, inputs)` with a frame on every input.
    fn process_synced(
        &mut self,
        inputs: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        Python::attach(|py| self.call(py, inputs, outputs))
    }

    /// One `produce(ctx)` call of a continuous processor. Its outputs send
    /// with `next`'s sequence number and capture time unless the processor
    /// says otherwise.
    fn produce(&mut self, next: &FrameHeader, outputs: &mut Outputs<'_>) -> Result<(), String> {
        let Some(produce) = &self.produce else {
            return Ok(());
        };
        Python::attach(|py| {
            let call = self.scope.enter(py, outputs, *next);
            let raised = produce
                .bind(py)
                .call1((self.context.bind(py),))
                .err()
                .map(|e| format!("produce() of `{}` raised {}", self.label, describe(py, &e)));
            outcome([raised, call.finish().err()])
        })
    }

    /// A manual processor's `start(ctx)`: its outputs open now and stay
    /// open, for its own threads, until `stop`.
    fn start(&mut self, producer: Producer) -> Result<(), String> {
        let Some(start) = &self.start else {
            return Err(format!("`{}` has no start() method", self.label));
        };
        Python::attach(|py| {
            self.scope.open_manual(producer);
            let raised = start.bind(py).call1((self.context.bind(py),)).err();
            match raised {
                None => Ok(()),
                Some(e) => {
                    let message =
                        format!("start() of `{}` raised {}", self.label, describe(py, &e));
                    self.scope.close(py);
                    Err(message)
                }
            }
        })
    }

    /// Calls `stop()`, if the class has one, then closes the outputs, so
    /// that threads still sending get an exception.
    fn stop(&mut self) -> Result<(), String> {
        Python::attach(|py| {
            let raised = self
                .stop
                .as_ref()
                .and_then(|stop| stop.bind(py).call0().err())
                .map(|e| format!("stop() of `{}` raised {}", self.label, describe(py, &e)));
            let escaped = outlived(&self.scope.close(py), "stop()");
            outcome([raised, escaped])
        })
    }

    fn on_pause(&mut self) {
        Python::attach(|py| self.call_hook(py, intern!(py, "on_pause")));
    }

    fn on_resume(&mut self) {
        Python::attach(|py| self.call_hook(py, intern!(py, "on_resume")));
    }

    /// `on_config(changes)`, when the class has it; once it returned,
    /// `ctx.config` shows the changes too.
    fn on_config(&mut self, changes_json: &str) -> ConfigOutcome {
        Python::attach(|py| {
            let failed = |message: String| ConfigOutcome::Failed { message };
            let hook = match self.instance.bind(py).getattr_opt(intern!(py, "on_config")) {
                Ok(Some(hook)) if hook.is_callable() => hook,
                Ok(_) => return ConfigOutcome::NoHook,
                Err(e) => {
                    return failed(format!(
                        "cannot look up on_config() of `{}`: {}",
                        self.label,
                        first_line(&describe(py, &e))
                    ))
                }
            };
            let changes = match config(py, changes_json) {
                Ok(changes) => changes,
                Err(e) => return failed(format!("the changes are not a mapping: {e}")),
            };
            // The hook gets a copy, so what it does to it cannot change
            // what `ctx.config` takes.
            let given = changes
                .call_method0(intern!(py, "copy"))
                .unwrap_or(changes.clone());
            if let Err(e) = hook.call1((given,)) {
                let described = describe(py, &e);
                tracing::warn!("on_config() of `{}` raised {described}", self.label);
                return failed(user_mistake(py, &e).unwrap_or_else(|| {
                    format!(
                        "on_config() of `{}` raised {}",
                        self.label,
                        first_line(&described)
                    )
                }));
            }
            let context = self.context.bind(py).get();
            if let Err(e) = context
                .config(py)
                .call_method1(intern!(py, "update"), (changes,))
            {
                tracing::warn!(
                    "ctx.config of `{}` does not show the changes: {}",
                    self.label,
                    describe(py, &e)
                );
            }
            ConfigOutcome::Applied
        })
    }

    /// `snapshot()`, when the class has it (see [`state`]).
    fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
        Python::attach(|py| state::snapshot(py, self.instance.bind(py), &self.id))
    }

    /// `restore(state)`, when the class has it.
    fn restore(&mut self, saved: &[u8]) -> Result<(), String> {
        Python::attach(|py| state::restore(py, self.instance.bind(py), &self.id, saved))
    }

    fn teardown(&mut self) {
        Python::attach(|py| {
            self.call_hook(py, intern!(py, "teardown"));
            self.held.clear();
            frame::release_retained();
        });
    }
}

/// Closes a frame when the call that received it ends, also by unwinding,
/// so Python never reads the sample after the runtime drops it.
struct FrameCloser<'a, 'py> {
    frame: &'a Bound<'py, Frame>,
    input: &'a Input<'a>,
}

impl Drop for FrameCloser<'_, '_> {
    fn drop(&mut self) {
        Frame::close(self.frame, || {
            self.input
                .retain()
                .map(|sample| Box::new(sample) as KeepAlive)
        });
    }
}

/// Puts `site_packages` (the package's environment), then `package_dir`,
/// at the front of `sys.path`; the environment's `.pth` files are processed
/// as a venv's would be.
fn put_on_path(py: Python<'_>, package_dir: &str, site_packages: Option<&str>) -> PyResult<()> {
    let path = py.import("sys")?.getattr("path")?;
    for dir in [Some(package_dir), site_packages].into_iter().flatten() {
        if !path.contains(dir)? {
            path.call_method1("insert", (0, dir))?;
        }
    }
    if let Some(site_packages) = site_packages {
        // Already on the path, so addsitedir only reads its .pth files.
        py.import("site")?
            .getattr("addsitedir")?
            .call1((site_packages,))?;
    }
    Ok(())
}

/// The first line of a described exception: its type and message.
fn first_line(described: &str) -> &str {
    described.lines().next().unwrap_or(described)
}

/// How one call went: fine, or every problem it had, one per line.
fn outcome(problems: impl IntoIterator<Item = Option<String>>) -> Result<(), String> {
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("\n")),
    }
}

/// The processor's config as Python objects; no config is an empty dict.
fn config<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    if json.trim().is_empty() {
        return Ok(PyDict::new(py).into_any());
    }
    let parsed = py.import("json")?.getattr("loads")?.call1((json,))?;
    if parsed.is_none() {
        return Ok(PyDict::new(py).into_any());
    }
    if !parsed.is_instance_of::<PyDict>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "the processor's config is not a mapping",
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ipc_schemas::{Accepts, InputSpec, OutputSpec};

    use super::*;
    use crate::testing::with_python;

    fn spec(entry: Entry) -> ProcessorSpec {
        ProcessorSpec {
            id: "p".into(),
            type_name: "test.p".into(),
            entry,
            config_json: r#"{"gain": 2}"#.into(),
            inputs: vec![InputSpec {
                port: "in".into(),
                accepts: Accepts::AnyVideo,
                from_processor: "cam".into(),
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

    /// Creates `module:class` from a package holding `module.py` = `code`.
    /// Module names must differ between tests: they share one interpreter.
    fn create(module: &str, class: &str, code: &str) -> Result<PythonProcessor, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{module}.py")), code).unwrap();
        create_in(dir.path(), None, module, class)
    }

    fn create_in(
        dir: &Path,
        site_packages: Option<&str>,
        module: &str,
        class: &str,
    ) -> Result<PythonProcessor, String> {
        let package_dir = dir.to_str().unwrap();
        let spec = spec(Entry::Python {
            package_dir: package_dir.into(),
            module: module.into(),
            class: class.into(),
            site_packages: site_packages.map(Into::into),
        });
        let source = Source {
            package_dir,
            module,
            class,
            site_packages,
        };
        with_python(|py| PythonProcessor::create(py, &spec, &source))
    }

    /// A source (no inputs) of `mode` from a module holding `code`.
    fn create_source(module: &str, code: &str, mode: Mode) -> Result<PythonProcessor, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{module}.py")), code).unwrap();
        let mut spec = spec(Entry::Python {
            package_dir: dir.path().to_str().unwrap().into(),
            module: module.into(),
            class: "S".into(),
            site_packages: None,
        });
        spec.inputs.clear();
        spec.mode = mode;
        let source = Source {
            package_dir: dir.path().to_str().unwrap(),
            module,
            class: "S",
            site_packages: None,
        };
        with_python(|py| PythonProcessor::create(py, &spec, &source))
    }

    #[test]
    fn a_continuous_source_needs_produce() {
        let every = Mode::Continuous {
            interval_ms: Some(10),
        };
        let code = "class S:\n    def produce(self, ctx): pass\n";
        assert!(create_source("source_ok", code, every).is_ok());
        let message = error(create_source("source_no_produce", "class S: pass\n", every));
        assert_eq!(
            message,
            "class `S` of module `source_no_produce` has no produce() method, which mode continuous needs"
        );
    }

    fn error(result: Result<PythonProcessor, String>) -> String {
        match result {
            Ok(_) => panic!("creation succeeded"),
            Err(message) => message,
        }
    }

    #[test]
    fn pause_hooks_are_called_when_present_and_optional() {
        let code = "calls = []\nclass C:\n    def process(self, ctx, inputs): pass\n    def on_pause(self): calls.append('pause')\n    def on_resume(self): calls.append('resume')\n";
        let mut processor = create("pause_hooks", "C", code).unwrap();
        processor.on_pause();
        processor.on_resume();
        processor.on_pause();
        with_python(|py| {
            let calls: Vec<String> = py
                .import("pause_hooks")
                .unwrap()
                .getattr("calls")
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(calls, ["pause", "resume", "pause"]);
        });
        let code = "class C:\n    def process(self, ctx, inputs): pass\n    def on_resume(self): raise ValueError('no')\n";
        let mut processor = create("pause_hooks_partial", "C", code).unwrap();
        // Neither a missing hook nor one that raises stops the worker.
        processor.on_pause();
        processor.on_resume();
    }

    #[test]
    fn on_config_takes_changes_in_place_refuses_or_is_missing() {
        let code = "class C:\n    def process(self, ctx, inputs): pass\n    def setup(self, ctx): self.ctx = ctx\n    def on_config(self, changes):\n        if changes['level'] > 9: raise ValueError('too loud')\n        self.level = changes['level']\n";
        let mut processor = create("config_hook", "C", code).unwrap();
        assert_eq!(
            processor.on_config(r#"{"level": 3}"#),
            ConfigOutcome::Applied
        );
        with_python(|py| {
            let instance = processor.instance.bind(py);
            let level: i64 = instance.getattr("level").unwrap().extract().unwrap();
            assert_eq!(level, 3);
            let seen: i64 = instance
                .getattr("ctx")
                .unwrap()
                .getattr("config")
                .unwrap()
                .get_item("level")
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(seen, 3, "ctx.config shows the change");
        });
        assert_eq!(
            processor.on_config(r#"{"level": 12}"#),
            ConfigOutcome::Failed {
                message: "on_config() of `config_hook.C` raised ValueError: too loud".into()
            }
        );
        let code = "class C:\n    def process(self, ctx, inputs): pass\n";
        let mut processor = create("config_no_hook", "C", code).unwrap();
        assert_eq!(
            processor.on_config(r#"{"level": 3}"#),
            ConfigOutcome::NoHook
        );
    }

    #[test]
    fn other_entries_are_refused() {
        let message = match PythonHost.create(&spec(Entry::Builtin)) {
            Ok(_) => panic!("a builtin was accepted"),
            Err(message) => message,
        };
        assert_eq!(message, "the Python worker cannot host Builtin");
    }

    #[test]
    fn an_import_error_names_module_directory_and_exception() {
        let message = error(create("raises_on_import", "C", "x = 1\n1 / 0\n"));
        let first = message.lines().next().unwrap();
        assert!(first.starts_with("cannot import module `raises_on_import` from `/"));
        assert!(
            first.ends_with("`: ZeroDivisionError: division by zero"),
            "{first}"
        );
        assert!(
            message.contains("raises_on_import.py\", line 2"),
            "{message}"
        );
        let message = error(create(
            "imports_nothing",
            "C",
            "import no_such_module_here\n",
        ));
        assert!(message.contains("ModuleNotFoundError: No module named 'no_such_module_here'"));
    }

    #[test]
    fn a_missing_class_or_process_method_is_named() {
        let message = error(create("has_no_class", "Missing", "class Other: pass\n"));
        assert_eq!(message, "module `has_no_class` has no class `Missing`");
        let message = error(create("has_no_process", "C", "class C: pass\n"));
        assert_eq!(
            message,
            "class `C` of module `has_no_process` has no process() method, which a processor with inputs needs"
        );
    }

    #[test]
    fn an_exception_in_setup_names_module_class_and_exception() {
        let code = "class C:\n    def setup(self, ctx):\n        raise ValueError('no calibration')\n    def process(self, ctx, inputs): pass\n";
        let message = error(create("setup_raises", "C", code));
        let mut lines = message.lines();
        assert_eq!(
            lines.next().unwrap(),
            "setup() of `setup_raises.C` raised ValueError: no calibration"
        );
        assert_eq!(lines.next().unwrap(), "Traceback (most recent call last):");
        assert!(message.contains("in setup"), "{message}");
    }

    /// A user's mistake the processor reports as `plexus.ConfigError` is
    /// its one sentence, without type or traceback.
    #[test]
    fn a_config_error_in_setup_is_its_message_alone() {
        let code = "import plexus\nclass C:\n    def setup(self, ctx):\n        raise plexus.ConfigError('file `/x.mp4` does not exist')\n    def process(self, ctx, inputs): pass\n";
        let message = error(create("setup_config_error", "C", code));
        assert_eq!(message, "file `/x.mp4` does not exist");
    }

    #[test]
    fn setup_sees_the_context_and_the_environment_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let extra = dir.path().join("extra");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::write(site.join("paths.pth"), format!("{}\n", extra.display())).unwrap();
        std::fs::write(extra.join("from_pth.py"), "VALUE = 'pth'\n").unwrap();
        std::fs::write(site.join("dependency.py"), "VALUE = 'site'\n").unwrap();
        std::fs::write(
            dir.path().join("sees_context.py"),
            r#"
import os
import sys
import plexus
import dependency, from_pth

class C:
    def setup(self, ctx):
        assert isinstance(ctx, plexus.Context)
        assert ctx.config == {"gain": 2}, ctx.config
        assert ctx.processor == "p"
        out = ctx.outputs["out"]
        assert list(ctx.outputs) == ["out"] and isinstance(out, plexus.Output)
        assert (out.name, out.schema) == ("out", "video/rgba8")
        try:
            ctx.outputs["x"] = out
        except TypeError:
            pass
        else:
            raise AssertionError("outputs can be replaced")
        try:
            out.loan(4)
        except RuntimeError as e:
            assert str(e) == "outputs can only be used inside process() or produce(), or between start() and stop()", e
        else:
            raise AssertionError("loan worked outside process()")
        # Other tests may put their packages in front meanwhile, but never
        # between these two.
        first = sys.path.index(os.path.dirname(dependency.__file__))
        self.path_head = sys.path[first:first + 2]
        self.values = (dependency.VALUE, from_pth.VALUE)

    def process(self, ctx, inputs):
        pass

    def teardown(self):
        sys.modules[__name__].torn_down = True
"#,
        )
        .unwrap();
        let site = site.to_str().unwrap();
        let mut processor = create_in(dir.path(), Some(site), "sees_context", "C").unwrap();
        with_python(|py| {
            let instance = processor.instance.bind(py);
            let head: Vec<String> = instance.getattr("path_head").unwrap().extract().unwrap();
            assert_eq!(head, [site, dir.path().to_str().unwrap()]);
            let values: (String, String) = instance.getattr("values").unwrap().extract().unwrap();
            assert_eq!(values, ("site".into(), "pth".into()));
        });
        processor.teardown();
        with_python(|py| {
            let module = py.import("sees_context").unwrap();
            assert!(module.getattr("torn_down").unwrap().is_truthy().unwrap());
        });
    }
}
