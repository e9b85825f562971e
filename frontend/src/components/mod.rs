//! The views: small function components that take slices of the world as
//! props and send commands up through callbacks. None of them owns business
//! state.

mod code_listing;
mod connections;
mod counters;
mod event_log;
mod lab_panel;
mod no_relay;
pub mod sim_controls;
mod status;

pub use code_listing::CodeListing;
pub use connections::ConnectionsTable;
pub use counters::CountersView;
pub use event_log::EventLog;
pub use lab_panel::LabPanel;
pub use no_relay::NoRelayNotice;
pub use sim_controls::{SimAction, SimControls};
pub use status::StatusBadge;
