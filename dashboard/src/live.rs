//! `WS /api/live`: the page's live feed, server to client, as JSON text
//! messages: `hello` first, then the events so far, then the status once
//! a second, each event as it comes, and `runtime` when the runtime shown
//! ends or another is picked up.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::watch::Watched;

pub async fn live(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(app, socket))
}

/// `{"kind": "runtime", "runtime": id|null, "others": [ids]}`, or `hello`.
fn runtime_message(kind: &str, watched: &Watched) -> Value {
    let others = match watched {
        Watched::Live(f) | Watched::Ended(f) => f.others.clone(),
        Watched::Waiting => Vec::new(),
    };
    json!({ "kind": kind, "runtime": watched.id(), "others": others })
}

async fn session(app: App, mut socket: WebSocket) {
    let mut watched = app.watch.watched.clone();
    let mut status = app.watch.status.clone();
    let mut closing = app.closing.subscribe();
    // Subscribed before the history is read, so no event falls between.
    let mut events = app.watch.events.subscribe();
    let mut hello = runtime_message("hello", &watched.borrow_and_update());
    hello["token_required"] = app.security.token_required().into();
    let history: Vec<Arc<Value>> = {
        let history = app.watch.history.lock().expect("not poisoned");
        history.events.iter().cloned().collect()
    };
    // Events are sent once each, in order: the live ones the history had
    // already are skipped.
    let mut next_seq = history
        .last()
        .and_then(|e| e["seq"].as_u64())
        .map_or(0, |s| s + 1);
    let mut outgoing = vec![hello];
    outgoing.extend(
        history
            .iter()
            .map(|e| json!({"kind": "event", "event": **e})),
    );
    if let Some(now) = status.borrow_and_update().clone() {
        outgoing.push(json!({"kind": "status", "status": *now}));
    }
    for message in outgoing {
        if send(&mut socket, &message).await.is_err() {
            return;
        }
    }
    loop {
        let message = tokio::select! {
            // A new runtime is told before its first event.
            biased;
            _ = closing.changed() => return,
            changed = watched.changed() => {
                if changed.is_err() {
                    return;
                }
                next_seq = 0;
                runtime_message("runtime", &watched.borrow_and_update())
            }
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                match status.borrow_and_update().clone() {
                    Some(now) => json!({"kind": "status", "status": *now}),
                    None => continue,
                }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    let seq = event["seq"].as_u64().unwrap_or(0);
                    if seq < next_seq {
                        continue;
                    }
                    next_seq = seq + 1;
                    json!({"kind": "event", "event": *event})
                }
                // A page too slow for the events misses some; it goes on.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
        };
        if send(&mut socket, &message).await.is_err() {
            return;
        }
    }
}

async fn send(socket: &mut WebSocket, message: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(message.to_string().into())).await
}
