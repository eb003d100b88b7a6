//! The alarm engine: `conditions` detects condition episodes (pure);
//! `book` turns them into stored alarms with acknowledgement, latching,
//! reminders and escalation, and says which notifications to send.

pub mod conditions;

pub use conditions::{ConditionEvent, ConditionTracker, Input, Priority, Rules};
