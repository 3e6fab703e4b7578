//! What the agent's one working thread is asked to do: requests that passed
//! the door, and news about the part it runs.

use ipc_schemas::link::Part;
use zenoh::query::Query;

pub enum Work {
    /// A request whose token was right, with the query to answer.
    Request(Request, Query),
    /// The coordinator of run `runtime` went away.
    CoordinatorGone { runtime: String },
}

pub enum Request {
    Check(Box<Part>),
    Start(Box<Part>),
    RestartWorker(String),
    Stop,
}
