//! The iceoryx2 node of one process within one runtime.

use iceoryx2::config::Config;
use iceoryx2::prelude::*;
use ipc_schemas::Names;

use crate::error::{ctx, BusError};
use crate::files::RuntimeFiles;
use crate::Ipc;

/// A process's membership in a runtime: its node and the runtime's names.
pub struct Bus {
    node: Node<Ipc>,
    names: Names,
}

impl Bus {
    /// Joins the runtime `names` as node `node_name`. Signals are left to the
    /// caller: the supervisor handles Ctrl-C itself, workers obey commands.
    pub fn join(names: Names, node_name: &str) -> Result<Self, BusError> {
        let config = runtime_config(&names)?;
        let name: NodeName = node_name
            .try_into()
            .map_err(ctx(format!("node name `{node_name}`")))?;
        let node = NodeBuilder::new()
            .name(&name)
            .config(&config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Ipc>()
            .map_err(ctx(format!("creating iceoryx2 node `{node_name}`")))?;
        Ok(Self { node, names })
    }

    pub fn node(&self) -> &Node<Ipc> {
        &self.node
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Runs `create` (a port creation) once more after removing dead nodes
    /// when it fails: a crashed predecessor's ports still count against the
    /// service's limits (`ExceedsMaxSupported…`) until they are cleaned.
    pub fn retrying_after_cleanup<T, E>(&self, create: impl Fn() -> Result<T, E>) -> Result<T, E> {
        create().or_else(|_| {
            let state = self
                .node
                .blocking_cleanup_dead_nodes(std::time::Duration::from_millis(100));
            tracing::debug!(
                cleaned = state.cleanups,
                "retrying a port after cleaning dead nodes"
            );
            create()
        })
    }

    /// Removes what dead processes of this runtime left on the bus, so that
    /// a replacement can open the same ports.
    pub fn cleanup_dead_nodes(&self) {
        let state = self.node.try_cleanup_dead_nodes();
        if state.failed_cleanups > 0 {
            tracing::warn!(
                failed = state.failed_cleanups,
                "some dead iceoryx2 nodes could not be cleaned"
            );
        }
    }
}

/// The iceoryx2 configuration of one runtime: its own root directory and
/// file prefix, so runtimes never see each other's services and a runtime's
/// files can be removed as a whole.
pub fn runtime_config(names: &Names) -> Result<Config, BusError> {
    let files = RuntimeFiles::new(names);
    let mut config = Config::default();
    config.global.prefix = files
        .prefix()
        .try_into()
        .map_err(ctx("runtime file prefix"))?;
    let root = files.root_dir();
    let root = format!("{}/", root.display());
    config
        .global
        .set_root_path(&root.as_str().try_into().map_err(ctx("runtime root path"))?);
    Ok(config)
}
