//! Ingestion of the cloud vital-sign streams: decoding records
//! (`observation`), the ECG block codec (`codec`), and the runtime that runs
//! sources into the store (`pipeline`, `source`).

pub mod codec;
pub mod observation;
pub mod pipeline;
pub mod source;
