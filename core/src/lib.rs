//! Wardwatch's domain logic, shared by the desktop shell (`wardwatch`) and the
//! headless tool (`wardwatchctl`).
//!
//! The crate holds the data model, the local clinical store (SQLite), the import
//! of the hospital's patient registry, the demo ward and the API layer that both
//! front ends call. It never depends on `tauri` or webkit: the test command checks
//! that with `cargo tree`.

pub mod alarms;
pub mod analysis;
pub mod api;
pub mod auth;
pub mod clock;
pub mod demo;
pub mod directory;
pub mod error;
pub mod import;
pub mod ingest;
pub mod messages;
pub mod model;
pub mod settings;
pub mod store;
pub mod text;

pub use error::{Error, ErrorKind, Result};
