//! Ingestion of the cloud vital-sign streams, the synchronous half: decoding
//! records (`observation`), the ECG block codec (`codec`) and the configured
//! sources (`source`). The runtime that reads the streams into the store is
//! `wardwatch-runtime`.

pub mod cleaned;
pub mod codec;
pub mod observation;
pub mod source;
pub mod sse;
