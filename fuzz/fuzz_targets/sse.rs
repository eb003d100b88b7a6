//! The SSE framing parser, fed the same bytes whole and in pieces: it must
//! not panic, must bound every event, and must find the same events however
//! the network splits the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::ingest::sse::{EventParser, MAX_EVENT_BYTES, OVERSIZED_HEAD};

fuzz_target!(|input: &[u8]| {
    let Some((&split, bytes)) = input.split_first() else {
        return;
    };
    let mut whole = EventParser::default();
    let all = whole.feed(bytes);
    let mut pieces = EventParser::default();
    let step = usize::from(split).max(1);
    let mut split_events = Vec::new();
    for chunk in bytes.chunks(step) {
        split_events.extend(pieces.feed(chunk));
    }
    assert_eq!(all, split_events, "chunking changed the events");
    for e in &all {
        match e.oversized {
            Some(n) => assert!(e.data.len() <= OVERSIZED_HEAD && n > MAX_EVENT_BYTES),
            None => assert!(e.data.len() <= MAX_EVENT_BYTES),
        }
    }
});
