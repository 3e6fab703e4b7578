//! Runs Rust processors from plugin libraries: opens each library once, checks
//! its descriptor against the plugin ABI this worker speaks, and adapts its C
//! vtables to [`worker_lifecycle::Processor`] (the calls themselves are in
//! `instance`).
//!
//! Libraries are never unloaded (docs/ARCHITECTURE.md §9: thread-local
//! destructors and plugin threads make `dlclose` of a Rust library unsound in
//! practice); a new version of a plugin means a new worker process.

mod callback;
mod instance;
mod state;

use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::path::Path;

use ipc_schemas::ProcessorSpec;
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use plexus_plugin_sdk::abi::{
    EntryFn, ErrorBuf, PluginDescriptor, ProcessorVTable, ABI_MAJOR, ABI_MINOR, ENTRY_SYMBOL,
    VTABLE_3_0_SIZE,
};
use worker_lifecycle::Processor;

use instance::{error_text, Calls, PluginProcessor};

/// Room for a plugin's error message; longer ones are truncated by the SDK.
const ERROR_CAPACITY: usize = 4096;

/// The plugin libraries this worker has opened, by path.
pub struct PluginLibraries {
    loaded: HashMap<String, Plugin>,
}

impl PluginLibraries {
    pub fn new() -> Self {
        Self {
            loaded: HashMap::new(),
        }
    }

    /// Instantiates processor `spec.type_name` from the library at `path`,
    /// opening the library on first use.
    pub fn create(
        &mut self,
        spec: &ProcessorSpec,
        path: &str,
    ) -> Result<Box<dyn Processor>, String> {
        Ok(Box::new(self.open(path)?.instantiate(spec)?))
    }

    /// Opens the library at `path` and finds `spec.type_name` in it, as
    /// [`PluginLibraries::create`] would, without creating the processor.
    pub fn check(&mut self, spec: &ProcessorSpec, path: &str) -> Result<(), String> {
        self.open(path)?.calls(&spec.type_name).map(drop)
    }

    /// The library at `path`, opened on first use.
    fn open(&mut self, path: &str) -> Result<&Plugin, String> {
        if !self.loaded.contains_key(path) {
            let plugin = Plugin::load(path)?;
            self.loaded.insert(path.to_owned(), plugin);
        }
        Ok(&self.loaded[path])
    }
}

impl Default for PluginLibraries {
    fn default() -> Self {
        Self::new()
    }
}

/// A library whose descriptor passed every check. Its vtables are `'static`
/// because the library is never unloaded.
struct Plugin {
    path: String,
    processors: Vec<(String, Calls)>,
}

impl Plugin {
    fn load(path: &str) -> Result<Plugin, String> {
        if !Path::new(path).is_file() {
            return Err(format!(
                "`{path}` does not exist or is not a file, so it cannot be loaded as a plugin"
            ));
        }
        // RTLD_NOW makes a missing symbol fail here rather than mid-stream;
        // RTLD_LOCAL keeps two plugins' symbols from resolving to each other.
        // SAFETY: running the library's initialisers is what loading a plugin
        // means; the package was installed for this purpose.
        let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map_err(|e| format!("`{path}` could not be loaded as a plugin library: {e}"))?;
        // Leaked on purpose: the handle must outlive every vtable pointer.
        let library: &'static Library = Box::leak(Box::new(library));

        // SAFETY: the ABI fixes this symbol's type.
        let entry = match unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) } {
            Ok(entry) => entry,
            Err(_) => return Err(missing_entry(path, library)),
        };
        // SAFETY: the entry function takes nothing and returns a pointer to a
        // static descriptor; the SDK guarantees it does not unwind.
        let descriptor = unsafe { entry() };
        // SAFETY: the descriptor, if not null, lives as long as the library.
        unsafe { Plugin::from_descriptor(path, descriptor) }
    }

    /// Checks a descriptor layer by layer (version first, so that a library
    /// of another ABI is named as such rather than as malformed) and collects
    /// its processor types.
    ///
    /// # Safety
    /// `descriptor` is null or points to a descriptor that, with the memory
    /// it points to, stays valid and unchanged forever.
    unsafe fn from_descriptor(
        path: &str,
        descriptor: *const PluginDescriptor,
    ) -> Result<Plugin, String> {
        let malformed =
            |problem: String| format!("`{path}` has a malformed plugin descriptor: {problem}");
        if descriptor.is_null() {
            return Err(format!(
                "`{path}` is not a plexus plugin: its `{ENTRY_SYMBOL}` returned no descriptor"
            ));
        }
        // The version fields sit at fixed offsets in every major, so they
        // are read one by one; a descriptor of another major may be smaller
        // than ours, so no reference to a whole one is made before the
        // checks say it is one.
        // SAFETY: every major's descriptor starts with its size; the caller
        // vouches that the descriptor is valid.
        let size = unsafe { (&raw const (*descriptor).struct_size).read() };
        const VERSION_END: u32 = 12;
        if size < VERSION_END {
            return Err(malformed(format!("it declares a size of {size} bytes")));
        }
        // SAFETY: the declared size covers both version fields, which sit
        // at these offsets in every major.
        let (major, minor) = unsafe {
            (
                (&raw const (*descriptor).abi_major).read(),
                (&raw const (*descriptor).abi_minor).read(),
            )
        };
        if major < ABI_MAJOR {
            return Err(older_major(path, &format!("{major}.{minor}")));
        }
        if major != ABI_MAJOR || minor > ABI_MINOR {
            return Err(format!(
                "`{path}` was built for plexus plugin ABI {major}.{minor}, this worker speaks {ABI_MAJOR}.{ABI_MINOR}"
            ));
        }
        let needed = std::mem::size_of::<PluginDescriptor>();
        if (size as usize) < needed {
            return Err(malformed(format!(
                "it is {size} bytes, ABI {ABI_MAJOR}.0 needs {needed}"
            )));
        }
        // SAFETY: it is a descriptor of our major, whole, and as the caller
        // vouches it stays valid and unchanged forever.
        let descriptor: &'static PluginDescriptor = unsafe { &*descriptor };
        let count = descriptor.processor_count as usize;
        if count > 0 && descriptor.processors.is_null() {
            return Err(malformed(format!(
                "it lists {count} processors but no table of them"
            )));
        }
        // The table's stride is its entries' `struct_size`, so that a later
        // minor may append entries; ours are read through a reference once
        // the size says they are all there.
        let stride = if count == 0 {
            0
        } else {
            // SAFETY: the table is not null and, as the caller vouches, holds
            // `count` entries; every entry starts with its size.
            unsafe { (&raw const (*descriptor.processors).struct_size).read() as usize }
        };
        // Later minors may append entries, so a table may be longer than
        // ours, never shorter.
        let needed = VTABLE_3_0_SIZE;
        let aligned = stride % std::mem::align_of::<ProcessorVTable>() == 0;
        if count > 0 && (stride < needed || !aligned) {
            return Err(malformed(format!(
                "its processor tables are {stride} bytes each, ABI {ABI_MAJOR}.0 needs {needed}"
            )));
        }
        let mut processors = Vec::with_capacity(count);
        for index in 0..count {
            // SAFETY: entry `index` lies within the table of `count` entries
            // of `stride` bytes, aligned as the first one is.
            let vtable = unsafe {
                descriptor
                    .processors
                    .cast::<u8>()
                    .add(index * stride)
                    .cast::<ProcessorVTable>()
            };
            // SAFETY: `stride` covers at least a whole table of 3.0, which
            // holds the size and the name; the caller vouches the table stays valid
            // and unchanged forever.
            let (size, type_name) = unsafe {
                (
                    (&raw const (*vtable).struct_size).read() as usize,
                    (&raw const (*vtable).type_name).read(),
                )
            };
            // SAFETY: as above: the table is `stride` bytes, at least a
            // whole table of 3.0.
            let calls = unsafe { Calls::read(vtable, stride) };
            if size != stride {
                return Err(malformed(format!(
                    "processor {index} has a table of {size} bytes, the first one {stride}"
                )));
            }
            let name = (!type_name.is_null())
                // SAFETY: a non-null type name is a NUL-terminated string that
                // lives as long as the library, as the ABI says.
                .then(|| unsafe { CStr::from_ptr(type_name) }.to_str().ok())
                .flatten()
                .ok_or_else(|| malformed(format!("processor {index} has no UTF-8 type name")))?;
            processors.push((name.to_owned(), calls));
        }

        let sdk = Some(descriptor.sdk_version)
            .filter(|version| !version.is_null())
            .map_or_else(
                || "an unknown version".into(),
                // SAFETY: a non-null version is a NUL-terminated string that
                // lives as long as the library, as the ABI says.
                |version| unsafe { CStr::from_ptr(version) }.to_string_lossy(),
            );
        tracing::debug!("loaded plugin `{path}` (ABI {major}.{minor}, plexus-plugin-sdk {sdk})");
        Ok(Plugin {
            path: path.to_owned(),
            processors,
        })
    }

    /// The calls of processor type `type_name`, which the library must offer.
    fn calls(&self, type_name: &str) -> Result<Calls, String> {
        if let Some(&(_, calls)) = self.processors.iter().find(|(name, _)| name == type_name) {
            return Ok(calls);
        }
        let offered: Vec<&str> = self
            .processors
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let offered = if offered.is_empty() {
            "nothing".to_owned()
        } else {
            offered.join(", ")
        };
        Err(format!(
            "`{}` has no processor `{type_name}` (it offers: {offered})",
            self.path
        ))
    }

    fn instantiate(&self, spec: &ProcessorSpec) -> Result<PluginProcessor, String> {
        let path = &self.path;
        let type_name = &spec.type_name;
        let calls = self.calls(type_name)?;
        let mut message = vec![0_u8; ERROR_CAPACITY];
        let mut error = ErrorBuf {
            ptr: message.as_mut_ptr(),
            cap: message.len(),
            len: 0,
        };
        let config = spec.config_json.as_bytes();
        // SAFETY: the config bytes and the error buffer outlive the call.
        let instance = unsafe { (calls.create)(config.as_ptr(), config.len(), &mut error) };
        if instance.is_null() {
            let reason = error_text(&message, &error);
            return Err(format!(
                "`{path}` could not create processor `{}` ({type_name}): {}",
                spec.id,
                if reason.is_empty() {
                    "the plugin gave no reason"
                } else {
                    &reason
                }
            ));
        }
        Ok(PluginProcessor::new(&spec.id, calls, instance, message))
    }
}

/// The refusal of a plugin built for an older ABI major (`version`): its
/// frame headers are of another size, so it must be rebuilt.
fn older_major(path: &str, version: &str) -> String {
    format!(
        "`{path}` was built for plexus plugin ABI {version}, this worker speaks {ABI_MAJOR}.{ABI_MINOR}: rebuild it against this plexus's plugin SDK"
    )
}

/// Explains a missing entry symbol; a library exporting the entry of another
/// ABI major gets a version message instead of "not a plugin".
fn missing_entry(path: &str, library: &Library) -> String {
    let other_major = (1..=9).filter(|&major| major != ABI_MAJOR).find(|major| {
        let symbol = format!("plexus_plugin_entry_v{major}");
        // SAFETY: the symbol is only looked up, never called.
        unsafe { library.get::<*const c_void>(symbol.as_bytes()) }.is_ok()
    });
    match other_major {
        Some(major) if major < ABI_MAJOR => older_major(path, &major.to_string()),
        Some(major) => format!(
            "`{path}` was built for plexus plugin ABI {major}, this worker speaks {ABI_MAJOR}.{ABI_MINOR}"
        ),
        None => format!("`{path}` is not a plexus plugin: it exports no `{ENTRY_SYMBOL}`"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ipc_schemas::ConfigOutcome;
    use ipc_schemas::Entry;
    use plexus_plugin_sdk::serde_json::Value;
    use plexus_plugin_sdk::{export_plugin, ConfigError, InputFrame, OutputPorts};

    use super::*;

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    /// Keeps the state it was restored with, if any, as its snapshot.
    struct Counted {
        state: Option<Vec<u8>>,
    }

    impl plexus_plugin_sdk::Processor for Counted {
        fn setup(config: &Value) -> Result<Self, String> {
            match config.get("fail").and_then(Value::as_str) {
                Some("error") => Err("`fail` asks for an error".to_owned()),
                Some("panic") => panic!("`fail` asks for a panic"),
                _ => Ok(Counted { state: None }),
            }
        }

        fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
            Ok(self.state.clone())
        }

        fn restore(&mut self, state: &[u8]) -> Result<(), String> {
            if state.is_empty() {
                return Err("an empty state".to_owned());
            }
            self.state = Some(state.to_vec());
            Ok(())
        }

        fn process(
            &mut self,
            _input: &InputFrame<'_>,
            _out: &mut OutputPorts<'_>,
        ) -> Result<(), String> {
            Ok(())
        }

        /// Takes a `level` up to 5 in place, refuses more, and cannot take
        /// anything else without a restart.
        fn on_config(&mut self, changes: &Value) -> Result<(), ConfigError> {
            match changes.get("level").and_then(Value::as_u64) {
                Some(level) if level <= 5 => Ok(()),
                Some(level) => Err(format!("level {level} is above 5").into()),
                None => Err(ConfigError::NoHook),
            }
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            DESTROYED.fetch_add(1, Ordering::SeqCst);
        }
    }

    export_plugin!(Counted => "test.counted");

    fn descriptor() -> &'static PluginDescriptor {
        // SAFETY: the SDK's entry returns a static descriptor.
        unsafe { &*plexus_plugin_entry_v3() }
    }

    fn check(descriptor: &PluginDescriptor) -> Result<Plugin, String> {
        // SAFETY: every descriptor in these tests is leaked or static.
        unsafe { Plugin::from_descriptor("/p/libx.so", descriptor) }
    }

    /// A copy of the real descriptor with some fields changed.
    fn altered(change: impl FnOnce(&mut PluginDescriptor)) -> &'static PluginDescriptor {
        let real = descriptor();
        let mut copy = PluginDescriptor {
            struct_size: real.struct_size,
            abi_major: real.abi_major,
            abi_minor: real.abi_minor,
            sdk_version: real.sdk_version,
            processor_count: real.processor_count,
            processors: real.processors,
        };
        change(&mut copy);
        Box::leak(Box::new(copy))
    }

    fn spec(type_name: &str, config_json: &str) -> ProcessorSpec {
        ProcessorSpec {
            id: "p1".to_owned(),
            type_name: type_name.to_owned(),
            entry: Entry::Dylib {
                path: "/p/libx.so".to_owned(),
            },
            config_json: config_json.to_owned(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            frame_limit: None,
            mode: ipc_schemas::Mode::Reactive,
            sync: ipc_schemas::SyncPolicy::Any,
        }
    }

    #[test]
    fn a_valid_descriptor_lists_its_processors() {
        let plugin = check(descriptor()).unwrap();
        let names: Vec<&str> = plugin
            .processors
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["test.counted"]);
    }

    #[test]
    fn the_config_hook_takes_refuses_or_declines() {
        let mut processor = check(descriptor())
            .unwrap()
            .instantiate(&spec("test.counted", ""))
            .unwrap();
        assert_eq!(
            processor.on_config(r#"{"level": 1}"#),
            ConfigOutcome::Applied
        );
        assert_eq!(
            processor.on_config(r#"{"level": 9}"#),
            ConfigOutcome::Failed {
                message: "level 9 is above 5".into()
            }
        );
        assert_eq!(
            processor.on_config(r#"{"mode": "x"}"#),
            ConfigOutcome::NoHook
        );
    }

    #[test]
    fn state_goes_through_the_table_within_the_bound() {
        let plugin = check(descriptor()).unwrap();
        let mut processor = plugin.instantiate(&spec("test.counted", "")).unwrap();
        assert_eq!(processor.snapshot(), Ok(None), "no state yet");
        assert_eq!(processor.restore(&[]), Err("an empty state".into()));
        processor.restore(&[1, 2, 3]).unwrap();
        assert_eq!(processor.snapshot(), Ok(Some(vec![1, 2, 3])));
        let big = vec![0_u8; ipc_schemas::control::MAX_STATE_BYTES + 1];
        processor.restore(&big).unwrap();
        let refused = processor.snapshot().unwrap_err();
        assert!(
            refused.starts_with(&format!(
                "the snapshot of `p1` is {} bytes",
                ipc_schemas::control::MAX_STATE_BYTES + 1
            )),
            "{refused}"
        );
    }

    /// A plugin built against ABI 3.0 has tables that end before
    /// `snapshot`: it still loads, and keeps no state and takes none.
    #[test]
    fn a_3_0_table_loads_and_gets_the_state_defaults() {
        let real = descriptor();
        assert_eq!(VTABLE_3_0_SIZE % 8, 0);
        // Exactly the 3.0 bytes of the real table, in memory of that size.
        let words: &'static mut [u64] = vec![0_u64; VTABLE_3_0_SIZE / 8].leak();
        // SAFETY: the real table is larger than its first VTABLE_3_0_SIZE
        // bytes, which go into a buffer of that size; they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                real.processors.cast::<u8>(),
                words.as_mut_ptr().cast::<u8>(),
                VTABLE_3_0_SIZE,
            )
        };
        let table = words.as_mut_ptr();
        // SAFETY: the first field of a table is its size, a u32 at offset 0.
        unsafe { table.cast::<u32>().write(VTABLE_3_0_SIZE as u32) };
        let old = altered(|d| {
            d.abi_minor = 0;
            d.processors = table.cast::<ProcessorVTable>().cast_const();
        });
        let mut processor = check(old)
            .unwrap()
            .instantiate(&spec("test.counted", ""))
            .unwrap();
        assert_eq!(processor.snapshot(), Ok(None));
        assert_eq!(
            processor.restore(&[1]),
            Err(worker_lifecycle::NO_RESTORE.into())
        );
        assert_eq!(
            worker_lifecycle::NO_RESTORE,
            plexus_plugin_sdk::NO_RESTORE,
            "a 3.0 plugin and a 3.1 one without restore() say the same"
        );
    }

    #[test]
    fn other_abi_versions_are_refused_by_name() {
        let newer_major = check(altered(|d| d.abi_major = ABI_MAJOR + 1))
            .err()
            .unwrap();
        assert_eq!(
            newer_major,
            format!(
                "`/p/libx.so` was built for plexus plugin ABI {}.{ABI_MINOR}, this worker speaks {ABI_MAJOR}.{ABI_MINOR}",
                ABI_MAJOR + 1
            )
        );
        let newer_minor = check(altered(|d| d.abi_minor = ABI_MINOR + 1))
            .err()
            .unwrap();
        assert!(
            newer_minor.contains(&format!("ABI {ABI_MAJOR}.{}", ABI_MINOR + 1)),
            "{newer_minor}"
        );
    }

    /// Plugins of ABI 2 read 56-byte headers and must be rebuilt; they are
    /// refused by name.
    #[test]
    fn an_abi_2_plugin_is_refused_by_name() {
        let old = check(altered(|d| {
            d.abi_major = 2;
            d.abi_minor = 1;
        }))
        .err()
        .unwrap();
        assert_eq!(
            old,
            "`/p/libx.so` was built for plexus plugin ABI 2.1, this worker speaks 3.1: rebuild it against this plexus's plugin SDK"
        );
    }

    #[test]
    fn malformed_descriptors_are_refused() {
        // SAFETY: a null descriptor is allowed, and refused.
        let null = unsafe { Plugin::from_descriptor("/p/libx.so", std::ptr::null()) }
            .err()
            .unwrap();
        assert!(null.contains("is not a plexus plugin"), "{null}");
        let small = check(altered(|d| d.struct_size = 16)).err().unwrap();
        assert!(
            small.starts_with("`/p/libx.so` has a malformed plugin descriptor: it is 16 bytes"),
            "{small}"
        );
        let tiny = check(altered(|d| d.struct_size = 4)).err().unwrap();
        assert!(tiny.contains("malformed"), "{tiny}");
        let no_table = check(altered(|d| d.processors = std::ptr::null()))
            .err()
            .unwrap();
        assert!(
            no_table.contains("lists 1 processors but no table"),
            "{no_table}"
        );
    }

    #[test]
    fn an_unknown_type_names_what_is_offered() {
        let plugin = check(descriptor()).unwrap();
        let missing = plugin.instantiate(&spec("example.x", "{}")).err().unwrap();
        assert_eq!(
            missing,
            "`/p/libx.so` has no processor `example.x` (it offers: test.counted)"
        );
    }

    #[test]
    fn create_failures_carry_the_plugin_message() {
        let plugin = check(descriptor()).unwrap();
        let error = plugin
            .instantiate(&spec("test.counted", r#"{"fail": "error"}"#))
            .err()
            .unwrap();
        assert_eq!(
            error,
            "`/p/libx.so` could not create processor `p1` (test.counted): `fail` asks for an error"
        );
        let panic = plugin
            .instantiate(&spec("test.counted", r#"{"fail": "panic"}"#))
            .err()
            .unwrap();
        assert!(
            panic.contains("): panicked: `fail` asks for a panic (at "),
            "{panic}"
        );
    }

    #[test]
    fn instances_are_destroyed_exactly_once() {
        let plugin = check(descriptor()).unwrap();
        let before = DESTROYED.load(Ordering::SeqCst);
        let mut processor = plugin.instantiate(&spec("test.counted", "")).unwrap();
        processor.teardown();
        drop(processor);
        assert_eq!(DESTROYED.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn missing_files_and_foreign_libraries_are_refused() {
        let mut libraries = PluginLibraries::new();
        let missing = libraries
            .create(&spec("x", ""), "/nonexistent/libnothing.so")
            .err()
            .unwrap();
        assert!(
            missing.starts_with("`/nonexistent/libnothing.so` does not exist"),
            "{missing}"
        );

        // libc is loaded in every test process and is certainly no plugin.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libc = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
            .expect("the test process maps libc");
        let foreign = libraries.create(&spec("x", ""), libc).err().unwrap();
        assert_eq!(
            foreign,
            format!("`{libc}` is not a plexus plugin: it exports no `plexus_plugin_entry_v3`")
        );
    }
}
