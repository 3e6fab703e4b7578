//! The plexus plugin SDK: write a processor as a plain Rust type, export it
//! with [`export_plugin!`], build the crate as a `cdylib`, and the native
//! worker loads it through the versioned C ABI in [`abi`].
//!
//! ```
//! use plexus_plugin_sdk::{export_plugin, InputFrame, OutputPorts, Processor};
//! use plexus_plugin_sdk::serde_json::Value;
//!
//! struct Invert;
//!
//! impl Processor for Invert {
//!     fn setup(_config: &Value) -> Result<Self, String> {
//!         Ok(Invert)
//!     }
//!
//!     fn process(&mut self, input: &InputFrame<'_>, out: &mut OutputPorts<'_>) -> Result<(), String> {
//!         let buf = out.loan(0, input.data.len())?;
//!         for (dst, src) in buf.iter_mut().zip(input.data) {
//!             *dst = !src;
//!         }
//!         out.send(0, &input.header)
//!     }
//! }
//!
//! export_plugin!(Invert => "example.invert");
//! ```
//!
//! The crate must be built with `panic = "unwind"` (the default) so that a
//! panic in a processor is reported as an error instead of killing the worker.

pub mod abi;
mod export;
mod frames;

pub use export::vtable;
pub use frames::{InputFrame, OutputPorts, Producer};
/// The header and schema of a frame, and the clock a source stamps
/// `capture_ns` with: the only part of the plexus wire contract a plugin uses.
pub use plexus_frame::{monotonic_ns, FrameHeader, SchemaId, NO_PTS};
/// Re-exported so plugins parse their config with the same version the SDK uses.
pub use serde_json;

/// The SDK version, NUL-terminated for [`abi::PluginDescriptor::sdk_version`].
/// Defined here rather than in the macro so that it names the SDK's version,
/// not the plugin's.
#[doc(hidden)]
pub const SDK_VERSION_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Why a processor did not take config changes in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// It has no `on_config`, or cannot take these keys without starting
    /// over: its worker is restarted with the new config.
    NoHook,
    /// It refuses them, for this reason (one sentence): it keeps its old
    /// config and is not restarted.
    Refused(String),
}

impl From<String> for ConfigError {
    fn from(reason: String) -> Self {
        ConfigError::Refused(reason)
    }
}

impl From<&str> for ConfigError {
    fn from(reason: &str) -> Self {
        ConfigError::Refused(reason.to_owned())
    }
}

/// A processor type a plugin offers. One instance is created per processor in
/// a pipeline and lives until the worker stops.
pub trait Processor: Sized + 'static {
    /// Creates an instance from the processor's `config:` in the pipeline
    /// (an empty object when the pipeline gives none). An `Err` is one
    /// sentence naming the offending field; the worker reports it and exits.
    fn setup(config: &serde_json::Value) -> Result<Self, String>;

    /// Handles one input frame, usually by loaning, filling and sending a
    /// buffer on an output. An `Err` (or a panic) is reported as a processor
    /// error and the worker goes on with the next frame.
    /// A source (no inputs) keeps this default, which the worker never calls.
    fn process(&mut self, input: &InputFrame<'_>, out: &mut OutputPorts<'_>) -> Result<(), String> {
        let _ = (input, out);
        Err("this processor has no process(): it takes no frames".to_owned())
    }

    /// A processor whose inputs are synchronised (`sync: all` or `latest`
    /// in the pipeline): called once with a frame of every input, in the
    /// order the manifest lists them. Others keep this default, which the
    /// worker never calls.
    fn process_synced(
        &mut self,
        inputs: &[InputFrame<'_>],
        out: &mut OutputPorts<'_>,
    ) -> Result<(), String> {
        let _ = (inputs, out);
        Err("this processor has no process_synced(): its inputs cannot be synchronised".to_owned())
    }

    /// Sources (`mode: continuous` with `interval_ms` in the manifest):
    /// called every `interval_ms` to produce the next frame(s). `next` holds
    /// the sequence number and capture time its frames should carry; set
    /// the rest (`width`, `height`, `stride`) before sending. Processors
    /// that are not sources keep this default, which the worker never calls.
    fn produce(&mut self, next: &FrameHeader, out: &mut OutputPorts<'_>) -> Result<(), String> {
        let _ = (next, out);
        Err("this processor has no produce(): it cannot be mode continuous".to_owned())
    }

    /// Manual processors (`mode: manual` in the manifest): start producing
    /// from a thread of the processor's own, moving `out` into it, and
    /// return. `out.ports().next_header()` gives each frame's sequence
    /// number and capture time. Others keep this default.
    fn start(&mut self, out: Producer) -> Result<(), String> {
        let _ = out;
        Err("this processor has no start(): it cannot be mode manual".to_owned())
    }

    /// Manual processors: end the thread `start` began and return once it
    /// no longer sends (join it).
    fn stop(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// The operator paused the processor (`plexus pause`): a source should
    /// stop producing (a manual one's frames are dropped meanwhile anyway).
    fn on_pause(&mut self) {}

    /// The operator resumed the processor.
    fn on_resume(&mut self) {}

    /// A user changed config keys while the processor runs (`plexus set`):
    /// `changes` is an object of the changed keys and their new values,
    /// checked against the manifest's schema. Called between frames, never
    /// during another call. Take them and return `Ok`, and the next frame
    /// is made with them. The default, [`ConfigError::NoHook`], has the
    /// worker restarted with the new config instead; a
    /// [`ConfigError::Refused`] keeps the old config and tells the user why.
    fn on_config(&mut self, changes: &serde_json::Value) -> Result<(), ConfigError> {
        let _ = changes;
        Err(ConfigError::NoHook)
    }

    /// Live swap (`plexus upgrade`): the state to carry to this
    /// processor's successor, taken once after the last frame it handles
    /// here, never during another call. At most 16 MiB. The default,
    /// `Ok(None)`, keeps no state.
    fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }

    /// Live swap: takes the state its predecessor's
    /// [`snapshot`](Processor::snapshot) gave, once, after `setup` and
    /// before the first frame. An `Err` fails the swap and the old version
    /// keeps serving; so does the default, which cannot take any state.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Err(NO_RESTORE.to_owned())
    }

    /// Called once before the instance is dropped, when the worker stops.
    fn teardown(&mut self) {}
}

/// What [`Processor::restore`]'s default says; the worker says the same of
/// a plugin of ABI 3.0, which has no `restore`.
pub const NO_RESTORE: &str = "it has no restore() for the state its predecessor saved";

/// Exports processor types from a plugin library: generates the
/// `plexus_plugin_entry_v3` symbol returning a static
/// [`PluginDescriptor`](abi::PluginDescriptor) with one vtable per type.
///
/// Each pair is a type implementing [`Processor`] and the type name pipelines
/// use for it (a string literal, also listed in the package's `plexus.yaml`):
///
/// ```ignore
/// export_plugin!(Grayscale => "example.grayscale", Blur => "example.blur");
/// ```
///
/// Use it once per library. Every generated `extern "C"` function catches
/// panics, so none unwinds into the worker.
#[macro_export]
macro_rules! export_plugin {
    ($($processor:ty => $type_name:literal),+ $(,)?) => {
        #[no_mangle]
        pub extern "C" fn plexus_plugin_entry_v3() -> *const $crate::abi::PluginDescriptor {
            const COUNT: usize = [$($type_name),+].len();
            static VTABLES: [$crate::abi::ProcessorVTable; COUNT] = [
                $($crate::vtable::<$processor>(concat!($type_name, "\0"))),+
            ];
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                struct_size: ::core::mem::size_of::<$crate::abi::PluginDescriptor>() as u32,
                abi_major: $crate::abi::ABI_MAJOR,
                abi_minor: $crate::abi::ABI_MINOR,
                sdk_version: $crate::SDK_VERSION_NUL.as_ptr().cast(),
                processor_count: COUNT as u32,
                processors: VTABLES.as_ptr(),
            };
            &DESCRIPTOR
        }
    };
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use crate::abi::*;

    /// The ABI is fixed per major version: any change to these numbers breaks
    /// every plugin already built, so it must come with a new major; a minor
    /// may only append (as 3.1 appended `snapshot` and `restore`).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn abi_layout_is_stable() {
        assert_eq!(
            (
                size_of::<PluginDescriptor>(),
                align_of::<PluginDescriptor>()
            ),
            (40, 8)
        );
        assert_eq!(offset_of!(PluginDescriptor, abi_major), 4);
        assert_eq!(offset_of!(PluginDescriptor, abi_minor), 8);
        assert_eq!(offset_of!(PluginDescriptor, sdk_version), 16);
        assert_eq!(offset_of!(PluginDescriptor, processor_count), 24);
        assert_eq!(offset_of!(PluginDescriptor, processors), 32);

        assert_eq!(
            (size_of::<ProcessorVTable>(), align_of::<ProcessorVTable>()),
            (104, 8)
        );
        assert_eq!(offset_of!(ProcessorVTable, type_name), 8);
        assert_eq!(offset_of!(ProcessorVTable, create), 16);
        assert_eq!(offset_of!(ProcessorVTable, process), 24);
        assert_eq!(offset_of!(ProcessorVTable, destroy), 32);
        assert_eq!(offset_of!(ProcessorVTable, produce), 40);
        assert_eq!(offset_of!(ProcessorVTable, start), 48);
        assert_eq!(offset_of!(ProcessorVTable, stop), 56);
        assert_eq!(offset_of!(ProcessorVTable, pause), 64);
        assert_eq!(offset_of!(ProcessorVTable, resume), 72);
        assert_eq!(offset_of!(ProcessorVTable, configure), 80);
        assert_eq!(size_of::<Option<ConfigFn>>(), 8);
        assert_eq!(VTABLE_3_0_SIZE, 88);
        assert_eq!(offset_of!(ProcessorVTable, restore), 96);

        assert_eq!((size_of::<StateSink>(), align_of::<StateSink>()), (24, 8));
        assert_eq!(offset_of!(StateSink, ctx), 8);
        assert_eq!(offset_of!(StateSink, write), 16);

        assert_eq!((size_of::<FrameIn>(), align_of::<FrameIn>()), (120, 8));
        assert_eq!(offset_of!(FrameIn, header), 8);
        assert_eq!(offset_of!(FrameIn, data), 104);
        assert_eq!(offset_of!(FrameIn, len), 112);

        assert_eq!(
            (size_of::<HostOutputs>(), align_of::<HostOutputs>()),
            (48, 8)
        );
        assert_eq!(offset_of!(HostOutputs, count), 4);
        assert_eq!(offset_of!(HostOutputs, ctx), 8);
        assert_eq!(offset_of!(HostOutputs, loan), 16);
        assert_eq!(offset_of!(HostOutputs, send), 24);
        assert_eq!(offset_of!(HostOutputs, next), 32);
        assert_eq!(offset_of!(HostOutputs, finish), 40);

        assert_eq!((size_of::<ErrorBuf>(), align_of::<ErrorBuf>()), (24, 8));
        assert_eq!(offset_of!(ErrorBuf, cap), 8);
        assert_eq!(offset_of!(ErrorBuf, len), 16);

        assert_eq!(
            (size_of::<FrameHeader>(), align_of::<FrameHeader>()),
            (96, 8)
        );
    }

    #[test]
    fn the_entry_symbol_names_the_major() {
        assert_eq!(ENTRY_SYMBOL, format!("plexus_plugin_entry_v{ABI_MAJOR}"));
    }

    fn write_into(cap: usize, message: &str) -> String {
        let mut bytes = vec![0_u8; cap];
        let mut error = ErrorBuf {
            ptr: bytes.as_mut_ptr(),
            cap,
            len: 0,
        };
        // SAFETY: `bytes` holds `cap` writable bytes.
        unsafe { error.write(message) };
        String::from_utf8(bytes[..error.len].to_vec()).expect("truncation keeps UTF-8 valid")
    }

    #[test]
    fn error_buffers_truncate_at_char_boundaries() {
        assert_eq!(write_into(64, "short"), "short");
        assert_eq!(write_into(5, "exactly"), "exact");
        // "é" is two bytes and "€" three: a cut inside either backs off.
        assert_eq!(write_into(2, "aé"), "a");
        assert_eq!(write_into(3, "aé"), "aé");
        assert_eq!(write_into(3, "a€"), "a");
        assert_eq!(write_into(2, "€"), "");
        assert_eq!(write_into(0, "anything"), "");
    }
}
