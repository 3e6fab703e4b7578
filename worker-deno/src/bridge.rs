//! The hand-over between the lifecycle thread, which owns every iceoryx2 object
//! and runs the worker lifecycle, and JavaScript, which calls in through FFI.
//!
//! One processor call is one [`Event`] to JavaScript and one outcome back
//! (`done`). While a `process` call is open the lifecycle thread is parked
//! waiting for that outcome, so it lends the call's output ports to the
//! JavaScript thread, which loans and sends on them directly: one wake-up
//! each way per frame instead of a round trip per `loan` and per `send`.
//! The input frame and the loaned buffers stay valid until `done`.
//!
//! A manual processor sends from JavaScript timers and loops between calls:
//! from `Start` until `Stop` the bridge holds its [`Producer`], and loans and
//! sends name the processor they are for.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{unbounded, Receiver, Sender};
use ipc_schemas::FrameHeader;
use worker_lifecycle::{Ports, Producer};

/// Event kinds as `plexus_deno_next` returns them.
pub const EVENT_CREATE: i32 = 1;
pub const EVENT_PROCESS: i32 = 2;
pub const EVENT_TEARDOWN: i32 = 3;
pub const EVENT_EXIT: i32 = 4;
pub const EVENT_PRODUCE: i32 = 5;
pub const EVENT_START: i32 = 6;
pub const EVENT_STOP: i32 = 7;
pub const EVENT_PAUSE: i32 = 8;
pub const EVENT_RESUME: i32 = 9;
pub const EVENT_CONFIG: i32 = 10;
pub const EVENT_SNAPSHOT: i32 = 11;
pub const EVENT_RESTORE: i32 = 12;

pub const OUTSIDE_PROCESS: &str =
    "outputs can only be used inside process() or produce(), or between start() and stop()";
const HOST_GONE: &str = "the Deno host stopped answering (its end of the bridge is closed)";
const LIFECYCLE_GONE: &str = "the lifecycle thread has ended";
const NO_FRAME: &str = "there is no such frame being processed";

/// A pointer into shared memory that crosses to the JavaScript thread. It
/// is only dereferenced while the call that produced it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPtr(pub *mut u8);

// SAFETY: the pointee is shared memory owned by the lifecycle thread, which
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
    /// Process input frames of processor `processor`: one, or one per
    /// input when its inputs are synchronised.
    Process {
        processor: u32,
        frames: Vec<FrameRef>,
    },
    Teardown {
        processor: u32,
    },
    /// Call processor `processor`'s `onPause`, if it has one.
    Pause {
        processor: u32,
    },
    /// Call processor `processor`'s `onResume`, if it has one.
    Resume {
        processor: u32,
    },
    /// Hand processor `processor`'s `onConfig` the config keys a user
    /// changed (`changes_json`, a JSON object); it answers
    /// [`Answer::NoHook`] when it has none.
    Config {
        processor: u32,
        changes_json: String,
    },
    /// Take processor `processor`'s state for its successor (a live
    /// swap); it answers [`Answer::State`], or [`Answer::NoHook`] when it
    /// has no `snapshot`.
    Snapshot {
        processor: u32,
    },
    /// Hand processor `processor` its predecessor's state, which
    /// `plexus_deno_event_state` copies out; it answers
    /// [`Answer::NoHook`] when it has no `restore`.
    Restore {
        processor: u32,
        state: Vec<u8>,
    },
    /// Let continuous processor `processor` produce; its sends default to
    /// `header` (the next sequence number, this call's capture time).
    Produce {
        processor: u32,
        header: FrameHeader,
    },
    /// Let manual processor `processor` start producing on its own.
    Start {
        processor: u32,
    },
    /// Make it stop.
    Stop {
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
            Event::Produce { .. } => EVENT_PRODUCE,
            Event::Start { .. } => EVENT_START,
            Event::Stop { .. } => EVENT_STOP,
            Event::Pause { .. } => EVENT_PAUSE,
            Event::Resume { .. } => EVENT_RESUME,
            Event::Config { .. } => EVENT_CONFIG,
            Event::Snapshot { .. } => EVENT_SNAPSHOT,
            Event::Restore { .. } => EVENT_RESTORE,
        }
    }

    /// The JSON text `plexus_deno_event_json` hands out; `None` for frames
    /// and productions, which are read through `plexus_deno_event_frame`.
    pub fn json(&self) -> Option<String> {
        match self {
            Event::Create { json } => Some(json.clone()),
            Event::Teardown { processor }
            | Event::Start { processor }
            | Event::Stop { processor }
            | Event::Pause { processor }
            | Event::Resume { processor }
            | Event::Snapshot { processor }
            | Event::Restore { processor, .. } => {
                Some(serde_json::json!({ "processor": processor }).to_string())
            }
            Event::Exit { code, message } => {
                Some(serde_json::json!({ "code": code, "message": message }).to_string())
            }
            // The changes were checked as JSON by the supervisor; they are
            // spliced in as they are, not parsed again.
            Event::Config {
                processor,
                changes_json,
            } => Some(format!(
                r#"{{"processor":{processor},"changes":{changes_json}}}"#
            )),
            Event::Process { .. } | Event::Produce { .. } => None,
        }
    }
}

/// One input frame of a [`Event::Process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    pub port: u32,
    pub header: FrameHeader,
    pub data: DataPtr,
    pub len: usize,
}

/// What `plexus_deno_event_frame` writes for frame `index` of a
/// [`Event::Process`] (and, with no data, for a [`Event::Produce`]); the
/// layout is mirrored by `FRAME_INFO` in `ts/host.ts`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameInfo {
    pub processor: u32,
    pub port: u32,
    pub len: u64,
    pub header: FrameHeader,
    /// How many frames the event has.
    pub frames: u32,
    pub reserved: u32,
}

/// The outputs of the open `process` call, lent by the lifecycle thread,
/// with their lifetime erased: [`Lend`] keeps the pointer in [`State`] only
/// while the borrow it came from is alive.
#[derive(Clone, Copy)]
struct Lent(NonNull<dyn Ports + 'static>);

// SAFETY: the outputs are a borrow of the lifecycle thread's, whose ports
// are thread-safe (`bus::Ipc`); what must hold is that the borrow is alive
// and not used by two threads at once, which the protocol guarantees: the
// pointer is only dereferenced by the
// JavaScript thread with the `State` mutex held, while the lifecycle thread is
// parked in `RuntimeEnd::call` and cannot use the ports (they are mutably
// borrowed by the `Lend`); it is put into `State` (mutex) before the event
// is sent, and removed (mutex) by `done` before the outcome is sent and by
// `Lend::drop` before `call` returns. Mutex and channel give the
// happens-before edges in both directions.
unsafe impl Send for Lent {}

/// Lends a call's outputs to the JavaScript thread for as long as it lives.
struct Lend<'a> {
    state: &'a Mutex<State>,
    _outputs: PhantomData<&'a mut dyn Ports>,
}

impl<'a> Lend<'a> {
    fn new(state: &'a Mutex<State>, outputs: &'a mut dyn Ports) -> Self {
        let ptr: NonNull<dyn Ports + 'a> = NonNull::from(outputs);
        // SAFETY: only the trait object's lifetime bound changes; `Drop`
        // removes the pointer before `'a` ends (see `Lent`).
        let ptr: NonNull<dyn Ports + 'static> = unsafe { std::mem::transmute(ptr) };
        lock(state).lent = Some(Lent(ptr));
        Self {
            state,
            _outputs: PhantomData,
        }
    }
}

impl Drop for Lend<'_> {
    fn drop(&mut self) {
        // Taken back under the lock: the JavaScript thread is not inside the
        // outputs once this returns, whether or not it said `done`.
        lock(self.state).lent = None;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// How JavaScript ended a call that went well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done,
    /// The processor has no hook for the event (`onConfig`, `snapshot`,
    /// `restore`).
    NoHook,
    /// The state `snapshot` returned.
    State(Vec<u8>),
}

/// Creates both ends.
pub fn pair() -> (RuntimeEnd, JsEnd) {
    let (events_tx, events_rx) = unbounded();
    let (done_tx, done_rx) = unbounded();
    let state = Arc::new(Mutex::default());
    let runtime = RuntimeEnd {
        events: events_tx,
        done: done_rx,
        state: Arc::clone(&state),
    };
    let js = JsEnd {
        events: events_rx,
        done: done_tx,
        state,
    };
    (runtime, js)
}

/// The lifecycle thread's end.
pub struct RuntimeEnd {
    events: Sender<Event>,
    done: Receiver<Result<Answer, String>>,
    state: Arc<Mutex<State>>,
}

impl RuntimeEnd {
    /// Hands `event` to JavaScript and waits until it is done, lending it
    /// `outputs` (those of the running `process` call, if any) meanwhile.
    pub fn call(&self, event: Event, outputs: Option<&mut dyn Ports>) -> Result<(), String> {
        self.ask(event, outputs).map(|_| ())
    }

    /// [`Self::call`], telling how JavaScript answered.
    pub fn ask(&self, event: Event, outputs: Option<&mut dyn Ports>) -> Result<Answer, String> {
        let _lend = outputs.map(|outputs| Lend::new(&self.state, outputs));
        self.events.send(event).map_err(|_| HOST_GONE.to_string())?;
        self.done.recv().map_err(|_| HOST_GONE.to_string())?
    }

    /// Starts manual processor `processor`: from now until [`Self::stop`]
    /// JavaScript sends through `producer` whenever it likes.
    pub fn start(&self, processor: u32, producer: Producer) -> Result<(), String> {
        lock(&self.state).producers.insert(processor, producer);
        self.call(Event::Start { processor }, None)
    }

    /// Stops manual processor `processor`; its sends are refused after.
    pub fn stop(&self, processor: u32) -> Result<(), String> {
        let stopped = self.call(Event::Stop { processor }, None);
        let mut state = lock(&self.state);
        state.producers.remove(&processor);
        state.loans.retain(|(p, _), _| *p != processor);
        stopped
    }

    /// Tells JavaScript the lifecycle ended.
    pub fn exit(&self, code: i32, message: String) {
        // Nobody to tell if JavaScript is gone.
        let _ = self.events.send(Event::Exit { code, message });
    }
}

/// Per processor and output port, the buffer loaned and not yet sent.
type Loans = HashMap<(u32, usize), (DataPtr, usize)>;

#[derive(Default)]
struct State {
    /// The event `next` returned last.
    current: Option<Event>,
    /// A call is open: `next` returned Create/Process/Teardown and `done`
    /// has not been called yet.
    open: bool,
    exited: bool,
    /// The outputs of the open `process` call, lent by the lifecycle thread.
    lent: Option<Lent>,
    /// The outputs of started manual processors, by processor.
    producers: HashMap<u32, Producer>,
    /// Per processor and output port, the buffer loaned and not yet sent:
    /// the runtime keeps it valid until it is sent, the port loans again,
    /// or the call (or, for a manual processor, its run) ends.
    loans: Loans,
}

/// JavaScript's end, behind the handle the FFI functions receive. `next`
/// runs on a Deno-managed thread; everything else on the JavaScript thread.
pub struct JsEnd {
    events: Receiver<Event>,
    done: Sender<Result<Answer, String>>,
    state: Arc<Mutex<State>>,
}

impl JsEnd {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
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
            .map_err(|_| format!("{LIFECYCLE_GONE} without saying why"))?;
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

    /// The state a restore event carries.
    pub fn with_event_state<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Result<T, String> {
        match &self.state().current {
            Some(Event::Restore { state, .. }) => Ok(f(state)),
            _ => Err("the current event carries no state".into()),
        }
    }

    /// Frame `index` of the open call.
    pub fn event_frame(&self, index: usize) -> Result<FrameInfo, String> {
        let state = self.state();
        match &state.current {
            Some(Event::Process { processor, frames }) if state.open => {
                let frame = frames.get(index).ok_or(NO_FRAME)?;
                Ok(FrameInfo {
                    processor: *processor,
                    port: frame.port,
                    len: frame.len as u64,
                    header: frame.header,
                    frames: frames.len() as u32,
                    reserved: 0,
                })
            }
            Some(Event::Produce { processor, header }) if state.open => Ok(FrameInfo {
                processor: *processor,
                header: *header,
                ..FrameInfo::default()
            }),
            _ => Err(NO_FRAME.into()),
        }
    }

    /// The input data of frame `index` of the open call.
    pub fn frame_memory(&self, index: usize) -> Result<(DataPtr, usize), String> {
        let state = self.state();
        match &state.current {
            Some(Event::Process { frames, .. }) if state.open => frames
                .get(index)
                .map(|f| (f.data, f.len))
                .ok_or_else(|| NO_FRAME.into()),
            _ => Err(NO_FRAME.into()),
        }
    }

    /// The buffer loaned on `port` of `processor` and not yet sent.
    pub fn loan_memory(&self, processor: u32, port: usize) -> Result<(DataPtr, usize), String> {
        self.state()
            .loans
            .get(&(processor, port))
            .copied()
            .ok_or_else(|| format!("output {port} has no loaned buffer"))
    }

    /// Runs `f` on the outputs of `processor`: those lent by its open call,
    /// or, started manually, its producer; with the state locked for the
    /// whole use (see `Lent`).
    fn with_outputs<T>(
        &self,
        processor: u32,
        f: impl FnOnce(&mut dyn Ports, &mut Loans) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut state = self.state();
        let state = &mut *state;
        let lent = match (&state.current, state.open, state.lent) {
            (
                Some(Event::Process { processor: p, .. } | Event::Produce { processor: p, .. }),
                true,
                Some(lent),
            ) if *p == processor => Some(lent),
            _ => None,
        };
        if let Some(lent) = lent {
            // SAFETY: `lent` is in the state, so the lifecycle thread is
            // parked in `call` with these outputs borrowed and unused, and
            // the lock held until `f` returns keeps it from taking them back
            // meanwhile.
            let outputs = unsafe { &mut *lent.0.as_ptr() };
            return f(outputs, &mut state.loans);
        }
        match state.producers.get_mut(&processor) {
            Some(producer) => f(producer, &mut state.loans),
            None => Err(OUTSIDE_PROCESS.into()),
        }
    }

    pub fn loan(
        &self,
        processor: u32,
        port: usize,
        len: usize,
    ) -> Result<(DataPtr, usize), String> {
        self.with_outputs(processor, |outputs, loans| {
            // The port gives back a buffer loaned earlier on it.
            loans.remove(&(processor, port));
            let buf = outputs.loan(port, len).map_err(|e| e.to_string())?;
            let loan = (DataPtr(buf.as_mut_ptr()), buf.len());
            loans.insert((processor, port), loan);
            Ok(loan)
        })
    }

    pub fn send(&self, processor: u32, port: usize, header: FrameHeader) -> Result<(), String> {
        self.with_outputs(processor, |outputs, loans| {
            let result = outputs.send(port, &header);
            // Sent or not, the port no longer holds the loan for JavaScript.
            loans.remove(&(processor, port));
            result.map(drop).map_err(|e| e.to_string())
        })
    }

    /// Manual processor `processor` has sent its last frame.
    pub fn finish(&self, processor: u32) -> Result<(), String> {
        match self.state().producers.get(&processor) {
            Some(producer) => {
                producer.finish();
                Ok(())
            }
            None => Err("finish() is for a manual source, between start() and stop()".into()),
        }
    }

    /// The header a manual processor's next frame carries by default.
    pub fn next_header(&self, processor: u32) -> Result<FrameHeader, String> {
        match self.state().producers.get(&processor) {
            Some(producer) => Ok(producer.next_header()),
            None => Err(format!(
                "processor {processor} is not started in mode manual"
            )),
        }
    }

    /// Ends the open call with its outcome.
    pub fn done(&self, result: Result<(), String>) -> Result<(), String> {
        self.answer(result.map(|()| Answer::Done))
    }

    /// [`Self::done`], with how the call went well.
    pub fn answer(&self, result: Result<Answer, String>) -> Result<(), String> {
        let mut state = self.state();
        if !state.open {
            return Err("done() was called with no call open".into());
        }
        state.open = false;
        // The call's loans end with it; a manual processor's go on.
        if let Some(Event::Process { processor, .. } | Event::Produce { processor, .. }) =
            state.current
        {
            state.loans.retain(|(p, _), _| *p != processor);
        }
        state.lent = None;
        self.done
            .send(result)
            .map_err(|_| LIFECYCLE_GONE.to_string())
    }

    /// Whether the lifecycle thread reported its end (so it can be joined).
    pub fn exited(&self) -> bool {
        self.state().exited
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use worker_lifecycle::OutputError;

    use super::*;

    #[test]
    fn frame_info_layout_matches_host_ts() {
        assert_eq!(std::mem::size_of::<FrameInfo>(), 120);
        assert_eq!(offset_of!(FrameInfo, frames), 112);
        assert_eq!(offset_of!(FrameInfo, processor), 0);
        assert_eq!(offset_of!(FrameInfo, port), 4);
        assert_eq!(offset_of!(FrameInfo, len), 8);
        assert_eq!(offset_of!(FrameInfo, header), 16);
        assert_eq!(offset_of!(FrameHeader, seq), 8);
        assert_eq!(offset_of!(FrameHeader, capture_ns), 16);
        assert_eq!(offset_of!(FrameHeader, width), 24);
        assert_eq!(offset_of!(FrameHeader, stride), 32);
        assert_eq!(offset_of!(FrameHeader, pts_ns), 40);
        assert_eq!(offset_of!(FrameHeader, duration_ns), 48);
        assert_eq!(offset_of!(FrameHeader, rate), 56);
        assert_eq!(offset_of!(FrameHeader, ndim), 60);
        assert_eq!(offset_of!(FrameHeader, shape), 64);
        assert_eq!(offset_of!(FrameHeader, strides), 80);
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
        let pause = Event::Pause { processor: 1 };
        assert_eq!(pause.kind(), EVENT_PAUSE);
        assert_eq!(pause.json().unwrap(), r#"{"processor":1}"#);
        assert_eq!(Event::Resume { processor: 1 }.kind(), EVENT_RESUME);
        let frame = Event::Process {
            processor: 0,
            frames: vec![],
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
    fn a_config_event_carries_its_changes_and_hears_of_no_hook() {
        let event = Event::Config {
            processor: 3,
            changes_json: r#"{"value":7}"#.into(),
        };
        assert_eq!(event.kind(), EVENT_CONFIG);
        let json: serde_json::Value = serde_json::from_str(&event.json().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"processor": 3, "changes": {"value": 7}})
        );
        let (runtime, js) = pair();
        let host = std::thread::spawn(move || {
            js.next().unwrap();
            js.answer(Ok(Answer::NoHook)).unwrap();
        });
        assert_eq!(runtime.ask(event, None), Ok(Answer::NoHook));
        host.join().unwrap();
    }

    #[test]
    fn state_travels_in_both_directions() {
        let snapshot = Event::Snapshot { processor: 2 };
        assert_eq!(snapshot.kind(), EVENT_SNAPSHOT);
        assert_eq!(snapshot.json().unwrap(), r#"{"processor":2}"#);
        let (runtime, js) = pair();
        let host = std::thread::spawn(move || {
            assert_eq!(js.next().unwrap(), EVENT_SNAPSHOT);
            assert!(js.with_event_state(<[u8]>::to_vec).is_err());
            js.answer(Ok(Answer::State(vec![7, 0]))).unwrap();
            assert_eq!(js.next().unwrap(), EVENT_RESTORE);
            assert_eq!(js.event_json().unwrap(), r#"{"processor":2}"#);
            assert_eq!(js.with_event_state(<[u8]>::to_vec), Ok(vec![7, 0]));
            js.done(Ok(())).unwrap();
        });
        assert_eq!(runtime.ask(snapshot, None), Ok(Answer::State(vec![7, 0])));
        let restore = Event::Restore {
            processor: 2,
            state: vec![7, 0],
        };
        assert_eq!(restore.kind(), EVENT_RESTORE);
        assert_eq!(runtime.call(restore, None), Ok(()));
        host.join().unwrap();
    }

    #[test]
    fn outputs_are_refused_outside_process() {
        let result = serve_once(Event::Teardown { processor: 0 }, |js| {
            assert_eq!(js.loan(1, 0, 4).unwrap_err(), OUTSIDE_PROCESS);
            assert_eq!(
                js.send(1, 0, FrameHeader::default()).unwrap_err(),
                OUTSIDE_PROCESS
            );
            assert!(js.event_frame(0).is_err());
            js.done(Ok(())).unwrap();
        });
        assert_eq!(result, Ok(()));
    }

    fn frame_event(header: FrameHeader) -> Event {
        Event::Process {
            processor: 1,
            frames: vec![FrameRef {
                port: 2,
                header,
                data: DataPtr(8 as *mut u8),
                len: 16,
            }],
        }
    }

    #[test]
    fn a_frame_event_is_readable_until_done() {
        let header = FrameHeader {
            seq: 7,
            width: 2,
            ..Default::default()
        };
        let result = serve_once(frame_event(header), move |js| {
            let info = js.event_frame(0).unwrap();
            assert_eq!(
                (info.processor, info.port, info.len, info.frames),
                (1, 2, 16, 1)
            );
            assert!(js.event_frame(1).is_err(), "one frame only");
            assert_eq!(info.header, header);
            assert_eq!(js.frame_memory(0).unwrap(), (DataPtr(8 as *mut u8), 16));
            // The runtime lent no outputs for this call: they are refused.
            assert_eq!(js.loan(1, 0, 4).unwrap_err(), OUTSIDE_PROCESS);
            assert_eq!(js.loan(0, 0, 4).unwrap_err(), OUTSIDE_PROCESS);
            assert!(js.loan_memory(1, 0).is_err());
            js.done(Ok(())).unwrap();
            assert!(js.event_frame(0).is_err(), "the frame is gone after done()");
            assert!(js.frame_memory(0).is_err());
        });
        assert_eq!(result, Ok(()));
    }

    /// Output ports over heap memory that record which thread used them.
    #[derive(Default)]
    struct FakePorts {
        buffers: Vec<Vec<u8>>,
        sent: Vec<(usize, u64)>,
        users: Vec<std::thread::ThreadId>,
    }

    impl Ports for FakePorts {
        fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError> {
            self.users.push(std::thread::current().id());
            if port > 1 {
                return Err(OutputError::NoSuchPort(port));
            }
            self.buffers.push(vec![0; len]);
            Ok(self.buffers.last_mut().unwrap())
        }

        fn send(&mut self, port: usize, header: &FrameHeader) -> Result<bool, OutputError> {
            self.users.push(std::thread::current().id());
            self.sent.push((port, header.seq));
            Ok(true)
        }
    }

    #[test]
    fn the_javascript_thread_uses_the_lent_outputs_and_tracks_loans_per_port() {
        let (runtime, js) = pair();
        let player = std::thread::spawn(move || {
            assert_eq!(js.next().unwrap(), EVENT_PROCESS);
            let first = js.loan(1, 0, 4).unwrap();
            assert_eq!(first.1, 4);
            assert_eq!(js.loan_memory(1, 0).unwrap(), first);
            let second = js.loan(1, 0, 8).unwrap();
            assert_eq!(js.loan_memory(1, 0).unwrap(), second, "a new loan replaces");
            js.loan(1, 1, 2).unwrap();
            assert_eq!(js.loan(1, 5, 2).unwrap_err(), "no output port with index 5");
            let header = FrameHeader {
                seq: 9,
                ..Default::default()
            };
            js.send(1, 0, header).unwrap();
            assert!(js.loan_memory(1, 0).is_err(), "sent");
            assert!(js.loan_memory(1, 1).is_ok());
            js.done(Ok(())).unwrap();
            assert!(js.loan_memory(1, 1).is_err(), "the call ended");
            assert_eq!(js.loan(1, 1, 2).unwrap_err(), OUTSIDE_PROCESS);
            std::thread::current().id()
        });
        let mut ports = FakePorts::default();
        let event = frame_event(FrameHeader::default());
        assert_eq!(runtime.call(event, Some(&mut ports)), Ok(()));
        let js_thread = player.join().unwrap();
        assert_eq!(ports.sent, [(0, 9)]);
        assert_eq!(ports.buffers.len(), 3);
        assert_eq!(ports.users.len(), 5);
        assert!(ports.users.iter().all(|&user| user == js_thread));
        assert!(lock(&runtime.state).lent.is_none(), "taken back");
    }

    #[test]
    fn outputs_are_taken_back_when_javascript_vanishes_mid_call() {
        let (runtime, js) = pair();
        let player = std::thread::spawn(move || {
            assert_eq!(js.next().unwrap(), EVENT_PROCESS);
            js.loan(1, 0, 4).unwrap();
            // Dropped without done().
        });
        let mut ports = FakePorts::default();
        let event = frame_event(FrameHeader::default());
        assert_eq!(runtime.call(event, Some(&mut ports)), Err(HOST_GONE.into()));
        player.join().unwrap();
        assert_eq!(ports.buffers.len(), 1);
        assert!(lock(&runtime.state).lent.is_none());
    }

    #[test]
    fn a_vanished_side_is_an_error_not_a_hang() {
        let (runtime, js) = pair();
        drop(js);
        let err = runtime.call(Event::Teardown { processor: 0 }, None);
        assert_eq!(err, Err(HOST_GONE.into()));
        let (runtime, js) = pair();
        drop(runtime);
        assert!(js.next().unwrap_err().contains(LIFECYCLE_GONE));
    }
}
