//! The channels between the runtime thread, which owns every iceoryx2 object
//! and runs the worker lifecycle, and JavaScript, which calls in through FFI.
//!
//! One processor call is one [`Event`] to JavaScript followed by requests
//! from JavaScript ([`Request::Loan`], [`Request::Send`]) that the runtime
//! thread serves while it waits, until [`Request::Done`] ends the call. The
//! runtime thread is inside `Processor::process` the whole time, so the input
//! frame and the loaned buffers it hands out stay valid until `Done`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::{unbounded, Receiver, Sender};
use ipc_schemas::FrameHeader;
use worker_runtime::Outputs;

/// Event kinds as `plexus_deno_next` returns them.
pub const EVENT_CREATE: i32 = 1;
pub const EVENT_PROCESS: i32 = 2;
pub const EVENT_TEARDOWN: i32 = 3;
pub const EVENT_EXIT: i32 = 4;

pub const OUTSIDE_PROCESS: &str = "outputs can only be used inside process()";
const HOST_GONE: &str = "the Deno host stopped answering (its end of the bridge is closed)";
const RUNTIME_GONE: &str = "the runtime thread has ended";

/// A pointer into shared memory that crosses to the JavaScript thread. It
/// is only dereferenced while the call that produced it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPtr(pub *mut u8);

// SAFETY: the pointee is shared memory owned by the runtime thread, which
// keeps it alive (it waits inside the processor call) for as long as the
// other thread may use the pointer: until that thread sends `Done`.
unsafe impl Send for DataPtr {}

/// Runtime thread → JavaScript.
#[derive(Debug)]
pub enum Event {
    /// Create processor number `index`; `json` describes it (see `host.rs`).
    Create {
        json: String,
    },
    /// Process one input frame of processor `processor`.
    Process {
        processor: u32,
        port: u32,
        header: FrameHeader,
        data: DataPtr,
        len: usize,
    },
    Teardown {
        processor: u32,
    },
    /// The lifecycle ended; `code` is the exit code the process should use.
    Exit {
        code: i32,
        message: String,
    },
}

impl Event {
    pub fn kind(&self) -> i32 {
        match self {
            Event::Create { .. } => EVENT_CREATE,
            Event::Process { .. } => EVENT_PROCESS,
            Event::Teardown { .. } => EVENT_TEARDOWN,
            Event::Exit { .. } => EVENT_EXIT,
        }
    }

    /// The JSON text `plexus_deno_event_json` hands out; `None` for frames,
    /// which are read through `plexus_deno_event_frame` instead.
    pub fn json(&self) -> Option<String> {
        match self {
            Event::Create { json } => Some(json.clone()),
            Event::Teardown { processor } => {
                Some(serde_json::json!({ "processor": processor }).to_string())
            }
            Event::Exit { code, message } => {
                Some(serde_json::json!({ "code": code, "message": message }).to_string())
            }
            Event::Process { .. } => None,
        }
    }
}

/// What `plexus_deno_event_frame` writes for a [`Event::Process`]; the
/// layout is mirrored by `FRAME_INFO` in `ts/host.ts`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameInfo {
    pub processor: u32,
    pub port: u32,
    pub len: u64,
    pub header: FrameHeader,
}

/// JavaScript → runtime thread.
#[derive(Debug)]
pub enum Request {
    Loan { port: usize, len: usize },
    Send { port: usize, header: FrameHeader },
    Done(Result<(), String>),
}

/// Runtime thread → JavaScript, answering a request.
#[derive(Debug)]
pub enum Reply {
    Loaned(Result<(DataPtr, usize), String>),
    Sent(Result<(), String>),
}

/// Creates both ends.
pub fn pair() -> (RuntimeEnd, JsEnd) {
    let (events_tx, events_rx) = unbounded();
    let (requests_tx, requests_rx) = unbounded();
    let (replies_tx, replies_rx) = unbounded();
    let runtime = RuntimeEnd {
        events: events_tx,
        requests: requests_rx,
        replies: replies_tx,
    };
    let js = JsEnd {
        events: events_rx,
        requests: requests_tx,
        replies: replies_rx,
        state: Mutex::default(),
    };
    (runtime, js)
}

/// The runtime thread's end.
pub struct RuntimeEnd {
    events: Sender<Event>,
    requests: Receiver<Request>,
    replies: Sender<Reply>,
}

impl RuntimeEnd {
    /// Hands `event` to JavaScript and serves its requests until it is done.
    /// `outputs` are those of the running `process` call, if any.
    pub fn call(&self, event: Event, mut outputs: Option<&mut Outputs<'_>>) -> Result<(), String> {
        self.events.send(event).map_err(|_| HOST_GONE.to_string())?;
        loop {
            let request = self.requests.recv().map_err(|_| HOST_GONE.to_string())?;
            let reply = match request {
                Request::Done(result) => return result,
                Request::Loan { port, len } => Reply::Loaned(match outputs.as_deref_mut() {
                    Some(outputs) => outputs
                        .loan(port, len)
                        .map(|buf| (DataPtr(buf.as_mut_ptr()), buf.len()))
                        .map_err(|e| e.to_string()),
                    None => Err(OUTSIDE_PROCESS.into()),
                }),
                Request::Send { port, header } => Reply::Sent(match outputs.as_deref_mut() {
                    Some(outputs) => outputs.send(port, &header).map_err(|e| e.to_string()),
                    None => Err(OUTSIDE_PROCESS.into()),
                }),
            };
            self.replies
                .send(reply)
                .map_err(|_| HOST_GONE.to_string())?;
        }
    }

    /// Tells JavaScript the lifecycle ended.
    pub fn exit(&self, code: i32, message: String) {
        // Nobody to tell if JavaScript is gone.
        let _ = self.events.send(Event::Exit { code, message });
    }
}

#[derive(Debug, Default)]
struct State {
    /// The event `next` returned last.
    current: Option<Event>,
    /// A call is open: `next` returned Create/Process/Teardown and `done`
    /// has not been called yet.
    open: bool,
    exited: bool,
    /// Per output port, the buffer loaned during the open call and not yet
    /// sent: the runtime keeps it valid until it is sent, the port loans
    /// again, or the call ends.
    loans: HashMap<usize, (DataPtr, usize)>,
}

/// JavaScript's end, behind the handle the FFI functions receive. `next`
/// runs on a Deno-managed thread; everything else on the JavaScript thread.
pub struct JsEnd {
    events: Receiver<Event>,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    state: Mutex<State>,
}

impl JsEnd {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next event and returns its kind.
    pub fn next(&self) -> Result<i32, String> {
        {
            let state = self.state();
            if state.open {
                return Err("next() was called before done() ended the previous call".into());
            }
            if state.exited {
                return Ok(EVENT_EXIT);
            }
        }
        let event = self
            .events
            .recv()
            .map_err(|_| format!("{RUNTIME_GONE} without saying why"))?;
        let kind = event.kind();
        let mut state = self.state();
        state.open = kind != EVENT_EXIT;
        state.exited = kind == EVENT_EXIT;
        state.current = Some(event);
        Ok(kind)
    }

    pub fn event_json(&self) -> Result<String, String> {
        match &self.state().current {
            Some(event) => event
                .json()
                .ok_or_else(|| "a frame event has no JSON; read it as a frame".into()),
            None => Err("there is no current event".into()),
        }
    }

    pub fn event_frame(&self) -> Result<FrameInfo, String> {
        let state = self.state();
        match &state.current {
            Some(Event::Process {
                processor,
                port,
                header,
                len,
                ..
            }) if state.open => Ok(FrameInfo {
                processor: *processor,
                port: *port,
                len: *len as u64,
                header: *header,
            }),
            _ => Err("there is no frame being processed".into()),
        }
    }

    /// The input data of the frame being processed.
    pub fn frame_memory(&self) -> Result<(DataPtr, usize), String> {
        let state = self.state();
        match &state.current {
            Some(Event::Process { data, len, .. }) if state.open => Ok((*data, *len)),
            _ => Err("there is no frame being processed".into()),
        }
    }

    /// The buffer loaned on `port` during the open call and not yet sent.
    pub fn loan_memory(&self, port: usize) -> Result<(DataPtr, usize), String> {
        self.state()
            .loans
            .get(&port)
            .copied()
            .ok_or_else(|| format!("output {port} has no loaned buffer in this call"))
    }

    /// Sends a request that needs the running `process` call and waits for
    /// the runtime thread's reply.
    fn request(&self, request: Request) -> Result<Reply, String> {
        {
            let state = self.state();
            if !(state.open && matches!(state.current, Some(Event::Process { .. }))) {
                return Err(OUTSIDE_PROCESS.into());
            }
        }
        self.requests
            .send(request)
            .map_err(|_| RUNTIME_GONE.to_string())?;
        self.replies.recv().map_err(|_| RUNTIME_GONE.to_string())
    }

    pub fn loan(&self, port: usize, len: usize) -> Result<(DataPtr, usize), String> {
        // The runtime gives back a buffer loaned earlier on the port.
        self.state().loans.remove(&port);
        match self.request(Request::Loan { port, len })? {
            Reply::Loaned(Ok(loan)) => {
                self.state().loans.insert(port, loan);
                Ok(loan)
            }
            Reply::Loaned(Err(e)) => Err(e),
            other => Err(format!("the runtime answered a loan with {other:?}")),
        }
    }

    pub fn send(&self, port: usize, header: FrameHeader) -> Result<(), String> {
        let result = match self.request(Request::Send { port, header })? {
            Reply::Sent(result) => result,
            other => Err(format!("the runtime answered a send with {other:?}")),
        };
        // Sent or not, the runtime no longer holds the loan for JavaScript.
        self.state().loans.remove(&port);
        result
    }

    /// Ends the open call with its outcome.
    pub fn done(&self, result: Result<(), String>) -> Result<(), String> {
        let mut state = self.state();
        if !state.open {
            return Err("done() was called with no call open".into());
        }
        state.open = false;
        state.loans.clear();
        self.requests
            .send(Request::Done(result))
            .map_err(|_| RUNTIME_GONE.to_string())
    }

    /// Whether the runtime thread reported its end (so it can be joined).
    pub fn exited(&self) -> bool {
        self.state().exited
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn frame_info_layout_matches_host_ts() {
        assert_eq!(std::mem::size_of::<FrameInfo>(), 56);
        assert_eq!(offset_of!(FrameInfo, processor), 0);
        assert_eq!(offset_of!(FrameInfo, port), 4);
        assert_eq!(offset_of!(FrameInfo, len), 8);
        assert_eq!(offset_of!(FrameInfo, header), 16);
        assert_eq!(offset_of!(FrameHeader, seq), 8);
        assert_eq!(offset_of!(FrameHeader, capture_ns), 16);
        assert_eq!(offset_of!(FrameHeader, width), 24);
        assert_eq!(offset_of!(FrameHeader, stride), 32);
    }

    #[test]
    fn events_encode_their_kind_and_details() {
        let exit = Event::Exit {
            code: 1,
            message: "no \"bus\"".into(),
        };
        assert_eq!(exit.kind(), EVENT_EXIT);
        let json: serde_json::Value = serde_json::from_str(&exit.json().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": 1, "message": "no \"bus\""})
        );
        let teardown = Event::Teardown { processor: 3 };
        assert_eq!(teardown.kind(), EVENT_TEARDOWN);
        assert_eq!(teardown.json().unwrap(), r#"{"processor":3}"#);
        let frame = Event::Process {
            processor: 0,
            port: 0,
            header: FrameHeader::default(),
            data: DataPtr(std::ptr::null_mut()),
            len: 0,
        };
        assert_eq!(frame.kind(), EVENT_PROCESS);
        assert!(frame.json().is_none());
    }

    /// Plays JavaScript on another thread for one runtime-side call.
    fn serve_once(event: Event, js: impl FnOnce(&JsEnd) + Send + 'static) -> Result<(), String> {
        let (runtime, js_end) = pair();
        let player = std::thread::spawn(move || {
            js_end.next().unwrap();
            js(&js_end);
            js_end
        });
        let result = runtime.call(event, None);
        player.join().unwrap();
        result
    }

    #[test]
    fn done_ends_a_call_with_its_outcome() {
        let create = || Event::Create { json: "{}".into() };
        let ok = serve_once(create(), |js| {
            assert_eq!(js.event_json().unwrap(), "{}");
            js.done(Ok(())).unwrap();
            assert!(js.done(Ok(())).is_err(), "a second done() is refused");
        });
        assert_eq!(ok, Ok(()));
        let failed = serve_once(create(), |js| js.done(Err("boom".into())).unwrap());
        assert_eq!(failed, Err("boom".into()));
    }

    #[test]
    fn outputs_are_refused_outside_process() {
        let result = serve_once(Event::Teardown { processor: 0 }, |js| {
            assert_eq!(js.loan(0, 4).unwrap_err(), OUTSIDE_PROCESS);
            assert_eq!(
                js.send(0, FrameHeader::default()).unwrap_err(),
                OUTSIDE_PROCESS
            );
            assert!(js.event_frame().is_err());
            js.done(Ok(())).unwrap();
        });
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_frame_event_is_readable_until_done_and_loans_reach_the_runtime() {
        let header = FrameHeader {
            seq: 7,
            width: 2,
            ..Default::default()
        };
        let event = Event::Process {
            processor: 1,
            port: 2,
            header,
            data: DataPtr(8 as *mut u8),
            len: 16,
        };
        let result = serve_once(event, move |js| {
            let info = js.event_frame().unwrap();
            assert_eq!((info.processor, info.port, info.len), (1, 2, 16));
            assert_eq!(info.header, header);
            assert_eq!(js.frame_memory().unwrap(), (DataPtr(8 as *mut u8), 16));
            // The runtime has no outputs for this call: it says so.
            assert_eq!(js.loan(0, 4).unwrap_err(), OUTSIDE_PROCESS);
            assert!(js.loan_memory(0).is_err());
            js.done(Ok(())).unwrap();
            assert!(js.event_frame().is_err(), "the frame is gone after done()");
            assert!(js.frame_memory().is_err());
        });
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn loans_are_tracked_per_port_until_sent_replaced_or_done() {
        let (runtime, js) = pair();
        let player = std::thread::spawn(move || {
            assert_eq!(js.next().unwrap(), EVENT_PROCESS);
            let first = js.loan(0, 4).unwrap();
            assert_eq!(js.loan_memory(0).unwrap(), first);
            let second = js.loan(0, 8).unwrap();
            assert_eq!(js.loan_memory(0).unwrap(), second, "a new loan replaces");
            js.loan(1, 2).unwrap();
            js.send(0, FrameHeader::default()).unwrap();
            assert!(js.loan_memory(0).is_err(), "sent");
            assert!(js.loan_memory(1).is_ok());
            js.done(Ok(())).unwrap();
            assert!(js.loan_memory(1).is_err(), "the call ended");
        });
        // Plays the runtime thread with fake memory.
        let event = Event::Process {
            processor: 0,
            port: 0,
            header: FrameHeader::default(),
            data: DataPtr(std::ptr::null_mut()),
            len: 0,
        };
        runtime.events.send(event).unwrap();
        let mut next_address = 0x1000;
        loop {
            let reply = match runtime.requests.recv().unwrap() {
                Request::Loan { len, .. } => {
                    next_address += 0x1000;
                    Reply::Loaned(Ok((DataPtr(next_address as *mut u8), len)))
                }
                Request::Send { .. } => Reply::Sent(Ok(())),
                Request::Done(result) => break assert_eq!(result, Ok(())),
            };
            runtime.replies.send(reply).unwrap();
        }
        player.join().unwrap();
    }

    #[test]
    fn a_vanished_side_is_an_error_not_a_hang() {
        let (runtime, js) = pair();
        drop(js);
        let err = runtime.call(Event::Teardown { processor: 0 }, None);
        assert_eq!(err, Err(HOST_GONE.into()));
        let (runtime, js) = pair();
        drop(runtime);
        assert!(js.next().unwrap_err().contains(RUNTIME_GONE));
    }
}
