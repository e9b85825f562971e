//! The views: small function components that take slices of the world as
//! props and send commands up through callbacks. None of them owns business
//! state.

mod connections;
mod counters;
mod event_log;
mod lab_panel;
mod no_relay;
mod status;

pub use connections::ConnectionsTable;
pub use counters::CountersView;
pub use event_log::EventLog;
pub use lab_panel::LabPanel;
pub use no_relay::NoRelayNotice;
pub use status::StatusBadge;
