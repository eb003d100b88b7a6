//! Ingestion of the cloud vital-sign streams, the synchronous half: decoding
//! records (`observation`), the ECG block codec (`codec`) and the configured
//! sources (`source`). The runtime that reads the streams into the store is
//! `wardwatch-runtime`.

pub mod cleaned;
pub mod codec;
pub mod observation;
pub mod source;
pub mod sse;

/// A small seeded generator for the tests that feed the decoders generated
/// input (xorshift64): `next(n)` is in `0..n`.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
