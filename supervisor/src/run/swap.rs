//! What a live swap is (docs/ARCHITECTURE.md §14): a successor process on
//! its way to take a worker's place (or, for `plexus apply`, to be a new
//! worker), the stage it is at, and the batch it commits with.
//! `handover.rs` takes swaps through their stages.

use std::time::Instant;

use ipc_schemas::WorkerConfig;

use super::recipe::Recipe;
use super::watched::Watched;
use super::worker::WorkerHandle;
use crate::load::diff::PlanDiff;
use crate::load::plan::Plan;

/// One new process under way: a successor of a worker, or a worker
/// `plexus apply` adds.
pub(super) struct Swap {
    /// The worker being replaced or added.
    pub worker: String,
    /// The processor the events and replies name.
    pub(super) processor: String,
    /// What the successor runs, as `upgrade_started` says it.
    pub(super) to: String,
    pub successor: WorkerHandle,
    pub(super) replaces: Replaces,
    pub(super) stage: Stage,
    /// What the successor is configured with.
    pub(super) config: WorkerConfig,
    /// The batch it belongs to: all of a batch's successors set up before
    /// any takes over.
    pub(super) batch: u32,
}

/// What a successor takes the place of.
pub(super) enum Replaces {
    /// The running worker of the same name, which hands over.
    Worker,
    /// Nothing: a worker `plexus apply` adds, with its processors' watch.
    Nothing { watched: Vec<Watched> },
}

/// Where a swap stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The successor greets and sets up, under its own handshake deadlines.
    Preparing,
    /// It is set up, waiting for the rest of its batch.
    Ready,
    /// The worker was told to hand over and owes `HandedOver` by then.
    HandingOver { deadline: Instant },
    /// The successor was told to take over from frame `seq` and owes
    /// `Running` by then.
    TakingOver { deadline: Instant, seq: u64 },
}

impl Stage {
    pub(super) fn deadline(self) -> Option<Instant> {
        match self {
            Stage::Preparing | Stage::Ready => None,
            Stage::HandingOver { deadline } | Stage::TakingOver { deadline, .. } => Some(deadline),
        }
    }

    /// Whether the worker was told to hand over, so that a failure must
    /// tell it to keep serving.
    pub(super) fn handing_over(self) -> bool {
        matches!(self, Stage::HandingOver { .. } | Stage::TakingOver { .. })
    }
}

/// Swaps that happen together: an `upgrade` is one, an `apply` all of its
/// changes. None takes over until all are set up, and a failure until then
/// ends them all, so that nothing changes.
pub(super) struct Batch {
    pub(super) id: u32,
    pub(super) reply_to: Option<String>,
    pub(super) requested: Instant,
    pub(super) state: BatchState,
    /// An `apply`'s new graph, installed once its swaps are over.
    pub change: Option<GraphChange>,
    /// What the reply says: each swap's outcome once committed.
    pub(super) done: Vec<String>,
    pub(super) failed: Vec<String>,
}

/// Whether a batch's successors may take over yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchState {
    Preparing,
    Committed,
}

/// What an `apply` changes beside its swaps.
pub(super) struct GraphChange {
    pub plan: Plan,
    pub diff: PlanDiff,
}

/// What one swap is asked to do.
pub(super) struct SwapRequest {
    /// The worker to replace or add.
    pub worker: String,
    /// The processor the events and replies name.
    pub processor: String,
    /// The successor's processors.
    pub config: WorkerConfig,
    /// How the successor is started.
    pub recipe: Recipe,
    /// What it runs, for the events: `PACKAGE@VERSION`, `reload` or `apply`.
    pub to: String,
    pub replaces: Replaces,
}
