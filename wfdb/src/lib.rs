//! Reader for PhysioNet WFDB records, written from the published format
//! specifications (`header(5)`, `signal(5)`, `annot(5)`).
//!
//! It covers what Wardwatch replays and tests against: headers (single- and
//! multi-segment), signal formats 212, 16 and 80 (also inside a `.mat`
//! container through the header's byte offset), the "invalid sample" sentinel,
//! header checksums, and MIT-format annotation files.
//!
//! ```no_run
//! # fn main() -> wardwatch_wfdb::Result<()> {
//! let record = wardwatch_wfdb::Record::open("mitdb/100.hea")?;
//! let mlii = record.signal_index("MLII").unwrap_or(0);
//! let mv = record.physical(mlii)?; // NaN where a sample is missing
//! let beats = wardwatch_wfdb::read_annotations("mitdb/100.atr")?
//!     .into_iter()
//!     .filter(|a| a.is_beat())
//!     .count();
//! # let _ = (mv, beats); Ok(()) }
//! ```

mod annotation;
mod error;
mod header;
mod record;
mod signal;

pub use annotation::{Annotation, is_beat, parse_annotations, read_annotations, symbol_for_code};
pub use error::{Error, ErrorKind, Result};
pub use header::{DEFAULT_FS_HZ, DEFAULT_GAIN, Header, SegmentSpec, SignalSpec};
pub use record::{Gap, GapCause, MultiRecord, Record, Segment, SegmentContent, to_physical};
pub use signal::{Format, checksum};
