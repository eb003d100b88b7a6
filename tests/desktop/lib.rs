//! The desktop end-to-end tests live in `main.rs` (the `desktop` test);
//! this crate has no library code.
