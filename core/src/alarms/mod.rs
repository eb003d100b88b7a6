//! The alarm engine: `conditions` detects condition episodes (pure);
//! `book` turns them into stored alarms with acknowledgement, latching,
//! reminders and escalation, and says which notifications to send. The stage
//! that runs them live on the runtime's writer thread is `wardwatch-runtime`.

pub mod book;
pub mod conditions;

pub use book::{AlarmView, Annotation, LimitEdit, LimitView, Notice, NoticeKind};
pub use conditions::{ConditionEvent, ConditionTracker, Input, Priority, Rules};
