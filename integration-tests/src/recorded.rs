//! A recording's frames as tests check them: each message decoded with its
//! channel's layout, with the topic it was recorded under, read through
//! plexus's own reader (`recording`) so that every test reads one way.

use std::path::Path;

use ipc_schemas::FrameHeader;
use recording::{Channels, Record, Recording};

/// Calls `frame` with the topic, header and payload of every frame message
/// in `file`, in file order; panics on a file or message the reader refuses.
pub fn each_frame(file: &Path, mut frame: impl FnMut(&str, FrameHeader, &[u8])) {
    let mut channels = Channels::default();
    Recording::open(file)
        .unwrap()
        .records(|record| {
            channels.book(&record);
            let Record::Message { header, data } = record else {
                return true;
            };
            let channel = channels.get(header.channel_id).unwrap();
            let (decoded, payload) =
                ipc_schemas::recording::decode(channel.layout.unwrap(), &data).unwrap();
            frame(&channel.topic, decoded, payload);
            true
        })
        .unwrap();
}
