//! The framing of a Server-Sent Events stream (WHATWG HTML, "Server-sent
//! events", §9.2.6 "Interpreting an event stream"): lines ended by CR, LF
//! or CRLF; `data:` lines joined by LF; `id:` carried over to later events
//! (an id holding NUL is ignored); `event:` names the event's type, for
//! that event only; comments and other fields skipped; an event dispatched
//! by a blank line. Pure and incremental, so the runtime
//! feeds it network chunks as they come and the fuzzer feeds it anything.
//! Bounded: an event that outgrows [`MAX_EVENT_BYTES`] is dropped up to its
//! end and handed on by its head, so the caller quarantines it.

/// Incremental event-stream parser.
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    id: Option<String>,
    /// The `event:` field of the event being read.
    kind: Option<String>,
    last_was_cr: bool,
    /// The current event outgrew `MAX_EVENT_BYTES`: dropped up to its end.
    discarding: bool,
    /// The line being dropped has not ended yet.
    discarding_line: bool,
    /// The head of the event being dropped, and its size so far.
    dropped_head: Vec<u8>,
    dropped_len: usize,
    /// Events dropped for their size.
    pub oversized: u64,
}

/// One event as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The last event id (WHATWG: it carries over to later events).
    pub id: Option<String>,
    /// Its type (`event:`), when the stream named one: a record's event
    /// names none (the standard's "message"); a gateway's notice of
    /// records it no longer holds is [`GAP_EVENT`].
    pub kind: Option<String>,
    pub data: Vec<u8>,
    /// The event outgrew `MAX_EVENT_BYTES`: `data` is its first
    /// `OVERSIZED_HEAD` bytes and this its size when dropping stopped.
    pub oversized: Option<usize>,
}

/// No vital-sign record comes near this (a 10-second 12-lead ECG block is
/// about 200 KB as JSON); a gateway that never sends a line end must not
/// exhaust memory. Bigger events are quarantined by their head.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Bytes of an oversized event kept for the quarantine.
pub const OVERSIZED_HEAD: usize = 4 << 10;

/// The type of a gateway's notice that records a client asked for are gone
/// (`docs/wire-format.md`, "Server-Sent Events"): its data is [`Gap`].
pub const GAP_EVENT: &str = "gap";

/// What a [`GAP_EVENT`] says: the sequences `first..=last` will never be
/// sent (a gateway's replay buffer no longer holds them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub first: u64,
    pub last: u64,
}

impl Gap {
    /// Parses a gap event's data: `{"first":F,"last":L}`, `F <= L`.
    pub fn parse(data: &[u8]) -> Option<Gap> {
        serde_json::from_slice::<Gap>(data)
            .ok()
            .filter(|g| g.first <= g.last)
    }

    /// Records lost.
    pub fn records(&self) -> u64 {
        self.last - self.first + 1
    }
}

impl EventParser {
    /// Feeds bytes; returns the complete events.
    ///
    /// Scans for line ends and copies the text between them whole: byte by
    /// byte, with a fresh line buffer for every line, this was 4.5 % of
    /// `serve`'s samples under `bench/scale.sh 2000 60` (every ECG record
    /// is one long `data:` line).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(&first) = rest.first() {
            if self.last_was_cr && first == b'\n' {
                self.last_was_cr = false;
                rest = &rest[1..];
                continue; // CRLF: the CR already ended the line
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(0) => {
                    self.last_was_cr = first == b'\r';
                    let mut line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        out.push(event);
                    }
                    // The buffer is kept for the next line.
                    line.clear();
                    self.line = line;
                    rest = &rest[1..];
                }
                end => {
                    let end = end.unwrap_or(rest.len());
                    self.last_was_cr = false;
                    self.text(&rest[..end]);
                    rest = &rest[end..];
                }
            }
        }
        out
    }

    /// Text within a line (no line end in it).
    fn text(&mut self, text: &[u8]) {
        if self.discarding {
            self.dropped_len += text.len();
            return;
        }
        // Bytes that fit: the one after them takes the event past the limit.
        let room = MAX_EVENT_BYTES.saturating_sub(self.line.len() + self.data.len());
        if text.len() <= room {
            self.line.extend_from_slice(text);
            return;
        }
        self.line.extend_from_slice(&text[..=room]);
        self.discarding = true;
        self.discarding_line = true;
        self.oversized += 1;
        let mut head = std::mem::take(&mut self.data);
        head.extend_from_slice(&self.line);
        self.dropped_len = head.len() + (text.len() - room - 1);
        head.truncate(OVERSIZED_HEAD);
        self.dropped_head = head;
        self.line = Vec::new();
        self.has_data = false;
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Event> {
        if self.discarding {
            // Drop everything up to the blank line that ends the event (the
            // first line end only ends the oversized line itself), then
            // hand its head on: a dropped record is counted, never silent.
            if self.discarding_line {
                self.discarding_line = false;
            } else if line.is_empty() {
                self.discarding = false;
                return Some(Event {
                    id: self.id.clone(),
                    kind: self.kind.take(),
                    data: std::mem::take(&mut self.dropped_head),
                    oversized: Some(std::mem::take(&mut self.dropped_len)),
                });
            }
            return None;
        }
        if line.is_empty() {
            // The type is the event's own, dispatched or not (WHATWG).
            let kind = self.kind.take();
            if !self.has_data {
                return None;
            }
            self.has_data = false;
            return Some(Event {
                id: self.id.clone(),
                kind,
                data: std::mem::take(&mut self.data),
                oversized: None,
            });
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned())
            }
            b"event" => self.kind = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks_with_comments_and_crlf() {
        let mut p = EventParser::default();
        let mut events = p.feed(b": keepalive\n\nid: 1\ndata: {\"a\"");
        assert!(events.is_empty());
        events.extend(p.feed(b":1}\r\n\r\nid:2\r\ndata: x\r\ndata: y\r\n\r\n"));
        assert_eq!(
            events,
            vec![ev(Some("1"), b"{\"a\":1}"), ev(Some("2"), b"x\ny")]
        );
    }

    fn ev(id: Option<&str>, data: &[u8]) -> Event {
        Event {
            id: id.map(str::to_owned),
            kind: None,
            data: data.to_vec(),
            oversized: None,
        }
    }

    /// A gateway's notice of records it no longer holds is told apart from
    /// the records around it: the type belongs to its own event only.
    #[test]
    fn an_event_type_names_that_event_only() {
        let mut p = EventParser::default();
        let events = p.feed(b"id: 3\ndata: r\n\nevent: gap\nid: 9\ndata: {\"first\":4,\"last\":9}\n\nid: 10\ndata: s\n\nevent: gap\n\nid: 11\ndata: t\n\n");
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_deref()).collect();
        assert_eq!(kinds, [None, Some(GAP_EVENT), None, None]);
        let gap = Gap::parse(&events[1].data).expect("a gap");
        assert_eq!((gap, gap.records()), (Gap { first: 4, last: 9 }, 6));
        assert_eq!(events[1].id.as_deref(), Some("9"));
        for bad in [
            &b"{\"first\":9,\"last\":4}"[..],
            b"{\"first\":1}",
            b"4-9",
            b"{\"first\":-1,\"last\":2}",
        ] {
            assert_eq!(Gap::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// Issue 9, item 6: an oversized event vanished without a quarantine
    /// entry, log or counter. Now its head comes out, marked, with its size.
    #[test]
    fn an_endless_event_is_dropped_not_buffered_and_handed_on_by_its_head() {
        let mut p = EventParser::default();
        let huge = vec![b'x'; MAX_EVENT_BYTES + 10];
        assert!(p.feed(b"id: 1\ndata: ").is_empty());
        assert!(p.feed(&huge).is_empty());
        let events = p.feed(b"\ndata: more of it\n\nid: 2\ndata: ok\n\n");
        assert_eq!(
            events.len(),
            2,
            "{:?}",
            events.iter().map(|e| e.oversized).collect::<Vec<_>>()
        );
        assert_eq!(events[0].id.as_deref(), Some("1"));
        assert_eq!(events[0].data.len(), OVERSIZED_HEAD);
        assert!(events[0].oversized.is_some_and(|n| n > MAX_EVENT_BYTES));
        assert_eq!(events[1], ev(Some("2"), b"ok"));
        assert_eq!(p.oversized, 1);
    }

    /// The parser as it was, a byte at a time: the model `feed` must
    /// agree with.
    fn byte_at_a_time(p: &mut EventParser, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in bytes {
            if p.last_was_cr && b == b'\n' {
                p.last_was_cr = false;
                continue;
            }
            p.last_was_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut p.line);
                out.extend(p.line_done(&line));
            } else if p.discarding {
                p.dropped_len += 1;
            } else {
                p.line.push(b);
                if p.line.len() + p.data.len() > MAX_EVENT_BYTES {
                    p.discarding = true;
                    p.discarding_line = true;
                    p.oversized += 1;
                    let mut head = std::mem::take(&mut p.data);
                    head.extend_from_slice(&p.line);
                    p.dropped_len = head.len();
                    head.truncate(OVERSIZED_HEAD);
                    p.dropped_head = head;
                    p.line = Vec::new();
                    p.has_data = false;
                }
            }
        }
        out
    }

    #[test]
    fn chunked_scanning_gives_what_reading_byte_by_byte_gave() {
        let mut next = crate::ingest::xorshift(0x9e37_79b9_7f4a_7c15);
        let pieces: [&[u8]; 10] = [
            b"\n",
            b"\r",
            b"\r\n",
            b"data: ",
            b"data:x",
            b"id: 4",
            b": c",
            b"{\"a\":1}",
            b"id",
            b":",
        ];
        for round in 0..200 {
            let mut stream = Vec::new();
            for _ in 0..next(60) {
                stream.extend_from_slice(pieces[next(pieces.len())]);
            }
            if round % 20 == 0 {
                // An event past the limit, ended or not, in the middle.
                stream.extend_from_slice(b"data: ");
                stream.resize(stream.len() + MAX_EVENT_BYTES + next(3), b'7');
                stream.extend_from_slice(pieces[next(3)]);
                stream.extend_from_slice(b"tail\r\n\ndata: after\n\n");
            }
            let (mut a, mut b) = (EventParser::default(), EventParser::default());
            let mut got = Vec::new();
            let mut want = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let n = (1 + next(64)).min(rest.len());
                got.extend(a.feed(&rest[..n]));
                want.extend(byte_at_a_time(&mut b, &rest[..n]));
                rest = &rest[n..];
            }
            assert_eq!(got, want, "round {round}");
            assert_eq!(
                (
                    a.oversized,
                    a.dropped_len,
                    a.line.as_slice(),
                    a.data.as_slice()
                ),
                (
                    b.oversized,
                    b.dropped_len,
                    b.line.as_slice(),
                    b.data.as_slice()
                ),
                "round {round}"
            );
        }
    }

    #[test]
    fn a_blank_event_does_not_dispatch_and_id_persists() {
        let mut p = EventParser::default();
        let events = p.feed(b"id: 7\n\ndata: z\n\n");
        assert_eq!(events, vec![ev(Some("7"), b"z")]);
    }
}
