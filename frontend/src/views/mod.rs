//! The views: small function components that take slices of the world as
//! props and send commands up through callbacks. None of them owns business
//! state.

mod code_listing;
mod comparison;
mod counters;
mod event_log;
mod help;
mod lab_panel;
mod lanes;
mod lesson_panel;
mod loop_cycle;
mod measured;
mod no_relay;
mod number_field;
mod selector_table;
mod shutdown_control;
pub mod sim_controls;
mod status;
pub mod timeline;
pub mod windowing;

pub use code_listing::CodeListing;
pub use comparison::Comparison;
pub use counters::CountersView;
pub use event_log::EventLog;
pub use help::HelpOverlay;
pub use lab_panel::LabPanel;
pub use lanes::{SharedWorld, TaskLanes};
pub use lesson_panel::{LessonAction, LessonPanel, RunState};
pub use loop_cycle::LoopCycle;
pub use no_relay::NoRelayNotice;
pub use selector_table::SelectorTable;
pub use shutdown_control::ShutdownControl;
pub use sim_controls::{SimAction, SimControls};
pub use status::StatusBadge;
pub use timeline::{TimeAction, Timeline};
