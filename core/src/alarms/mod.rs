//! The alarm engine: `conditions` detects condition episodes (pure);
//! `book` turns them into stored alarms with acknowledgement, latching,
//! reminders and escalation, and says which notifications to send.

pub mod book;
pub mod conditions;
pub mod stage;

pub use book::{AlarmView, Annotation, Notice, NoticeKind};
pub use conditions::{ConditionEvent, ConditionTracker, Input, Priority, Rules};
